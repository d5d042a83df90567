//! `shard_listener`: the weighted forward action of a shared ALB listener (or one of its rules),
//! with each target group's weight and target health.

use crate::clients::arn::{self, ArnKind, ElbArn};
use crate::clients::elbv2::{self, ActionOwner, Forward};
use crate::framework::resource::{decode, encode};
use crate::framework::schema::{Attribute, Nesting};
use crate::framework::{Attr, AttrPath, Ctx, DataSource, Diagnostics, Schema, ValidateRequest};
use crate::protocol::value::Value;
use crate::provider::ShardData;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub struct ListenerDataSource;

#[derive(Debug, Deserialize)]
struct Config {
    listener_arn: Attr<String>,
    rule_arn: Attr<String>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ListenerState {
    pub listener_arn: String,
    pub rule_arn: Option<String>,
    pub target_groups: Vec<TargetGroupState>,
    pub total_weight: i64,
    pub stickiness: StickinessState,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct TargetGroupState {
    pub arn: String,
    pub weight: i64,
    pub healthy_targets: i64,
    pub unhealthy_targets: i64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct StickinessState {
    pub enabled: bool,
    pub duration_seconds: Option<i64>,
}

/// Checks that a rule belongs to the listener (both known). Shared with `shard_weight`.
pub fn check_rule_belongs(listener_arn: &str, rule_arn: &str) -> Result<(), String> {
    let rule = ElbArn::parse(rule_arn, ArnKind::ListenerRule)?;
    match rule.listener_of_rule() {
        Some(owner) if owner == listener_arn => Ok(()),
        Some(owner) => Err(format!("rule {rule_arn} belongs to listener {owner}, not to {listener_arn}")),
        None => Err(format!("{rule_arn} is not a listener rule ARN")),
    }
}

/// The state for a forward action, health counts given per target group in action order.
pub fn state_of(
    listener_arn: String,
    rule_arn: Option<String>,
    forward: &Forward,
    health: &[elbv2::HealthCounts],
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
                    .description("ARN of the shared listener."),
                Attribute::string("rule_arn")
                    .optional()
                    .validate(arn::validate(ArnKind::ListenerRule))
                    .description("A rule of that listener: read its forward action instead of the default action."),
                Attribute::nested(
                    "target_groups",
                    Nesting::List,
                    vec![
                        Attribute::string("arn").computed().description("Target group ARN."),
                        Attribute::number("weight").computed().description("Weight in the forward action (0..999)."),
                        Attribute::number("healthy_targets").computed().description("Targets passing health checks."),
                        Attribute::number("unhealthy_targets")
                            .computed()
                            .description("Registered targets not (yet) healthy; draining targets are not counted."),
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
                        Attribute::number("duration_seconds").computed().description("Stickiness duration, if set."),
                    ],
                )
                .computed()
                .description("Target-group stickiness of the forward action."),
            ],
        )
    }

    async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
        let mut d = Diagnostics::new();
        if let (Some(l), Some(r)) = (req.config.get("listener_arn").as_str(), req.config.get("rule_arn").as_str())
            && ElbArn::parse(l, ArnKind::Listener).is_ok()
            && ElbArn::parse(r, ArnKind::ListenerRule).is_ok()
            && let Err(e) = check_rule_belongs(l, r)
        {
            d.attr_error(AttrPath::attr("rule_arn"), "Rule of another listener", e);
        }
        d
    }

    async fn read(&self, ctx: &Ctx<ShardData>, config: Value) -> Result<Value, Diagnostics> {
        let c: Config = decode("shard_listener configuration", &config)?;
        let listener_arn = crate::framework::resource::require_known(&c.listener_arn, "listener_arn")?.clone();
        let rule_arn = c.rule_arn.known().cloned();
        let owner = match &rule_arn {
            Some(r) => ActionOwner::Rule(r.clone()),
            None => ActionOwner::Listener(listener_arn.clone()),
        };
        let actions = elbv2::read_actions(&ctx.data.aws, &owner).await?;
        let forward = elbv2::find_forward(&actions, &owner).map_err(|e| {
            let mut d = Diagnostics::new();
            d.attr_error(
                AttrPath::attr(if rule_arn.is_some() { "rule_arn" } else { "listener_arn" }),
                "Not a forward action",
                e,
            );
            d
        })?;
        let health = futures::future::try_join_all(
            forward.target_groups.iter().map(|t| elbv2::target_health(&ctx.data.aws, &t.arn)),
        )
        .await?;
        encode(&state_of(listener_arn, rule_arn, &forward, &health))
    }
}
