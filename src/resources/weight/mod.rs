//! `shard_weight`: one shard's target-group weight in the shared listener's weighted forward
//! action. Each shard directory owns only its own entry; every write goes through the
//! cross-process listener lock (clients::listener_lock) and preserves every other entry, its
//! order and the stickiness configuration.

mod actions;
mod list;

pub use actions::{DrainAction, RestoreAction};

use crate::clients::ShardData;
use crate::clients::arn::{self, ArnKind, ElbArn};
use crate::clients::aws::retry_transient;
use crate::clients::cloudwatch;
use crate::clients::elbv2::{self, ElbError};
use crate::clients::entry_edit::{EntryEdit, edit_locked};
use crate::clients::fleet::{self, FleetGuard};
use crate::clients::forward::{
    ActionOwner, EditError, EntryChange, Forward, HealthCounts, WeightedTargetGroup, edit_entries, find_forward,
    placement_mismatch, share_of, share_percent, share_text,
};
use crate::clients::metric_guard::{self, Thresholds};
use crate::framework::claims::Claims;
use crate::framework::schema::{Attribute, IdentityAttribute, IdentitySchema, NestedBlock, validators};
use crate::framework::timeouts::{Op, Timeouts, format_duration, parse_duration, timeouts_block_with_defaults};
use crate::framework::{
    Attr, AttrPath, Check, CreateRequest, Ctx, DeleteRequest, Diagnostics, ImportRequest, Interrupted, Outcome,
    PlanRequest, ReadRequest, Resource, Schema, UpdateRequest, ValidateRequest,
};
use crate::protocol::value::Value;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How often a health wait polls DescribeTargetHealth.
const HEALTH_POLL: Duration = Duration::from_secs(2);
/// A roll-back gets at least this long, even when the operation's own deadline has passed.
const ROLLBACK_BUDGET: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct WeightResource {
    /// Entries (action owner, target group) planned in this process, to catch two resources of
    /// one configuration managing the same entry.
    claims: Claims,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Model {
    id: Attr<String>,
    listener_arn: String,
    rule_arn: Option<String>,
    target_group_arn: String,
    weight: i64,
    min_healthy_targets: i64,
    allow_total_outage: bool,
    drain_delay: String,
    on_destroy: OnDestroy,
    ramp: Option<Ramp>,
    fleet_guard: Option<FleetGuardModel>,
    metric_guard: Option<MetricGuardModel>,
    share_change_warning: i64,
    traffic_share: Attr<String>,
    timeouts: Option<Timeouts>,
}

#[cfg(feature = "bench-probes")]
impl Model {
    /// The computed attributes a create would fill in, without AWS: for the benchmark's
    /// `shard_bench_wide` (resources/bench_probes.rs).
    pub(crate) fn with_computed_for_bench(mut self) -> Self {
        self.id = Attr::Known(format!("{}/{}", self.listener_arn, self.target_group_arn));
        self.traffic_share = Attr::Known("20%".into());
        self
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
struct Ramp {
    step: i64,
    interval: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
struct FleetGuardModel {
    min_serving: i64,
    max_drained: Option<i64>,
    contact: Option<String>,
    override_reason: Option<String>,
}

impl FleetGuardModel {
    fn guard(&self) -> FleetGuard {
        FleetGuard {
            min_serving: self.min_serving,
            max_drained: self.max_drained,
            contact: self.contact.clone(),
            override_reason: self.override_reason.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
struct MetricGuardModel {
    max_5xx_percent: Option<f64>,
    max_response_time: Option<String>,
    response_time_percentile: String,
    max_unhealthy_hosts: Option<i64>,
    window: String,
    bake_time: String,
    check_interval: String,
    on_breach: String,
}

impl MetricGuardModel {
    fn thresholds(&self) -> Thresholds {
        Thresholds {
            max_5xx_percent: self.max_5xx_percent,
            max_response_time: self.max_response_time.as_deref().and_then(|d| parse_duration(d).ok()),
            percentile: self.response_time_percentile.clone(),
            max_unhealthy_hosts: self.max_unhealthy_hosts,
        }
    }
    fn course(&self) -> GuardCourse {
        let d = |text: &str| parse_duration(text).unwrap_or(Duration::ZERO);
        GuardCourse { bake: d(&self.bake_time), every: d(&self.check_interval).max(Duration::from_secs(1)) }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum OnDestroy {
    Remove,
    Zero,
    Retain,
}

impl Model {
    fn owner(&self) -> ActionOwner {
        match &self.rule_arn {
            Some(rule) => ActionOwner::Rule(rule.clone()),
            None => ActionOwner::Listener(self.listener_arn.clone()),
        }
    }
    fn id(&self) -> String {
        resource_id(self.owner().arn(), &self.target_group_arn)
    }
    fn drain_delay(&self) -> Duration {
        parse_duration(&self.drain_delay).unwrap_or(Duration::ZERO)
    }
    /// The entry of `target_group_arn` in the action of `rule_arn` (or the listener's default
    /// action), with every setting at its default, before a read fills in the weight.
    fn unread(listener_arn: String, rule_arn: Option<String>, target_group_arn: String) -> Model {
        Model {
            id: Attr::Known(resource_id(rule_arn.as_deref().unwrap_or(&listener_arn), &target_group_arn)),
            listener_arn,
            rule_arn,
            target_group_arn,
            weight: 0,
            min_healthy_targets: 1,
            allow_total_outage: false,
            drain_delay: "0s".into(),
            on_destroy: OnDestroy::Remove,
            ramp: None,
            fleet_guard: None,
            metric_guard: None,
            share_change_warning: 50,
            traffic_share: Attr::Null,
            timeouts: None,
        }
    }

    /// This model as state, with the weight the entry really has.
    fn at_weight(&self, weight: i32) -> Model {
        // A share the plan could not compute is not known after a partial apply either.
        let traffic_share = match &self.traffic_share {
            Attr::Unknown => Attr::Null,
            known => known.clone(),
        };
        Model { id: Attr::Known(self.id()), weight: i64::from(weight), traffic_share, ..self.clone() }
    }
    /// This model as read: the entry's weight and its share of the action's traffic.
    fn read_from(&self, forward: &Forward, weight: i32) -> Model {
        Model {
            traffic_share: Attr::Known(share_text(share_percent(forward, &self.target_group_arn, i64::from(weight)))),
            ..self.at_weight(weight)
        }
    }
    fn edit(&self, change: EntryChange, lock_priority: i32) -> EntryEdit {
        EntryEdit {
            lock_priority,
            listener_arn: self.listener_arn.clone(),
            owner: self.owner(),
            target_group_arn: self.target_group_arn.clone(),
            change,
            allow_total_outage: self.allow_total_outage,
            guard: self.fleet_guard.as_ref().map(FleetGuardModel::guard),
        }
    }
}
/// The `ramp` block (the resource's and `shard_restore`'s).
fn ramp_block() -> NestedBlock {
    NestedBlock::single(
        "ramp",
        "Move from the current weight to `weight` in steps, re-checking target health before each step up.",
        vec![
            Attribute::number("step")
                .required()
                .validate(validators::int_between(1, 999))
                .description("Weight change per step, 1..999."),
            Attribute::string("interval")
                .required()
                .validate(validators::duration())
                .description("Wait between steps, e.g. \"30s\"."),
        ],
    )
}

/// The `fleet_guard` block (the resource's and `shard_drain`'s).
fn fleet_guard_block() -> NestedBlock {
    NestedBlock::single(
        "fleet_guard",
        "Guard the fleet when this shard is taken out of traffic (weight to 0, or removed on destroy) from a serving weight: checked at plan and again under the listener lock before the write, on the action as it is then, so two directories draining at the same time cannot both pass. The drain is recorded on this shard's target group (tags `terraform-provider-shard:drained-at`, `…:drained-by`, `…:drain-override`) so that a refusal elsewhere says since when and by whom a shard is out, and the record is removed when the weight rises from 0 again. Without this block only the all-zero check of `allow_total_outage` applies, with no extra AWS call. Needs `elasticloadbalancing:DescribeTargetHealth`, `DescribeTags`, `AddTags` and `RemoveTags`.",
        vec![
            Attribute::number("min_serving")
                .default(1)
                .validate(validators::int_between(0, 4))
                .description("Refuse a drain that would leave fewer than this many other shards of the action at weight > 0 with at least one healthy target. Default: `1`."),
            Attribute::number("max_drained")
                .optional()
                .validate(validators::int_between(1, 5))
                .description("Refuse a drain that would leave more than this many shards of the action at weight 0 at once, this one included (a shard that joined at 0 and waits to be raised counts too). `1`: one shard out at a time. Default: no limit."),
            Attribute::string("contact")
                .optional()
                .validate(validators::string(fleet::validate_note))
                .description("Who drains, recorded with the drain (e.g. `team-payments #oncall` or the pipeline): shown to whoever is refused because of this drain."),
            Attribute::string("override_reason")
                .optional()
                .validate(validators::string(fleet::validate_note))
                .description("Break glass: the drain goes through although the guard refuses it (the plan warns, with the refusal), and this reason is recorded with the drain. Remove it once the incident is over."),
        ],
    )
}

/// The `metric_guard` block (the resource's and `shard_restore`'s).
fn metric_guard_block() -> NestedBlock {
    NestedBlock::single(
        "metric_guard",
        "Judge a rise (a ramp back after maintenance, a new shard joining, any raise) by this shard's own load balancer metrics in CloudWatch (`AWS/ApplicationELB`, dimensions `TargetGroup` and `LoadBalancer`, one GetMetricData per evaluation): after each ramp step's interval, before going higher, and through `bake_time` at the target. On a breach the weight steps back (`on_breach`) and the apply fails with the metric values and the step reached; state records the weight it stepped back to, so the next plan shows the way up again. Metrics that cannot be read count as a breach. ALB publishes per minute and only for minutes with requests (no data: no breach): give ramp intervals and `window` a minute or more. Needs `cloudwatch:GetMetricData`.",
        vec![
            Attribute::number("max_5xx_percent")
                .optional()
                .validate(validators::number_between(0.0, 100.0))
                .description("Largest share of requests the targets may answer with a 5xx (`HTTPCode_Target_5XX_Count` over `RequestCount`, summed over `window`), in percent, e.g. `1`."),
            Attribute::string("max_response_time")
                .optional()
                .validate(validators::positive_duration())
                .description("Largest `TargetResponseTime` at `response_time_percentile` (the worst minute of `window`), e.g. `\"500ms\"`."),
            Attribute::string("response_time_percentile")
                .default("p99")
                .validate(validators::string(metric_guard::validate_percentile))
                .description("The percentile statistic of `TargetResponseTime`, as CloudWatch names it. Default: `p99`."),
            Attribute::number("max_unhealthy_hosts")
                .optional()
                .validate(validators::int_between(0, 10_000))
                .description("Largest `UnHealthyHostCount` (the worst minute of `window`), e.g. `0`."),
            Attribute::string("window")
                .default("1m")
                .validate(validators::positive_duration())
                .description("How far back each evaluation looks. Default: `1m`."),
            Attribute::string("bake_time")
                .default("0s")
                .validate(validators::duration())
                .description("After reaching the target, keep judging for this long before the apply succeeds: every `check_interval`, the first one a `check_interval` after the last step, so the target weight is judged on its own traffic. `0s`: judge once, at once (over the last `window`, which then holds mostly the previous weight's traffic); on a real ALB give at least `window` plus the minute or two CloudWatch lags. Default: `0s`."),
            Attribute::string("check_interval")
                .default("30s")
                .validate(validators::positive_duration())
                .description("How often the bake time judges the metrics. Default: `30s`."),
            Attribute::string("on_breach")
                .default("previous")
                .validate(validators::one_of(&["previous", "zero"]))
                .description("Where a breach steps back to: the last weight the guard judged good, or where the rise started (`previous`), or `zero`. Default: `previous`."),
        ],
    )
}

/// Where the refreshed state keeps the other entries' total weight (private state).
const OTHERS_WEIGHT: &str = "others_weight";

/// Sets the planned `traffic_share` of an update (this shard's share after the change, the
/// other entries' total as the refresh read it) and warns when the plan moves it by more than
/// `share_change_warning` points. Without a refresh (`-refresh=false`) it stays unknown and the
/// apply reads it.
fn plan_share(req: &mut PlanRequest<Model>, m: &Model) {
    let Some(others) = req.private.get::<i64>(OTHERS_WEIGHT) else { return };
    let share = |weight: i64| share_of(weight, others);
    let before = req.prior.as_ref().map(|p| share(p.weight)).unwrap_or(0.0);
    let after = share(m.weight);
    if let Some(slot) = req.planned.get_mut("traffic_share") {
        *slot = Value::String(share_text(after));
    }
    let moved = (after - before).abs();
    if moved > m.share_change_warning as f64 {
        req.diags.push_attr_warning(
            AttrPath::attr("weight"),
            "Large traffic shift",
            format!(
                "this change moves {} percentage points of {}'s traffic: this shard goes from {} to {}, the other \
                 shards (total weight {others}) take the rest. Check that they have the capacity; \
                 share_change_warning = {} sets when this warns.",
                share_text(moved).trim_end_matches('%'),
                m.owner().describe(),
                share_text(before),
                share_text(after),
                m.share_change_warning
            ),
        );
    }
}

/// The fleet guard at plan, on the action as the plan read it (checked again under the lock at
/// apply): an error on the `fleet_guard` attribute that refuses, or a warning when overridden.
async fn plan_fleet_guard(ctx: &Ctx<ShardData>, m: &Model, next: &[WeightedTargetGroup]) -> Diagnostics {
    let Some(guard) = m.fleet_guard.as_ref().map(FleetGuardModel::guard) else { return Diagnostics::new() };
    let aws = &ctx.data.aws;
    let view = match elbv2::observe_fleet(aws, next, &m.target_group_arn).await {
        Ok(view) => view,
        Err(e) => return e.into(),
    };
    let now = i64::try_from(aws.clock().now_unix()).unwrap_or(i64::MAX);
    let Err(refusal) = fleet::check(&guard, &m.owner().describe(), &m.target_group_arn, next, &view, now) else {
        return Diagnostics::new();
    };
    match &guard.override_reason {
        None => elb_diag(ElbError::Fleet(refusal), m),
        Some(why) => Diagnostics::attr_warning(
            AttrPath::attr("fleet_guard").then("override_reason"),
            "Fleet guard overridden",
            format!("this drain goes through although the fleet guard refuses it (override_reason: {why}): {refusal}"),
        ),
    }
}

/// `<listener_or_rule_arn>,<target_group_arn>`.
pub fn resource_id(owner_arn: &str, target_group_arn: &str) -> String {
    format!("{owner_arn},{target_group_arn}")
}

/// The weights a ramp passes through from `from` to `to`, ending at `to`.
pub fn ramp_steps(from: i64, to: i64, step: i64) -> Vec<i64> {
    let step = step.max(1);
    let mut out = Vec::new();
    let mut w = from;
    while w != to {
        w = if to > w { w.saturating_add(step).min(to) } else { w.saturating_sub(step).max(to) };
        out.push(w);
    }
    out
}

/// One thing a weight change does, in order. Planned by [`plan_steps`], run by `run_steps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Wait, up to the deadline, until the target group has `min` healthy targets.
    WaitHealthy { min: i64 },
    /// Check once, without waiting, that the target group still has `min` healthy targets.
    CheckHealthy { min: i64 },
    /// Add the entry at weight 0 if absent, so the load balancer starts health-checking the
    /// target group (targets of a group no action references report `unused`).
    Join,
    /// Write this weight under the listener lock.
    Set(i32),
    /// Wait between ramp steps.
    Pause(Duration),
    /// After going to 0: wait so in-flight requests finish (skipped if the shard was not serving).
    Drain(Duration),
    /// Judge the target group's metrics once (metric guard), after a ramp step's interval.
    Guard,
    /// At the target: judge the metrics every `every` for this long, and at its end (once, for 0).
    Bake { time: Duration, every: Duration },
}

/// The metric guard's part of a rise: how long to bake at the target, checking how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardCourse {
    pub bake: Duration,
    pub every: Duration,
}

/// What drives a weight change: where the entry is, where it should be, and how to get there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Course {
    /// The entry's weight now (None: not in the action).
    pub start: Option<i32>,
    pub target: i32,
    /// (step, interval) when ramping.
    pub ramp: Option<(i64, Duration)>,
    pub min_healthy: i64,
    pub drain_delay: Duration,
    /// The metric guard, judged on a rise.
    pub guard: Option<GuardCourse>,
}

/// The steps from `start` to `target`: a rise from 0 waits for health first (joining at 0 first
/// when the entry is absent); a ramp re-checks health before every later step up and pauses
/// between steps; reaching 0 from a serving weight drains.
pub fn plan_steps(c: &Course) -> Vec<Step> {
    let weights: Vec<i32> = match c.ramp {
        Some((step, _)) => ramp_steps(i64::from(c.start.unwrap_or(0)), i64::from(c.target), step)
            .into_iter()
            .map(|w| i32::try_from(w).unwrap_or(c.target))
            .collect(),
        // Only settings changed (gate, drain, destroy mode): nothing to write.
        None if c.start == Some(c.target) => Vec::new(),
        None => vec![c.target],
    };
    let mut steps = Vec::new();
    if c.start.is_none() && c.target > 0 && c.min_healthy > 0 {
        steps.push(Step::Join);
    }
    let mut current = c.start.unwrap_or(0);
    for (i, w) in weights.iter().enumerate() {
        if i > 0
            && let Some((_, interval)) = c.ramp
        {
            steps.push(Step::Pause(interval));
            // The step just taken served for an interval: judge it before going higher.
            if c.guard.is_some() && *w > current {
                steps.push(Step::Guard);
            }
        }
        if *w > current && c.min_healthy > 0 {
            if current == 0 {
                steps.push(Step::WaitHealthy { min: c.min_healthy });
            } else if c.ramp.is_some() {
                steps.push(Step::CheckHealthy { min: c.min_healthy });
            }
        }
        steps.push(Step::Set(*w));
        current = *w;
    }
    if c.target == 0 && !c.drain_delay.is_zero() && !weights.is_empty() {
        steps.push(Step::Drain(c.drain_delay));
    }
    if let Some(g) = c.guard
        && c.target > c.start.unwrap_or(0)
    {
        steps.push(Step::Bake { time: g.bake, every: g.every });
    }
    steps
}

/// What to do when a step fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Nothing was written yet: fail, the prior state stands.
    NothingChanged,
    /// A wait between or after writes was cut short: keep the weight reached and say so.
    KeepReached,
    /// A later ramp step failed: put the weight back where the change started (None: remove).
    RollBackTo(Option<i32>),
}

/// `start` is the weight the entry had before the first write (None: absent).
pub fn recovery(failed: &Step, start: Option<i32>, wrote: bool) -> Recovery {
    match failed {
        Step::Pause(_) | Step::Drain(_) => Recovery::KeepReached,
        _ if !wrote => Recovery::NothingChanged,
        _ => Recovery::RollBackTo(start),
    }
}

/// Maps an ELBv2 failure to a diagnostic on the attribute it concerns (the one mapping of
/// [`EditError`] for both plan and apply).
fn elb_diag(e: ElbError, m: &Model) -> Diagnostics {
    let owner_path = if m.rule_arn.is_some() { "rule_arn" } else { "listener_arn" };
    match &e {
        ElbError::Edit(edit) => {
            let (path, summary) = match edit {
                EditError::TotalOutage { .. } => ("weight", "Change refused: total outage"),
                EditError::TooManyTargetGroups { .. } => ("target_group_arn", "Change refused: too many target groups"),
                EditError::LastTargetGroup { .. } => ("on_destroy", "Change refused: last target group"),
            };
            Diagnostics::attr_error(AttrPath::attr(path), summary, edit.to_string())
        }
        ElbError::Fleet(refusal) => Diagnostics::attr_error(
            AttrPath::attr("fleet_guard").then(refusal.attribute()),
            "Drain refused by the fleet guard",
            refusal.to_string(),
        ),
        ElbError::NotFound { .. } => Diagnostics::attr_error(AttrPath::attr(owner_path), "Not found", e.to_string()),
        ElbError::NotForward(why) => {
            Diagnostics::attr_error(AttrPath::attr(owner_path), "Not a forward action", why.clone())
        }
        _ => e.into(),
    }
}

/// What the gate saw, with what the states mean.
fn health_text(h: &HealthCounts) -> String {
    let mut text = h.summary();
    if h.unavailable > 0 {
        text.push_str(
            "; `unavailable` (Target.HealthCheckDisabled) means the target group has health checks turned off \
             (the default for Lambda targets): it can pass the gate only with min_healthy_targets = 0",
        );
    }
    if h.unused > 0 {
        text.push_str(
            "; `unused` (Target.NotInUse) means no listener action references the target group yet, so the load \
             balancer does not health-check it",
        );
    }
    text
}

/// Waits until the target group has `min` healthy targets: until the deadline, or (`once`)
/// checking a single time.
async fn gate(ctx: &Ctx<ShardData>, target_group: &str, min: i64, once: bool) -> Result<(), Diagnostics> {
    let aws = &ctx.data.aws;
    let probe = || async {
        let h = elbv2::target_health(aws, target_group).await?;
        Ok::<_, Diagnostics>(if h.healthy >= min { Check::Ready(()) } else { Check::NotYet(health_text(&h)) })
    };
    let not_healthy = |seen: &str, waited: &str| {
        Diagnostics::attr_error(
            AttrPath::attr("min_healthy_targets"),
            "Target group not healthy",
            format!(
                "{target_group} has {seen}, needs {min} before it receives traffic{waited}. \
                 Register healthy targets, raise the timeout, or set min_healthy_targets = 0"
            ),
        )
    };
    ctx.gate(HEALTH_POLL, once, probe, not_healthy, "healthy targets", "the weight was not changed").await
}

fn interrupted(ctx: &Ctx<ShardData>, i: Interrupted) -> String {
    match i {
        Interrupted::TimedOut(_) => format!("timed out after {}", format_duration(ctx.limit())),
        Interrupted::Cancelled => i.to_string(),
    }
}

/// Drives the entry from its current weight to the model's weight along [`plan_steps`].
/// Returns the state that matches reality, with errors if the change did not complete.
async fn converge(ctx: &Ctx<ShardData>, m: &Model, prior: Option<&Model>) -> Result<Outcome<Model>, Diagnostics> {
    let aws = &ctx.data.aws;
    // Where the entry starts. A ramp needs the live weight; a single step can go by the
    // refreshed prior state (absent on create), which saves a Describe call per change.
    let start = if m.ramp.is_some() {
        elbv2::read_forward(aws, &m.owner()).await.map_err(|e| elb_diag(e, m))?.1.weight_of(&m.target_group_arn)
    } else {
        prior.and_then(|p| i32::try_from(p.weight).ok())
    };
    let course = Course {
        start,
        target: m.weight as i32,
        ramp: m.ramp.as_ref().map(|r| (r.step, parse_duration(&r.interval).unwrap_or(Duration::ZERO))),
        min_healthy: m.min_healthy_targets,
        drain_delay: m.drain_delay(),
        guard: m.metric_guard.as_ref().map(MetricGuardModel::course),
    };
    let steps = plan_steps(&course);
    // Where the entry really was before the first write (the plan may go by refreshed state).
    let mut origin = start;
    let mut reached = start;
    let mut wrote = false;
    // The last weight the metric guard judged good (where a breach steps back to).
    let mut last_good = start;
    let mut steps_set = 0;
    let ramp_len = steps.iter().filter(|s| matches!(s, Step::Set(_))).count();
    for step in &steps {
        if let (Step::Guard | Step::Bake { .. }, Some(g)) = (step, &m.metric_guard) {
            let at = reached.unwrap_or(0);
            ctx.progress(format!("judging the metrics at weight {at}"));
            match judge_metrics(ctx, m, g, step).await {
                Ok(()) => {
                    last_good = reached;
                    continue;
                }
                Err(MetricStop::Interrupted(why)) => return Ok(Outcome::failed(reached.map(|w| m.at_weight(w)), why)),
                Err(MetricStop::Breach(found)) => {
                    let to = if g.on_breach == "zero" { Some(0) } else { Some(last_good.unwrap_or(0)) };
                    let why = Diagnostics::attr_error(
                        AttrPath::attr("metric_guard"),
                        "Metric guard breached",
                        format!(
                            "at weight {at} (step {steps_set} of {ramp_len}) the target group's metrics broke the guard: {found}. \
                             Stepping back to weight {} (on_breach = \"{}\")",
                            to.unwrap_or(0),
                            g.on_breach
                        ),
                    );
                    return Ok(roll_back(ctx, m, to, reached, why).await);
                }
            }
        }
        if matches!(step, Step::Set(_)) {
            steps_set += 1;
        }
        // What the apply (or an action's stream) shows while it runs.
        match step {
            Step::Set(w) if ramp_len > 1 => ctx.progress(format!("weight {w} (step {steps_set} of {ramp_len})")),
            Step::Set(w) => ctx.progress(format!("weight {w}")),
            Step::WaitHealthy { min } => ctx.progress(format!("waiting for {min} healthy target(s)")),
            Step::Pause(d) => ctx.progress(format!("next step in {}", format_duration(*d))),
            Step::Drain(d) if origin.unwrap_or(0) > 0 => {
                ctx.progress(format!("draining in-flight requests for {}", format_duration(*d)))
            }
            _ => {}
        }
        let result: Result<(), Diagnostics> = match step {
            Step::WaitHealthy { min } => gate(ctx, &m.target_group_arn, *min, false).await,
            Step::CheckHealthy { min } => gate(ctx, &m.target_group_arn, *min, true).await,
            Step::Set(_) | Step::Join => {
                let change = if let Step::Set(w) = step { EntryChange::Set(*w) } else { EntryChange::Join };
                match edit_locked(aws, &ctx.cancel, &m.edit(change, ctx.data.lock_priority), ctx.deadline().into_std())
                    .await
                {
                    Ok(before) => {
                        if !wrote {
                            origin = before;
                        }
                        wrote = true;
                        reached = match change {
                            EntryChange::Set(w) => Some(w),
                            _ => Some(before.unwrap_or(0)),
                        };
                        Ok(())
                    }
                    Err(e) => Err(elb_diag(e, m)),
                }
            }
            Step::Pause(d) => ctx.sleep(*d).await.map_err(|i| {
                let at = reached.unwrap_or(0);
                Diagnostics::error(
                    format!("Ramp {}", interrupted(ctx, i)),
                    format!(
                        "the weight stays at {at}, the last completed step (target was {}); apply again to continue",
                        m.weight
                    ),
                )
            }),
            // Only a shard that was serving before the first write has requests to drain.
            Step::Drain(d) if origin.unwrap_or(0) > 0 => ctx.sleep(*d).await.map_err(|i| {
                Diagnostics::error(
                    format!("Drain delay {}", interrupted(ctx, i)),
                    "the weight is 0; in-flight requests may not have finished",
                )
            }),
            Step::Drain(_) | Step::Guard | Step::Bake { .. } => Ok(()),
        };
        let Err(why) = result else { continue };
        return Ok(match recovery(step, origin, wrote) {
            Recovery::NothingChanged => return Err(why),
            Recovery::KeepReached => Outcome::failed(reached.map(|w| m.at_weight(w)), why),
            Recovery::RollBackTo(to) => roll_back(ctx, m, to, reached, why).await,
        });
    }
    // The planned share, or (when the plan could not read the action) the share now.
    if m.traffic_share.is_unknown()
        && let Ok((_, forward)) = elbv2::read_forward(aws, &m.owner()).await
    {
        return Ok(Outcome::ok(m.read_from(&forward, m.weight as i32)));
    }
    Ok(Outcome::ok(m.at_weight(m.weight as i32)))
}

/// Why the metric guard stopped a rise.
enum MetricStop {
    /// The metrics broke a threshold, or could not be read: step back.
    Breach(String),
    /// Cancelled or timed out while baking: keep the weight reached.
    Interrupted(Diagnostics),
}

/// Judges the target group's metrics: once (`Guard`), or through the bake time.
async fn judge_metrics(ctx: &Ctx<ShardData>, m: &Model, g: &MetricGuardModel, step: &Step) -> Result<(), MetricStop> {
    let (bake, every) = match step {
        Step::Bake { time, every } => (*time, *every),
        _ => (Duration::ZERO, Duration::ZERO),
    };
    let thresholds = g.thresholds();
    let window = parse_duration(&g.window).unwrap_or(Duration::from_secs(60));
    let Some((lb, tg)) = metric_guard::dimensions(&m.listener_arn, &m.target_group_arn) else {
        return Err(MetricStop::Breach(format!("no CloudWatch dimensions for {}", m.target_group_arn)));
    };
    let until = Instant::now() + bake;
    loop {
        // Through a bake, the weight serves for a check_interval before each judgement, so the
        // target weight is judged on its own traffic (the first check is not right after the write).
        let left = until.saturating_duration_since(Instant::now());
        if !left.is_zero() {
            ctx.sleep(every.min(left)).await.map_err(|i| {
                MetricStop::Interrupted(Diagnostics::error(
                    format!("Bake time {}", interrupted(ctx, i)),
                    format!("the weight stays at {}; the metric guard had not finished judging it", m.weight),
                ))
            })?;
        }
        let sample = cloudwatch::target_group_sample(&ctx.data.aws, (&lb, &tg), window, &g.response_time_percentile)
            .await
            .map_err(|e| {
                MetricStop::Breach(format!("the metrics could not be read ({e}), so the step is not judged good"))
            })?;
        let found = metric_guard::breaches(&thresholds, &sample);
        tracing::info!(metrics = %sample.describe(&thresholds.percentile), breaches = found.len(), "metric guard");
        if !found.is_empty() {
            return Err(MetricStop::Breach(format!(
                "{} ({})",
                found.join("; "),
                sample.describe(&thresholds.percentile)
            )));
        }
        if Instant::now() >= until {
            return Ok(());
        }
    }
}

/// After a failed ramp step: put the weight back where the ramp started, then fail saying so.
async fn roll_back(
    ctx: &Ctx<ShardData>,
    m: &Model,
    to: Option<i32>,
    reached: Option<i32>,
    why: Diagnostics,
) -> Outcome<Model> {
    let change = match to {
        Some(w) => EntryChange::Set(w),
        None => EntryChange::Remove,
    };
    // The roll-back must not be cut short by the timeout that may just have expired.
    let deadline = ctx.deadline().into_std().max(Instant::now() + ROLLBACK_BUDGET);
    let rolled = edit_locked(&ctx.data.aws, &ctx.cancel, &m.edit(change, ctx.data.lock_priority), deadline).await;
    let report = roll_back_report(reached.map(i64::from), to.map(i64::from), rolled.is_ok());
    match rolled {
        // State reflects the restored weight (or nothing, if the entry was new).
        Ok(_) => Outcome::failed(to.map(|w| m.at_weight(w)), report.and(why)),
        Err(e) => {
            Outcome::failed(Some(m.at_weight(reached.unwrap_or(m.weight as i32))), report.and(why).and(elb_diag(e, m)))
        }
    }
}

/// What a failed ramp's roll-back says (`shard_weight`'s and `shard_dns_weight`'s): where the ramp
/// got, and where the weight is now (`to`: None when a new entry was removed again), or, when the
/// roll-back failed too (`rolled` false), that the weight may still be where the ramp got.
pub(crate) fn roll_back_report(reached: Option<i64>, to: Option<i64>, rolled: bool) -> Diagnostics {
    let reached_text = reached.map(|w| w.to_string()).unwrap_or_else(|| "none".into());
    if rolled {
        let restored = to.map(|w| w.to_string()).unwrap_or_else(|| "absent (removed again)".into());
        Diagnostics::error(
            "Ramp stopped and rolled back",
            format!(
                "the ramp reached weight {reached_text} and failed its next check; the weight is back to {restored}"
            ),
        )
    } else {
        Diagnostics::error(
            "Ramp failed and the roll-back failed too",
            format!("the weight may still be {reached_text}; run terraform apply again to converge"),
        )
    }
}

#[async_trait]
impl Resource<ShardData> for WeightResource {
    type Model = Model;

    fn name(&self) -> &'static str {
        "weight"
    }

    fn default_timeout(&self, _op: Op) -> Duration {
        DEFAULT_TIMEOUT
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "This shard's weight in the shared listener's weighted `forward` action. Each shard's Terraform \
             directory owns only its own entry: writes preserve every other target group, weight, order and the \
             stickiness configuration, and are serialised across processes and machines by a lock on the listener.",
            vec![
                Attribute::string("id")
                    .computed()
                    .use_state_for_unknown()
                    .description("`<listener_or_rule_arn>,<target_group_arn>`; also the import id."),
                Attribute::string("listener_arn")
                    .required()
                    .requires_replace()
                    .validate(arn::validate_alb_listener())
                    .description("ARN of the shared listener. Changing it forces replacement."),
                Attribute::string("rule_arn")
                    .optional()
                    .requires_replace()
                    .validate(arn::validate(ArnKind::ListenerRule))
                    .description("Manage this rule's forward action instead of the listener's default action. The rule must belong to `listener_arn`. Changing it forces replacement."),
                Attribute::string("target_group_arn")
                    .required()
                    .requires_replace()
                    .validate(arn::validate(ArnKind::TargetGroup))
                    .description("This shard's target group: in the load balancer's VPC, of a protocol an ALB forwards to (HTTP/HTTPS). Changing it forces replacement."),
                Attribute::number("weight")
                    .required()
                    .validate(validators::int_between(0, 999))
                    .description("Weight in the forward action, 0..999. 0 takes the shard out of traffic."),
                Attribute::number("min_healthy_targets")
                    .default(1)
                    .validate(validators::int_between(0, 10_000))
                    .description("Before raising the weight from 0 (or adding the entry), wait (up to the timeout) until the target group has this many healthy targets; during a `ramp`, every later step up re-checks it once. `0` disables the gate. Default: `1`."),
                Attribute::bool("allow_total_outage")
                    .default(false)
                    .description("Allow a change after which every target group of the action has weight 0; otherwise it is refused, at plan time when it can be seen then, and always before writing. Default: `false`."),
                Attribute::string("drain_delay")
                    .default("0s")
                    .validate(validators::duration())
                    .description("After lowering the weight to 0 (or removing the entry on destroy) from a serving weight, wait this long before the apply completes, so in-flight requests finish before dependent resources (e.g. a cluster upgrade) proceed. Default: `0s`."),
                Attribute::number("share_change_warning")
                    .default(50)
                    .validate(validators::int_between(0, 100))
                    .description("A plan that moves this shard's share of the action's traffic by more than this many percentage points warns (a warning, not an error: review the fleet's effect). `100` never warns. Default: `50`."),
                Attribute::string("traffic_share")
                    .computed()
                    .description("This shard's share of the action's traffic (its weight over the sum of all weights), e.g. `33.3%`. A refresh shows the share now; a plan that changes `weight` shows the share after the change, from the other shards' weights as the refresh read them (`\"33.3%\" -> \"0%\"`); a create's is known after apply. Others applying in between change it: the next refresh shows the share then."),
                Attribute::string("on_destroy")
                    .default("remove")
                    .validate(validators::one_of(&["remove", "zero", "retain"]))
                    .description("On destroy: `remove` the target group from the action, set it to weight 0 (`zero`), or touch nothing (`retain`). Removing the only target group of an action is refused (an action needs one): use `zero` there. Default: `remove`."),
            ],
        )
        .with_block(ramp_block())
        .with_block(fleet_guard_block())
        .with_block(metric_guard_block())
        .with_block(timeouts_block_with_defaults(&[Op::Create, Op::Update, Op::Delete], |op| self.default_timeout(op)))
    }

    fn identity(&self) -> Option<IdentitySchema> {
        Some(IdentitySchema {
            version: 0,
            attributes: vec![
                IdentityAttribute::string("listener_arn", true, "The shared listener."),
                IdentityAttribute::string(
                    "rule_arn",
                    false,
                    "The listener rule, when the entry is in a rule's action.",
                ),
                IdentityAttribute::string("target_group_arn", true, "This shard's target group."),
            ],
        })
    }

    fn import_id(&self, identity: &Value) -> Result<String, Diagnostics> {
        let get = |name: &str| identity.get(name).as_str().map(str::to_string);
        let (Some(listener), Some(tg)) = (get("listener_arn"), get("target_group_arn")) else {
            return Err(Diagnostics::error("Incomplete identity", "listener_arn and target_group_arn are required"));
        };
        Ok(resource_id(&get("rule_arn").unwrap_or(listener), &tg))
    }

    async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
        arn::validate_listener_and_rule(&req.config)
    }

    async fn modify_plan(&self, ctx: &Ctx<ShardData>, req: &mut PlanRequest<Model>) {
        // Remote checks need known values; unknown ones are checked again at apply.
        let Some(m) = req.planned_model() else { return };
        let prior = req.prior.as_ref();
        let key = resource_id(m.owner().arn(), &m.target_group_arn);
        let prior_key = prior.map(|p| resource_id(p.owner().arn(), &p.target_group_arn));
        if self.claims.duplicate(&key, prior_key.as_deref()) {
            req.diags.push_attr_error(
                AttrPath::attr("target_group_arn"),
                "Duplicate shard_weight",
                format!(
                    "another shard_weight in this configuration also manages {} in {}; exactly one resource may own a target group's weight",
                    m.target_group_arn,
                    m.owner().describe()
                ),
            );
            return;
        }
        // With provider settings still unknown (e.g. an endpoint created in this run), AWS cannot
        // be asked yet; apply runs the same checks under the lock before writing.
        if !ctx.data.aws.settings().unknown.is_empty() {
            return;
        }
        let creating = prior.is_none();
        let prior_weight = prior.map(|p| i32::try_from(p.weight).unwrap_or(i32::MAX));
        let lowering_to_zero = m.weight == 0 && prior.is_none_or(|p| p.weight != 0);
        if !creating && !lowering_to_zero {
            if prior.is_some_and(|p| p.weight != m.weight) {
                plan_share(req, &m);
            }
            return;
        }
        let aws = &ctx.data.aws;
        let mut listener_actions = None;
        if creating {
            match elbv2::placements(aws, &m.listener_arn, &m.target_group_arn).await {
                Ok(p) => {
                    listener_actions = Some(p.listener_actions);
                    if let Some(why) = placement_mismatch(&p.load_balancer, &p.target_group) {
                        req.diags.push_attr_error(
                            AttrPath::attr("target_group_arn"),
                            "Target group cannot join this listener",
                            why,
                        );
                        return;
                    }
                }
                Err(e) => {
                    req.diags.extend(e.into());
                    return;
                }
            }
        }
        let owner = m.owner();
        let found = match (&owner, listener_actions) {
            (ActionOwner::Listener(_), Some(actions)) => Ok(Some(actions)),
            _ => retry_transient(ctx.deadline().into_std(), &ctx.cancel, || elbv2::find_actions(aws, &owner)).await,
        };
        let actions = match found {
            Ok(Some(a)) => a,
            Ok(None) => {
                req.diags.extend(elb_diag(ElbError::NotFound { owner: owner.describe() }, &m));
                return;
            }
            Err(e) => {
                req.diags.extend(e.into());
                return;
            }
        };
        let result = find_forward(&actions, &owner).map_err(ElbError::NotForward).and_then(|forward| {
            edit_entries(
                &forward.target_groups,
                &m.target_group_arn,
                EntryChange::Set(m.weight as i32),
                m.allow_total_outage,
                &owner.describe(),
            )
            .map_err(ElbError::from)
        });
        match result {
            Err(e) => req.diags.extend(elb_diag(e, &m)),
            Ok(next) => {
                if fleet::is_drain(prior_weight, Some(0)) {
                    req.diags.extend(plan_fleet_guard(ctx, &m, &next).await);
                }
                // (A create's share stays unknown: Terraform plans a create again at apply, when
                // other shards may have moved; the apply reads it.)
                if !creating {
                    plan_share(req, &m);
                }
            }
        }
    }

    async fn create(&self, ctx: &Ctx<ShardData>, req: CreateRequest<Model>) -> Result<Outcome<Model>, Diagnostics> {
        converge(ctx, &req.planned, None).await
    }

    async fn read(&self, ctx: &Ctx<ShardData>, req: ReadRequest<Model>) -> Result<Outcome<Model>, Diagnostics> {
        let m = req.state;
        let owner = m.owner();
        let refresh = || ctx.data.refresh_actions(&owner);
        let Some(actions) = retry_transient(ctx.deadline().into_std(), &ctx.cancel, refresh).await? else {
            return Ok(Outcome::gone());
        };
        // An action that is no longer forward, or lost our entry: the entry is gone.
        let Ok(forward) = find_forward(&actions, &owner) else { return Ok(Outcome::gone()) };
        let Some(weight) = forward.weight_of(&m.target_group_arn) else {
            return Ok(Outcome::gone());
        };
        // The other entries' total weight, for the plan's share after a change: kept with the
        // refreshed state, so the plan and Terraform's second plan at apply compute the same
        // share from it (a known planned value must not change in between).
        let mut private = req.private;
        private.set(OTHERS_WEIGHT, &(forward.total_weight() - i64::from(weight)));
        Ok(Outcome::ok(m.read_from(&forward, weight)).with_private(private))
    }

    async fn update(&self, ctx: &Ctx<ShardData>, req: UpdateRequest<Model>) -> Result<Outcome<Model>, Diagnostics> {
        converge(ctx, &req.planned, Some(&req.prior)).await
    }

    async fn delete(&self, ctx: &Ctx<ShardData>, req: DeleteRequest<Model>) -> Result<(), Diagnostics> {
        let m = req.state;
        let change = match m.on_destroy {
            OnDestroy::Retain => return Ok(()),
            OnDestroy::Zero => EntryChange::Set(0),
            OnDestroy::Remove => EntryChange::Remove,
        };
        // Gone already (listener or rule deleted): nothing to do.
        let owner = m.owner();
        let find = || elbv2::find_actions(&ctx.data.aws, &owner);
        if retry_transient(ctx.deadline().into_std(), &ctx.cancel, find).await?.is_none() {
            return Ok(());
        }
        let before =
            edit_locked(&ctx.data.aws, &ctx.cancel, &m.edit(change, ctx.data.lock_priority), ctx.deadline().into_std())
                .await
                .map_err(|e| elb_diag(e, &m))?;
        if before.unwrap_or(0) > 0
            && !m.drain_delay().is_zero()
            && let Err(i) = ctx.sleep(m.drain_delay()).await
        {
            ctx.warn(
                format!("Drain delay {}", interrupted(ctx, i)),
                "the shard is out of traffic; in-flight requests may not have finished",
            );
        }
        Ok(())
    }

    async fn import(&self, ctx: &Ctx<ShardData>, req: ImportRequest) -> Result<Outcome<Model>, Diagnostics> {
        let id = req.id.as_str();
        let diag = Diagnostics::error;
        let usage = "expected `<listener_or_rule_arn>,<target_group_arn>`";
        let (owner_arn, tg) =
            id.split_once(',').ok_or_else(|| diag("Invalid import id", format!("{id:?}: {usage}")))?;
        let (owner_arn, tg) = (owner_arn.trim(), tg.trim());
        ElbArn::parse(tg, ArnKind::TargetGroup).map_err(|e| diag("Invalid import id", format!("{e}; {usage}")))?;
        let (listener_arn, rule_arn) = match ElbArn::parse(owner_arn, ArnKind::ListenerRule) {
            Ok(rule) => (rule.listener_of_rule().unwrap_or_default(), Some(owner_arn.to_string())),
            Err(_) => {
                ElbArn::parse(owner_arn, ArnKind::Listener)
                    .map_err(|e| diag("Invalid import id", format!("{e}; {usage}")))?;
                (owner_arn.to_string(), None)
            }
        };
        let m = Model::unread(listener_arn, rule_arn, tg.to_string());
        let owner = m.owner();
        let (_, forward) = elbv2::read_forward(&ctx.data.aws, &owner).await.map_err(|e| elb_diag(e, &m))?;
        let Some(weight) = forward.weight_of(tg) else {
            let present: Vec<&str> = forward.target_groups.iter().map(|t| t.arn.as_str()).collect();
            return Err(diag(
                "Cannot import: target group not in the action",
                format!("{tg} is not in the forward action of {}; it holds {}", owner.describe(), present.join(", ")),
            ));
        };
        Ok(Outcome::ok(m.read_from(&forward, weight)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramps_move_in_steps_and_end_on_target() {
        assert_eq!(ramp_steps(0, 30, 10), vec![10, 20, 30]);
        assert_eq!(ramp_steps(0, 25, 10), vec![10, 20, 25]);
        assert_eq!(ramp_steps(50, 0, 20), vec![30, 10, 0]);
        assert_eq!(ramp_steps(7, 7, 5), Vec::<i64>::new());
        assert_eq!(ramp_steps(0, 3, 0), vec![1, 2, 3], "a zero step still progresses");
        // Checked arithmetic at the edges (issue 16, item 12): no overflow, still ends on target.
        assert_eq!(ramp_steps(i64::MAX - 1, i64::MAX, i64::MAX), vec![i64::MAX]);
        assert_eq!(ramp_steps(i64::MIN + 1, i64::MIN, i64::MAX), vec![i64::MIN]);
        assert_eq!(ramp_steps(0, 5, -3), vec![1, 2, 3, 4, 5], "a negative step is one");
    }
}

#[cfg(test)]
mod step_tests {
    use super::*;
    use Step::*;

    const S: Duration = Duration::from_secs(1);

    fn course(start: Option<i32>, target: i32) -> Course {
        Course { start, target, ramp: None, min_healthy: 1, drain_delay: Duration::ZERO, guard: None }
    }

    #[test]
    fn a_new_entry_joins_at_zero_waits_for_health_then_writes() {
        assert_eq!(plan_steps(&course(None, 50)), vec![Join, WaitHealthy { min: 1 }, Set(50)]);
        assert_eq!(plan_steps(&course(Some(0), 50)), vec![WaitHealthy { min: 1 }, Set(50)], "already in the action");
        assert_eq!(plan_steps(&course(None, 0)), vec![Set(0)], "joining at 0 needs no gate");
    }

    #[test]
    fn no_gate_when_disabled_lowering_or_already_serving() {
        assert_eq!(plan_steps(&Course { min_healthy: 0, ..course(None, 50) }), vec![Set(50)], "no gate, no join");
        assert_eq!(plan_steps(&course(Some(50), 10)), vec![Set(10)]);
        assert_eq!(plan_steps(&course(Some(10), 50)), vec![Set(50)], "a single step up from serving is not gated");
        assert_eq!(plan_steps(&course(Some(50), 50)), Vec::<Step>::new(), "only settings changed");
    }

    #[test]
    fn a_ramp_waits_first_rechecks_before_each_later_rise_and_pauses_between_steps() {
        let c = Course { ramp: Some((20, 3 * S)), ..course(Some(0), 50) };
        assert_eq!(
            plan_steps(&c),
            vec![
                WaitHealthy { min: 1 },
                Set(20),
                Pause(3 * S),
                CheckHealthy { min: 1 },
                Set(40),
                Pause(3 * S),
                CheckHealthy { min: 1 },
                Set(50)
            ]
        );
        let down = Course { ramp: Some((30, S)), drain_delay: 5 * S, ..course(Some(60), 0) };
        assert_eq!(plan_steps(&down), vec![Set(30), Pause(S), Set(0), Drain(5 * S)]);
    }

    #[test]
    fn the_metric_guard_judges_each_step_before_the_next_rise_and_bakes_at_the_target() {
        let guard = Some(GuardCourse { bake: 60 * S, every: 10 * S });
        let c = Course { ramp: Some((20, 3 * S)), guard, ..course(Some(0), 50) };
        assert_eq!(
            plan_steps(&c),
            vec![
                WaitHealthy { min: 1 },
                Set(20),
                Pause(3 * S),
                Guard,
                CheckHealthy { min: 1 },
                Set(40),
                Pause(3 * S),
                Guard,
                CheckHealthy { min: 1 },
                Set(50),
                Bake { time: 60 * S, every: 10 * S }
            ]
        );
        // A single raise bakes at the target; lowering and staying are not judged.
        let c = Course { guard, ..course(Some(10), 50) };
        assert_eq!(plan_steps(&c), vec![Set(50), Bake { time: 60 * S, every: 10 * S }]);
        let down = Course { ramp: Some((30, S)), guard, ..course(Some(60), 0) };
        assert_eq!(plan_steps(&down), vec![Set(30), Pause(S), Set(0)]);
        assert_eq!(plan_steps(&Course { guard, ..course(Some(50), 50) }), Vec::<Step>::new());
    }

    #[test]
    fn going_to_zero_drains_only_with_a_delay_and_a_write() {
        let c = Course { drain_delay: 30 * S, ..course(Some(40), 0) };
        assert_eq!(plan_steps(&c), vec![Set(0), Drain(30 * S)]);
        let c = Course { drain_delay: 30 * S, ..course(Some(0), 0) };
        assert_eq!(plan_steps(&c), Vec::<Step>::new());
        assert_eq!(plan_steps(&course(Some(40), 0)), vec![Set(0)]);
    }

    #[test]
    fn failures_roll_back_only_after_a_write_and_never_for_interrupted_waits() {
        assert_eq!(recovery(&WaitHealthy { min: 1 }, None, false), Recovery::NothingChanged);
        assert_eq!(recovery(&WaitHealthy { min: 1 }, None, true), Recovery::RollBackTo(None), "a joined entry leaves");
        assert_eq!(recovery(&Set(20), Some(0), false), Recovery::NothingChanged);
        assert_eq!(recovery(&CheckHealthy { min: 1 }, Some(0), true), Recovery::RollBackTo(Some(0)));
        assert_eq!(recovery(&Set(40), None, true), Recovery::RollBackTo(None));
        assert_eq!(recovery(&Pause(S), Some(0), true), Recovery::KeepReached);
        assert_eq!(recovery(&Drain(S), Some(50), true), Recovery::KeepReached);
    }
}
