//! `shard_drain` and `shard_restore`: this shard's weight changed now, from an `action` block
//! (`terraform apply -invoke=action.shard_drain.NAME`), with the same lock, fleet guard, drain
//! delay, health gate, ramp and metric guard as a `shard_weight` change — and without a plan of
//! anything else, so a drain works while another resource's refresh fails (a sick hub or shard).
//!
//! An action changes the listener, not state: the next plan of the `shard_weight` that owns the
//! entry shows the difference (e.g. `weight 0 -> 100` after a drain); set its `weight` to what
//! the action did, or apply to put it back.

use super::{
    FleetGuardModel, MetricGuardModel, Model, Ramp, converge, elb_diag, fleet_guard_block, metric_guard_block,
    plan_fleet_guard, ramp_block,
};
use crate::clients::ShardData;
use crate::clients::arn::{self, ArnKind};
use crate::clients::elbv2::{self, ElbError};
use crate::clients::fleet;
use crate::clients::forward::{EntryChange, edit_entries};
use crate::framework::schema::{Attribute, validators};
use crate::framework::timeouts::{format_duration, parse_duration};
use crate::framework::{Action, Ctx, Diagnostics, Schema, ValidateRequest};
use async_trait::async_trait;
use serde::Deserialize;
use std::time::Duration;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The entry both actions address.
fn entry_attributes() -> Vec<Attribute> {
    vec![
        Attribute::string("listener_arn")
            .required()
            .validate(arn::validate_alb_listener())
            .description("ARN of the shared listener."),
        Attribute::string("rule_arn").optional().validate(arn::validate(ArnKind::ListenerRule)).description(
            "The listener rule whose forward action holds the entry (default: the listener's default action).",
        ),
        Attribute::string("target_group_arn")
            .required()
            .validate(arn::validate(ArnKind::TargetGroup))
            .description("This shard's target group; it must be in the action already."),
        Attribute::string("timeout")
            .optional()
            .validate(validators::positive_duration())
            .description("How long the action may take, waits included. Default: `30m`."),
    ]
}

#[derive(Debug, Deserialize)]
pub struct DrainConfig {
    listener_arn: String,
    rule_arn: Option<String>,
    target_group_arn: String,
    drain_delay: Option<String>,
    allow_total_outage: Option<bool>,
    fleet_guard: Option<FleetGuardModel>,
}

#[derive(Debug, Deserialize)]
pub struct RestoreConfig {
    listener_arn: String,
    rule_arn: Option<String>,
    target_group_arn: String,
    weight: i64,
    min_healthy_targets: Option<i64>,
    ramp: Option<Ramp>,
    metric_guard: Option<MetricGuardModel>,
}

impl DrainConfig {
    fn model(&self) -> Model {
        let mut m = Model::unread(self.listener_arn.clone(), self.rule_arn.clone(), self.target_group_arn.clone());
        m.drain_delay = self.drain_delay.clone().unwrap_or_else(|| "0s".into());
        m.allow_total_outage = self.allow_total_outage.unwrap_or(false);
        m.fleet_guard = self.fleet_guard.clone();
        m
    }
}

impl RestoreConfig {
    fn model(&self) -> Model {
        let mut m = Model::unread(self.listener_arn.clone(), self.rule_arn.clone(), self.target_group_arn.clone());
        m.weight = self.weight;
        m.min_healthy_targets = self.min_healthy_targets.unwrap_or(1);
        m.ramp = self.ramp.clone();
        m.metric_guard = self.metric_guard.clone();
        m
    }
}

/// The entry's weight now, and the action it is in (one Describe call).
async fn current(
    ctx: &Ctx<ShardData>,
    m: &Model,
) -> Result<(i32, Vec<crate::clients::forward::WeightedTargetGroup>), Diagnostics> {
    let (_, forward) = elbv2::read_forward(&ctx.data.aws, &m.owner()).await.map_err(|e| elb_diag(e, m))?;
    let Some(weight) = forward.weight_of(&m.target_group_arn) else {
        let present: Vec<&str> = forward.target_groups.iter().map(|t| t.arn.as_str()).collect();
        return Err(Diagnostics::attr_error(
            crate::framework::AttrPath::attr("target_group_arn"),
            "Target group not in the action",
            format!(
                "{} is not in the forward action of {} (it holds {}); an action changes an existing entry only: \
                 add it with a shard_weight",
                m.target_group_arn,
                m.owner().describe(),
                present.join(", ")
            ),
        ));
    };
    Ok((weight, forward.target_groups))
}

/// Runs the change from the weight the entry has now, as a `shard_weight` update would.
async fn run(ctx: &Ctx<ShardData>, m: &Model, verb: &str) -> Result<(), Diagnostics> {
    let (from, _) = current(ctx, m).await?;
    ctx.progress(format!("{verb} {} in {}: weight {from} -> {}", m.target_group_arn, m.owner().describe(), m.weight));
    let outcome = converge(ctx, m, Some(&m.at_weight(from))).await?;
    let reached = outcome.state.as_ref().map(|s| s.weight);
    if outcome.diags.has_errors() {
        return Err(outcome.diags);
    }
    ctx.add(outcome.diags);
    ctx.progress(format!("done: {} is at weight {}", m.target_group_arn, reached.unwrap_or(m.weight)));
    Ok(())
}

pub struct DrainAction;

#[async_trait]
impl Action<ShardData> for DrainAction {
    type Config = DrainConfig;

    fn name(&self) -> &'static str {
        "drain"
    }

    fn default_timeout(&self) -> Duration {
        DEFAULT_TIMEOUT
    }

    fn schema(&self) -> Schema {
        let mut attributes = entry_attributes();
        attributes.extend([
            Attribute::string("drain_delay")
                .optional()
                .validate(validators::duration())
                .description("After the weight reaches 0 from a serving weight, wait this long before the action completes, so in-flight requests finish. Default: `0s`."),
            Attribute::bool("allow_total_outage")
                .optional()
                .description("Allow a drain after which every target group of the action has weight 0. Default: `false`."),
        ]);
        Schema::new(
            "Takes this shard out of traffic now: its entry in the shared listener's forward action to weight 0, under \
             the listener lock, with the fleet guard (checked when the plan is made and again under the lock) and the \
             drain delay. Changes the listener only: the `shard_weight` that owns the entry shows the difference at its \
             next plan.",
            attributes,
        )
        .with_block(fleet_guard_block())
    }

    async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
        arn::validate_listener_and_rule(&req.config)
    }

    async fn plan(&self, ctx: &Ctx<ShardData>, config: DrainConfig) -> Diagnostics {
        let m = config.model();
        let (from, entries) = match current(ctx, &m).await {
            Ok(found) => found,
            Err(d) => return d,
        };
        let next = match edit_entries(
            &entries,
            &m.target_group_arn,
            EntryChange::Set(0),
            m.allow_total_outage,
            &m.owner().describe(),
        ) {
            Ok(next) => next,
            Err(e) => return elb_diag(ElbError::from(e), &m),
        };
        if fleet::is_drain(Some(from), Some(0)) { plan_fleet_guard(ctx, &m, &next).await } else { Diagnostics::new() }
    }

    async fn invoke(&self, ctx: &Ctx<ShardData>, config: DrainConfig) -> Result<(), Diagnostics> {
        let m = config.model();
        if !m.drain_delay().is_zero() {
            ctx.progress(format!("drain delay after the write: {}", format_duration(m.drain_delay())));
        }
        run(ctx, &m, "draining").await
    }
}

pub struct RestoreAction;

#[async_trait]
impl Action<ShardData> for RestoreAction {
    type Config = RestoreConfig;

    fn name(&self) -> &'static str {
        "restore"
    }

    fn default_timeout(&self) -> Duration {
        DEFAULT_TIMEOUT
    }

    fn schema(&self) -> Schema {
        let mut attributes = entry_attributes();
        attributes.extend([
            Attribute::number("weight")
                .required()
                .validate(validators::int_between(1, 999))
                .description("The weight to go back to, 1..999."),
            Attribute::number("min_healthy_targets")
                .optional()
                .validate(validators::int_between(0, 10_000))
                .description("Before raising the weight from 0, wait until the target group has this many healthy targets; each later step up re-checks it. `0` disables the gate. Default: `1`."),
        ]);
        Schema::new(
            "Puts this shard back into traffic now: its entry in the shared listener's forward action from where it is \
             to `weight`, gated on target health, in `ramp` steps and judged by the `metric_guard` when given (a breach \
             steps back and fails the action). Changes the listener only: the `shard_weight` that owns the entry shows \
             the difference at its next plan.",
            attributes,
        )
        .with_block(ramp_block())
        .with_block(metric_guard_block())
    }

    async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
        arn::validate_listener_and_rule(&req.config)
    }

    async fn plan(&self, ctx: &Ctx<ShardData>, config: RestoreConfig) -> Diagnostics {
        let m = config.model();
        match current(ctx, &m).await {
            Ok(_) => Diagnostics::new(),
            Err(d) => d,
        }
    }

    async fn invoke(&self, ctx: &Ctx<ShardData>, config: RestoreConfig) -> Result<(), Diagnostics> {
        let m = config.model();
        if let Some(r) = &m.ramp {
            let every = parse_duration(&r.interval).map(format_duration).unwrap_or_else(|_| r.interval.clone());
            ctx.progress(format!("ramping in steps of {} every {every}", r.step));
        }
        run(ctx, &m, "restoring").await
    }
}
