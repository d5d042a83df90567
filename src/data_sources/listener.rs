//! `shard_listener`: the weighted forward action of a shared ALB listener (or one of its rules),
//! with each target group's weight and target health.

use crate::clients::ShardData;
use crate::clients::arn::{self, ArnKind};
use crate::clients::elbv2::{self, ElbError};
use crate::clients::forward::{ActionOwner, Forward, HealthCounts, share_percent, share_text};
use crate::framework::schema::{Attribute, Nesting};
use crate::framework::{AttrPath, Ctx, DataSource, Diagnostics, Schema, ValidateRequest};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub struct ListenerDataSource;

#[derive(Debug, Deserialize)]
pub struct Config {
    listener_arn: String,
    rule_arn: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ListenerState {
    pub listener_arn: String,
    pub rule_arn: Option<String>,
    pub target_groups: Vec<TargetGroupState>,
    pub total_weight: i64,
    pub stickiness: StickinessState,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct TargetGroupState {
    pub arn: String,
    pub weight: i64,
    pub traffic_share: String,
    pub healthy_targets: i64,
    pub unhealthy_targets: i64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct StickinessState {
    pub enabled: bool,
    pub duration_seconds: Option<i64>,
}

/// The state for a forward action, health counts given per target group in action order.
pub fn state_of(
    listener_arn: String,
    rule_arn: Option<String>,
    forward: &Forward,
    health: &[HealthCounts],
) -> ListenerState {
    ListenerState {
        listener_arn,
        rule_arn,
        target_groups: forward
            .target_groups
            .iter()
            .zip(health)
            .map(|(t, h)| TargetGroupState {
                arn: t.arn.clone(),
                weight: i64::from(t.weight),
                traffic_share: share_text(share_percent(forward, &t.arn, i64::from(t.weight))),
                healthy_targets: h.healthy,
                unhealthy_targets: h.unhealthy,
            })
            .collect(),
        total_weight: forward.total_weight(),
        stickiness: match &forward.stickiness {
            Some(s) => StickinessState { enabled: s.enabled, duration_seconds: s.duration_seconds.map(i64::from) },
            None => StickinessState { enabled: false, duration_seconds: None },
        },
    }
}

#[async_trait]
impl DataSource<ShardData> for ListenerDataSource {
    type Config = Config;
    type State = ListenerState;

    fn name(&self) -> &'static str {
        "listener"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "Reads the weighted `forward` action of a shared ALB listener (or of one listener rule): \
             each shard's target group with its weight and target health.",
            vec![
                Attribute::string("listener_arn")
                    .required()
                    .validate(arn::validate(ArnKind::Listener))
                    .description("ARN of the shared listener. A malformed ARN, or the ARN of another kind of object, is an error at plan time."),
                Attribute::string("rule_arn")
                    .optional()
                    .validate(arn::validate(ArnKind::ListenerRule))
                    .description("A rule of that listener: read its forward action instead of the default action. A rule of another listener is an error at plan time."),
                Attribute::nested(
                    "target_groups",
                    Nesting::List,
                    vec![
                        Attribute::string("arn").computed().description("Target group ARN."),
                        Attribute::number("weight").computed().description("Weight in the forward action (0..999)."),
                        Attribute::string("traffic_share").computed().description("Its share of the action's traffic (weight over the sum of all weights), e.g. `33.3%`, as `shard_weight.traffic_share` shows it."),
                        Attribute::number("healthy_targets").computed().description("Targets passing health checks."),
                        Attribute::number("unhealthy_targets")
                            .computed()
                            .description("Registered targets that are not healthy (`initial`, `unhealthy`, `unused`, `unavailable`). Draining targets are counted in neither."),
                    ],
                )
                .computed()
                .description("Target groups of the forward action, in action order."),
                Attribute::number("total_weight")
                    .computed()
                    .description("Sum of all weights; 0 means no traffic is served."),
                Attribute::nested(
                    "stickiness",
                    Nesting::Single,
                    vec![
                        Attribute::bool("enabled").computed().description("Whether target-group stickiness is on."),
                        Attribute::number("duration_seconds").computed().description("Stickiness duration; null when unset."),
                    ],
                )
                .computed()
                .description("Target-group stickiness of the forward action."),
            ],
        )
    }

    async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
        arn::validate_listener_and_rule(&req.config)
    }

    async fn read(&self, ctx: &Ctx<ShardData>, c: Config) -> Result<ListenerState, Diagnostics> {
        let owner = match &c.rule_arn {
            Some(r) => ActionOwner::Rule(r.clone()),
            None => ActionOwner::Listener(c.listener_arn.clone()),
        };
        let path = AttrPath::attr(if c.rule_arn.is_some() { "rule_arn" } else { "listener_arn" });
        let (_, forward) = elbv2::read_forward(&ctx.data.aws, &owner).await.map_err(|e| match e {
            ElbError::NotForward(why) => Diagnostics::attr_error(path.clone(), "Not a forward action", why),
            ElbError::NotFound { .. } => Diagnostics::attr_error(path.clone(), "Not found", e.to_string()),
            other => other.into(),
        })?;
        let health = futures::future::try_join_all(
            forward.target_groups.iter().map(|t| elbv2::target_health(&ctx.data.aws, &t.arn)),
        )
        .await?;
        Ok(state_of(c.listener_arn, c.rule_arn, &forward, &health))
    }
}
