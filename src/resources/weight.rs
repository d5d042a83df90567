//! `shard_weight`: one shard's target-group weight in the shared listener's weighted forward
//! action. Each shard directory owns only its own entry; every write goes through the
//! cross-process listener lock (clients::listener_lock) and preserves every other entry, its
//! order and the stickiness configuration.

use crate::clients::arn::{self, ArnKind, ElbArn};
use crate::clients::aws::AwsClients;
use crate::clients::elbv2::{self, ActionOwner, EntryChange, Forward};
use crate::clients::listener_lock::ListenerLock;
use crate::data_sources::listener::check_rule_belongs;
use crate::framework::resource::{decode, encode};
use crate::framework::schema::{Attribute, IdentityAttribute, IdentitySchema, NestedBlock, validators};
use crate::framework::timeouts::{Op, Timeouts, format_duration, parse_duration, timeouts_block};
use crate::framework::{
    ApplyRequest, ApplyResponse, Attr, AttrPath, Ctx, Diagnostics, Interrupted, PlanRequest, Resource, Schema,
    ValidateRequest,
};
use crate::protocol::value::Value;
use crate::provider::ShardData;
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::Action;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How often a health wait polls DescribeTargetHealth.
const HEALTH_POLL: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct WeightResource {
    /// (action owner, target group) keys planned in this process, to catch two resources of one
    /// configuration managing the same entry (Terraform plans a whole configuration in one
    /// provider process).
    /// Per key: (plans of existing instances, plans of new ones).
    claims: Mutex<HashMap<(String, String), (u32, u32)>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
struct Model {
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
    timeouts: Option<Timeouts>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
struct Ramp {
    step: i64,
    interval: String,
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
    fn timeout(&self, op: Op) -> Duration {
        self.timeouts.clone().unwrap_or_default().get(op, DEFAULT_TIMEOUT)
    }
    fn drain_delay(&self) -> Duration {
        parse_duration(&self.drain_delay).unwrap_or(Duration::ZERO)
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
        w = if to > w { (w + step).min(to) } else { (w - step).max(to) };
        out.push(w);
    }
    out
}

fn diag(summary: impl Into<String>, detail: impl Into<String>) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.error(summary, detail);
    d
}

fn attr_diag(path: &str, summary: impl Into<String>, detail: impl Into<String>) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.attr_error(AttrPath::attr(path), summary, detail);
    d
}

/// One locked read-modify-write of this target group's entry. Returns the weight it had before
/// (None if absent). Writes nothing when the entry already matches.
async fn locked_edit(
    ctx: &Ctx<ShardData>,
    m: &Model,
    change: EntryChange,
    deadline: Instant,
) -> Result<Option<i32>, Diagnostics> {
    let aws = &ctx.data.aws;
    let owner = m.owner();
    let lock = ListenerLock::acquire(aws, ctx, &m.listener_arn, deadline).await?;
    let result = edit_under_lock(aws, &owner, &m.target_group_arn, change, m.allow_total_outage).await;
    lock.release(aws).await;
    result
}

/// The owner's actions and the forward action among them (one Describe call).
async fn read_forward(aws: &AwsClients, owner: &ActionOwner) -> Result<(Vec<Action>, Forward), Diagnostics> {
    let actions = elbv2::read_actions(aws, owner).await?;
    let forward = elbv2::find_forward(&actions, owner).map_err(|e| diag("Not a forward action", e))?;
    Ok((actions, forward))
}

async fn edit_under_lock(
    aws: &AwsClients,
    owner: &ActionOwner,
    target_group: &str,
    change: EntryChange,
    allow_total_outage: bool,
) -> Result<Option<i32>, Diagnostics> {
    let (actions, forward) = read_forward(aws, owner).await?;
    let before = forward.weight_of(target_group);
    let next = elbv2::edit_entries(&forward.target_groups, target_group, change, allow_total_outage, &owner.describe())
        .map_err(|e| match e {
            elbv2::EditError::TotalOutage { .. } => attr_diag("weight", "Change refused: total outage", e.to_string()),
            elbv2::EditError::TooManyTargetGroups { .. } => {
                attr_diag("target_group_arn", "Too many target groups", e.to_string())
            }
            elbv2::EditError::LastTargetGroup { .. } => attr_diag("on_destroy", "Cannot remove", e.to_string()),
        })?;
    if next == forward.target_groups {
        return Ok(before);
    }
    let written = elbv2::write_actions(aws, owner, elbv2::with_target_groups(&actions, forward.index, &next)).await?;
    // Read-back: ELBv2 answers Modify with the actions it now holds.
    let after = elbv2::find_forward(&written, owner).map_err(|e| diag("Unexpected action after write", e))?;
    if after.target_groups != next {
        return Err(diag(
            "Weight not applied as written",
            format!(
                "{} holds {:?} after the write, expected {:?}; another client changed it at the same moment",
                owner.describe(),
                after.target_groups,
                next
            ),
        ));
    }
    tracing::info!(owner = %owner.describe(), %target_group, ?change, "forward action updated");
    Ok(before)
}

/// Waits until the target group has `min` healthy targets, bounded by `deadline`.
async fn wait_healthy(
    ctx: &Ctx<ShardData>,
    target_group: &str,
    min: i64,
    deadline: Instant,
) -> Result<(), Diagnostics> {
    let started = Instant::now();
    loop {
        let h = elbv2::target_health(&ctx.data.aws, target_group).await?;
        if h.healthy >= min {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(attr_diag(
                "min_healthy_targets",
                "Target group not healthy",
                format!(
                    "{target_group} has {} healthy target(s) ({} not healthy), needs {min} before it receives traffic; \
                     waited {}. Register healthy targets, raise the timeout, or set min_healthy_targets = 0",
                    h.healthy,
                    h.unhealthy,
                    format_duration(started.elapsed())
                ),
            ));
        }
        if let Err(Interrupted::Cancelled) = ctx.sleep(HEALTH_POLL.min(deadline - now)).await {
            return Err(diag("Cancelled while waiting for healthy targets", "the weight was not changed"));
        }
    }
}

/// Sleeps `d`, unless Terraform stops us first or the operation's deadline comes before the end.
async fn pause(ctx: &Ctx<ShardData>, d: Duration, deadline: Instant, limit: Duration) -> Result<(), Interrupted> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if d > remaining {
        ctx.sleep(remaining).await?;
        return Err(Interrupted::TimedOut(limit));
    }
    ctx.sleep(d).await
}

/// Drives the entry from its current weight to the model's weight: health gate, optional ramp,
/// drain delay. Returns the response with the state that matches reality.
async fn converge(ctx: &Ctx<ShardData>, m: &Model, prior: Option<&Model>, op: Op) -> ApplyResponse {
    let deadline = Instant::now() + m.timeout(op);
    let owner = m.owner();
    let mut state = m.clone();
    state.id = Attr::Known(m.id());
    let target = m.weight as i32;

    // Where the entry starts. A ramp needs the live weight; a single step can go by the
    // refreshed prior state (absent on create), which saves a Describe call per change.
    let start = if m.ramp.is_some() {
        match read_forward(&ctx.data.aws, &owner).await {
            Ok((_, f)) => f.weight_of(&m.target_group_arn),
            Err(d) => return d.into(),
        }
    } else {
        prior.map(|p| p.weight as i32)
    };
    let steps: Vec<i64> = match &m.ramp {
        Some(r) => ramp_steps(i64::from(start.unwrap_or(0)), m.weight, r.step),
        // Only settings changed (gate, drain, destroy mode): nothing to write.
        None if start == Some(target) => Vec::new(),
        None => vec![m.weight],
    };
    let interval = m.ramp.as_ref().and_then(|r| parse_duration(&r.interval).ok()).unwrap_or(Duration::ZERO);
    let mut current = start;
    let mut was_serving = start.unwrap_or(0) > 0;
    for (i, step) in steps.iter().enumerate() {
        let step = *step as i32;
        let from_zero = current.unwrap_or(0) == 0;
        let raising = step > current.unwrap_or(0);
        // A rise from zero waits for health; a ramp re-checks once before every later step up.
        if raising && m.min_healthy_targets > 0 && (from_zero || m.ramp.is_some()) {
            let gate = if from_zero {
                wait_healthy(ctx, &m.target_group_arn, m.min_healthy_targets, deadline).await
            } else {
                wait_healthy(ctx, &m.target_group_arn, m.min_healthy_targets, Instant::now()).await
            };
            if let Err(mut d) = gate {
                if i == 0 {
                    return d.into();
                }
                return roll_back(ctx, m, start, current, deadline, &mut d).await;
            }
        }
        match locked_edit(ctx, m, EntryChange::Set(step), deadline).await {
            Ok(before) => {
                // The live weight before the first write decides whether a drain is due.
                if i == 0 {
                    was_serving = before.unwrap_or(0) > 0;
                }
                current = Some(step);
            }
            Err(mut d) => {
                if i == 0 {
                    return d.into();
                }
                return roll_back(ctx, m, start, current, deadline, &mut d).await;
            }
        }
        if i + 1 < steps.len()
            && let Err(e) = pause(ctx, interval, deadline, m.timeout(op)).await
        {
            state.weight = i64::from(step);
            return ApplyResponse::failed(
                encode(&state).unwrap_or_default(),
                diag(
                    format!("Ramp {e}"),
                    format!(
                        "the weight stays at {step}, the last completed step (target was {target}); apply again to continue"
                    ),
                ),
            );
        }
    }
    if target == 0 && was_serving && !m.drain_delay().is_zero() {
        tracing::info!(delay = %m.drain_delay, "draining before returning");
        if let Err(e) = pause(ctx, m.drain_delay(), deadline, m.timeout(op)).await {
            return ApplyResponse::failed(
                encode(&state).unwrap_or_default(),
                diag(format!("Drain delay {e}"), "the weight is 0; in-flight requests may not have finished"),
            );
        }
    }
    match encode(&state) {
        Ok(v) => ApplyResponse::ok(v),
        Err(d) => d.into(),
    }
}

/// After a failed ramp step: put the weight back where the ramp started, then fail saying so.
async fn roll_back(
    ctx: &Ctx<ShardData>,
    m: &Model,
    start: Option<i32>,
    reached: Option<i32>,
    deadline: Instant,
    why: &mut Diagnostics,
) -> ApplyResponse {
    let change = match start {
        Some(w) => EntryChange::Set(w),
        None => EntryChange::Remove,
    };
    // The roll-back must not be cut short by the timeout that may just have expired.
    let rollback_deadline = deadline.max(Instant::now() + Duration::from_secs(60));
    let rolled = locked_edit(ctx, m, change, rollback_deadline).await;
    let reached = reached.map(|w| w.to_string()).unwrap_or_else(|| "none".into());
    let restored = start.map(|w| w.to_string()).unwrap_or_else(|| "absent (removed again)".into());
    let mut d = Diagnostics::new();
    match rolled {
        Ok(_) => {
            d.error(
                "Ramp stopped and rolled back",
                format!(
                    "the ramp reached weight {reached} and failed its next check; the weight is back to {restored}"
                ),
            );
            d.extend(std::mem::take(why));
            // State reflects the restored weight (or nothing, if the entry was new).
            let state = match start {
                Some(w) => {
                    let mut s = m.clone();
                    s.id = Attr::Known(m.id());
                    s.weight = i64::from(w);
                    encode(&s).unwrap_or_default()
                }
                None => Value::Null,
            };
            ApplyResponse::failed(state, d)
        }
        Err(e) => {
            d.error(
                "Ramp failed and the roll-back failed too",
                format!("the weight may still be {reached}; run terraform apply again to converge"),
            );
            d.extend(std::mem::take(why));
            d.extend(e);
            let mut s = m.clone();
            s.id = Attr::Known(m.id());
            s.weight = reached.parse().unwrap_or(m.weight);
            ApplyResponse::failed(encode(&s).unwrap_or_default(), d)
        }
    }
}

#[async_trait]
impl Resource<ShardData> for WeightResource {
    fn name(&self) -> &'static str {
        "weight"
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
                    .validate(arn::validate(ArnKind::Listener))
                    .description("The shared listener."),
                Attribute::string("rule_arn")
                    .optional()
                    .requires_replace()
                    .validate(arn::validate(ArnKind::ListenerRule))
                    .description("Manage this rule's forward action instead of the listener's default action."),
                Attribute::string("target_group_arn")
                    .required()
                    .requires_replace()
                    .validate(arn::validate(ArnKind::TargetGroup))
                    .description("This shard's target group."),
                Attribute::number("weight")
                    .required()
                    .validate(validators::int_between(0, 999))
                    .description("Weight in the forward action, 0..999. 0 takes the shard out of traffic."),
                Attribute::number("min_healthy_targets")
                    .default(1)
                    .validate(validators::int_between(0, 10_000))
                    .description("Before raising the weight above 0, wait (up to the timeout) for this many healthy targets. 0 disables the gate."),
                Attribute::bool("allow_total_outage")
                    .default(false)
                    .description("Allow a change after which every target group of the action has weight 0."),
                Attribute::string("drain_delay")
                    .default("0s")
                    .validate(validators::duration())
                    .description("After lowering the weight to 0, wait this long so in-flight requests finish before dependent resources proceed."),
                Attribute::string("on_destroy")
                    .default("remove")
                    .validate(validators::one_of(&["remove", "zero", "retain"]))
                    .description("On destroy: `remove` the target group from the action, set it to weight 0 (`zero`), or touch nothing (`retain`)."),
            ],
        )
        .with_block(NestedBlock::single(
            "ramp",
            "Move to the target weight in steps, re-checking target health before each step up.",
            vec![
                Attribute::number("step").required().validate(validators::int_between(1, 999)).description("Weight change per step."),
                Attribute::string("interval").required().validate(validators::duration()).description("Wait between steps, e.g. \"30s\"."),
            ],
        ))
        .with_block(timeouts_block(&[Op::Create, Op::Update, Op::Delete]))
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
            return Err(diag("Incomplete identity", "listener_arn and target_group_arn are required"));
        };
        Ok(resource_id(&get("rule_arn").unwrap_or(listener), &tg))
    }

    async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
        let mut d = Diagnostics::new();
        let c = &req.config;
        if let (Some(l), Some(r)) = (c.get("listener_arn").as_str(), c.get("rule_arn").as_str())
            && ElbArn::parse(l, ArnKind::Listener).is_ok()
            && ElbArn::parse(r, ArnKind::ListenerRule).is_ok()
            && let Err(e) = check_rule_belongs(l, r)
        {
            d.attr_error(AttrPath::attr("rule_arn"), "Rule of another listener", e);
        }
        d
    }

    async fn modify_plan(&self, ctx: &Ctx<ShardData>, req: &mut PlanRequest) {
        // Remote checks need known values; unknown ones are checked again at apply.
        let Ok(m) = decode::<Model>("plan", &req.planned) else { return };
        let prior: Option<Model> = decode("prior state", &req.prior).ok();
        let key = (m.owner().arn().to_string(), m.target_group_arn.clone());
        let same_object = prior
            .as_ref()
            .is_some_and(|p| (p.owner().arn(), p.target_group_arn.as_str()) == (key.0.as_str(), key.1.as_str()));
        // A replacement is planned twice in one process (as an update with a prior state, then as a
        // create without one), so only two claims of the same kind are certainly two resources.
        let replacing = prior.is_some() && !same_object;
        if !replacing {
            let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
            let (existing, new) = claims.entry(key.clone()).or_insert((0, 0));
            let count = if prior.is_some() { existing } else { new };
            *count += 1;
            if *count > 1 {
                req.diags.attr_error(
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
        }
        // With provider settings still unknown (e.g. an endpoint created in this run), AWS cannot
        // be asked yet; apply runs the same checks under the lock before writing.
        if !ctx.data.aws.settings().unknown.is_empty() {
            return;
        }
        let creating = prior.is_none();
        let lowering_to_zero = m.weight == 0 && prior.as_ref().is_none_or(|p| p.weight != 0);
        if !creating && !lowering_to_zero {
            return;
        }
        let aws = &ctx.data.aws;
        let mut listener_actions = None;
        if creating {
            match elbv2::placements(aws, &m.listener_arn, &m.target_group_arn).await {
                Ok(p) => {
                    listener_actions = Some(p.listener_actions);
                    if let Some(why) = elbv2::placement_mismatch(&p.load_balancer, &p.target_group) {
                        req.diags.attr_error(
                            AttrPath::attr("target_group_arn"),
                            "Target group cannot join this listener",
                            why,
                        );
                        return;
                    }
                }
                Err(d) => {
                    req.diags.extend(d);
                    return;
                }
            }
        }
        let owner = m.owner();
        let found = match (&owner, listener_actions) {
            (ActionOwner::Listener(_), Some(actions)) => Ok(Some(actions)),
            _ => elbv2::find_actions(aws, &owner).await,
        };
        let actions = match found {
            Ok(Some(a)) => a,
            Ok(None) => {
                let path = if m.rule_arn.is_some() { "rule_arn" } else { "listener_arn" };
                req.diags.attr_error(AttrPath::attr(path), "Not found", format!("{} does not exist", owner.describe()));
                return;
            }
            Err(d) => {
                req.diags.extend(d);
                return;
            }
        };
        let forward = match elbv2::find_forward(&actions, &owner) {
            Ok(f) => f,
            Err(e) => {
                let path = if m.rule_arn.is_some() { "rule_arn" } else { "listener_arn" };
                req.diags.attr_error(AttrPath::attr(path), "Not a forward action", e);
                return;
            }
        };
        if let Err(e) = elbv2::edit_entries(
            &forward.target_groups,
            &m.target_group_arn,
            EntryChange::Set(m.weight as i32),
            m.allow_total_outage,
            &owner.describe(),
        ) {
            let path = match e {
                elbv2::EditError::TotalOutage { .. } => "weight",
                _ => "target_group_arn",
            };
            req.diags.attr_error(AttrPath::attr(path), "Change refused", e.to_string());
        }
    }

    async fn create(&self, ctx: &Ctx<ShardData>, req: ApplyRequest) -> ApplyResponse {
        match decode::<Model>("plan", &req.planned) {
            Ok(m) => converge(ctx, &m, None, Op::Create).await,
            Err(d) => d.into(),
        }
    }

    async fn read(&self, ctx: &Ctx<ShardData>, state: Value) -> Result<Value, Diagnostics> {
        let mut m: Model = decode("state", &state)?;
        let owner = m.owner();
        let Some(actions) = elbv2::find_actions(&ctx.data.aws, &owner).await? else {
            return Ok(Value::Null);
        };
        // An action that is no longer forward, or lost our entry: the entry is gone.
        let Some(weight) = elbv2::find_forward(&actions, &owner).ok().and_then(|f| f.weight_of(&m.target_group_arn))
        else {
            return Ok(Value::Null);
        };
        m.weight = i64::from(weight);
        m.id = Attr::Known(m.id());
        encode(&m)
    }

    async fn update(&self, ctx: &Ctx<ShardData>, req: ApplyRequest) -> ApplyResponse {
        let (m, prior) = match (decode::<Model>("plan", &req.planned), decode::<Model>("prior state", &req.prior)) {
            (Ok(m), Ok(p)) => (m, p),
            (Err(d), _) | (_, Err(d)) => return d.into(),
        };
        converge(ctx, &m, Some(&prior), Op::Update).await
    }

    async fn delete(&self, ctx: &Ctx<ShardData>, prior: Value) -> Diagnostics {
        let m: Model = match decode("state", &prior) {
            Ok(m) => m,
            Err(d) => return d,
        };
        let change = match m.on_destroy {
            OnDestroy::Retain => return Diagnostics::new(),
            OnDestroy::Zero => EntryChange::Set(0),
            OnDestroy::Remove => EntryChange::Remove,
        };
        // Gone already (listener or rule deleted): nothing to do.
        match elbv2::find_actions(&ctx.data.aws, &m.owner()).await {
            Ok(None) => return Diagnostics::new(),
            Ok(Some(_)) => {}
            Err(d) => return d,
        }
        let deadline = Instant::now() + m.timeout(Op::Delete);
        match locked_edit(ctx, &m, change, deadline).await {
            Ok(before) => {
                if before.unwrap_or(0) > 0
                    && !m.drain_delay().is_zero()
                    && let Err(e) = pause(ctx, m.drain_delay(), deadline, m.timeout(Op::Delete)).await
                {
                    let mut d = Diagnostics::new();
                    d.warning(
                        format!("Drain delay {e}"),
                        "the shard is out of traffic; in-flight requests may not have finished",
                    );
                    return d;
                }
                Diagnostics::new()
            }
            Err(d) => d,
        }
    }

    async fn import(&self, ctx: &Ctx<ShardData>, id: &str) -> Result<Value, Diagnostics> {
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
        let m = Model {
            id: Attr::Known(resource_id(owner_arn, tg)),
            listener_arn,
            rule_arn,
            target_group_arn: tg.to_string(),
            weight: 0,
            min_healthy_targets: 1,
            allow_total_outage: false,
            drain_delay: "0s".into(),
            on_destroy: OnDestroy::Remove,
            ramp: None,
            timeouts: None,
        };
        let owner = m.owner();
        let actions = elbv2::read_actions(&ctx.data.aws, &owner).await?;
        let forward = elbv2::find_forward(&actions, &owner).map_err(|e| diag("Cannot import", e))?;
        let Some(weight) = forward.weight_of(tg) else {
            let present: Vec<&str> = forward.target_groups.iter().map(|t| t.arn.as_str()).collect();
            return Err(diag(
                "Cannot import: target group not in the action",
                format!("{tg} is not in the forward action of {}; it holds {}", owner.describe(), present.join(", ")),
            ));
        };
        encode(&Model { weight: i64::from(weight), ..m })
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
    }
}
