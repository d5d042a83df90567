//! `shard_rollout_gate`: an Argo Rollout's canary / blue-green progress on one shard, as declared
//! state. The gate is *desired progress*: Read reports the progress reached (so a new revision
//! that restarted the canary shows as a diff), apply promotes the way the Rollouts CLI does and
//! follows a watch until the target holds, fails fast on Degraded or aborted, and delete touches
//! nothing on the cluster. Argo's semantics (phase, patches, decisions) live in
//! [`crate::argo::rollouts`]; the calls to the cluster in [`follow`]; the import id in
//! [`import_id`].

mod actions;
mod follow;
mod import_id;
mod list;
mod model;

pub use actions::{AbortAction, PromoteAction, RetryAction};
pub use model::Model;

use crate::argo::rollouts::{self, RolloutView, Target};
use crate::clients::ShardData;
use crate::clients::kubernetes::{BlockKind, Connection, connection_block, names};
use crate::framework::resource::decode;
use crate::framework::schema::{Attribute, IdentityAttribute, IdentitySchema, validators};
use crate::framework::timeouts::{Op, format_duration, timeouts_block_with_defaults};
use crate::framework::{
    AttrPath, CreateRequest, Ctx, DeleteRequest, Diagnostics, ImportRequest, Outcome, PlanRequest, ReadRequest,
    Resource, Schema, UpdateRequest, ValidateRequest,
};
use crate::protocol::value::Value;
use async_trait::async_trait;
use follow::{Stop, abort, client_for, follow, get_rollout, missing, rollout_api};
use std::time::Duration;

/// Canary analysis and bake times are long; the example uses 30 minutes.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

#[derive(Default)]
pub struct RolloutGateResource;

/// Drives the Rollout to the model's target: watch, promote at each pause below it, return as
/// soon as it holds.
async fn converge(ctx: &Ctx<ShardData>, m: &Model, creating: bool) -> Result<Outcome<Model>, Diagnostics> {
    let client = client_for(ctx, m).await?;
    let api = rollout_api(&client, &m.namespace);
    let target = m.target();
    let mut policy = m.policy();
    let stop = match follow(ctx, &client, &api, m, target, &mut policy).await {
        Ok(view) => {
            tracing::info!(rollout = %m.key(), target = %target.describe(), state = %view.describe(), "rollout gate reached");
            return Ok(Outcome::ok(m.observed(&view)));
        }
        Err(stop) => stop,
    };
    let key = m.key();
    let want = target.describe();
    let (view, diags) = match stop {
        Stop::Error(d) => return Err(d),
        Stop::Partial(view, d) => (view, d),
        Stop::Blocked { view, summary, message } => (Some(view), Diagnostics::error(summary, message)),
        Stop::Failed { view, already_aborted, message } => {
            let mut detail = format!("Rollout {key} cannot reach {want}: {message} (at {}).", view.describe());
            if already_aborted {
                detail.push_str(
                    " It is aborted (status.abort): Argo Rollouts moves traffic back to the stable revision.",
                );
            } else if m.abort_on_failure {
                detail.push_str(&abort(ctx, &client, &api, m, target, &policy).await);
            } else {
                detail.push_str(" It was not aborted (abort_on_failure is false).");
            }
            detail.push_str(
                " Fix the cause, then retry (`kubectl argo rollouts retry rollout`) or push a new revision, and apply again.",
            );
            let summary = if view.abort { "Rollout aborted" } else { "Rollout degraded" };
            (Some(view), Diagnostics::error(summary, detail))
        }
        Stop::TimedOut { view, last, waited } => {
            let mut detail = format!(
                "Rollout {key} did not reach {want} within {} (waited {}); last seen: {last}.",
                format_duration(ctx.limit()),
                format_duration(waited)
            );
            if m.abort_on_failure {
                detail.push_str(&abort(ctx, &client, &api, m, target, &policy).await);
            }
            (view, Diagnostics::error("Timed out waiting for the Rollout", detail))
        }
        Stop::Cancelled(view) => {
            let at = view.as_ref().map(RolloutView::describe).unwrap_or_else(|| "not read yet".into());
            let d = Diagnostics::error(
                "Cancelled while waiting for the Rollout",
                format!(
                    "cancelled: Terraform asked the provider to stop (Ctrl-C). Rollout {key} is at {at}; it was not \
                     aborted, and apply again continues from there."
                ),
            );
            (view, d)
        }
    };
    // A failed create leaves no gate in state (so the next plan creates it again instead of a
    // tainted replacement); a failed update records the progress reached.
    match (creating, view) {
        (false, Some(view)) => Ok(Outcome::failed(Some(m.observed(&view)), diags)),
        _ => Err(diags),
    }
}

/// Computed attributes, which a pure gate's plan marks unknown while the Rollout is not Healthy.
/// Whether the gate's connection runs a credential plugin (`cluster.exec`): such a gate is
/// refreshed at plan, from configuration, never from state alone (issue 16, item 8).
fn refresh_deferred(m: &Model) -> bool {
    m.cluster.as_ref().is_some_and(|c| c.exec.is_some())
}

/// `prior` refreshed with the configuration's connection (`m`'s cluster block, equal to the
/// state's). None when the plan cannot go on (the diagnostics say why): the Rollout is gone,
/// or the cluster cannot be read, which a refresh would also have failed on.
async fn refresh_at_plan(ctx: &Ctx<ShardData>, m: &Model, prior: &Model, diags: &mut Diagnostics) -> Option<Model> {
    let found = match client_for(ctx, m).await {
        Ok(client) => get_rollout(ctx, &client, m).await,
        Err(e) => Err(e),
    };
    match found {
        Ok(Some(view)) => Some(prior.observed(&view)),
        Ok(None) => {
            diags.push_attr_error(
                AttrPath::attr("name"),
                "Rollout not found",
                format!(
                    "the Rollout {} this gate follows is gone from {}; remove the gate from state \
                     (terraform state rm) or recreate the Rollout",
                    m.key(),
                    m.describe_cluster()
                ),
            );
            None
        }
        Err(e) => {
            diags.extend(e);
            None
        }
    }
}

const COMPUTED: &[&str] = &[
    "strategy",
    "phase",
    "message",
    "current_step",
    "step_count",
    "canary_weight",
    "stable_revision",
    "current_revision",
    "fully_promoted",
];

#[async_trait]
impl Resource<ShardData> for RolloutGateResource {
    type Model = Model;

    fn name(&self) -> &'static str {
        "rollout_gate"
    }

    fn default_timeout(&self, op: Op) -> Duration {
        match op {
            Op::Create | Op::Update => DEFAULT_TIMEOUT,
            _ => crate::framework::resource::DEFAULT_OPERATION_TIMEOUT,
        }
    }

    fn schema(&self) -> Schema {
        let computed = |a: Attribute, text: &str| a.computed().description(text);
        Schema::new(
            "An Argo Rollout's progress on one shard as declared state: promote a canary to a step, promote it \
             fully (or a blue-green preview to active), or just wait until it is Healthy. Apply promotes exactly as \
             `kubectl argo rollouts promote` does and follows a watch until the Rollout gets there; a new revision that \
             restarts the canary shows as a diff. Destroying the gate touches nothing on the cluster.",
            vec![
                Attribute::string("id").computed().use_state_for_unknown().description("`<namespace>/<name>`."),
                Attribute::string("cluster_ref")
                    .computed()
                    .use_state_for_unknown()
                    .description("The `cluster` block as the import id's suffix (e.g. `eks_cluster_name=shard-2`; empty for the provider's `hub`), part of the resource identity so that an import by identity reaches the same cluster. `exec` settings are never part of it: a gate whose cluster needs a credential plugin is imported by id."),
                Attribute::string("namespace")
                    .required()
                    .requires_replace()
                    .validate(validators::string(names::dns_label))
                    .description("Namespace of the Rollout. Changing it forces replacement."),
                Attribute::string("name")
                    .required()
                    .requires_replace()
                    .validate(validators::string(names::dns_subdomain))
                    .description("Name of the Rollout (`argoproj.io/v1alpha1`). Changing it forces replacement."),
                Attribute::number("promote_to_step")
                    .optional()
                    .validate(validators::int_between(0, 10_000))
                    .description("Canary: promote through indefinite pauses until steps 0 to n-1 have completed, i.e. `status.currentStepIndex` is at least this value (0-based index of the step the Rollout then moves on to); the step count means every step done and the revision promoted to stable (`stable_revision == current_revision`). Never promotes past it, never cuts a timed pause short."),
                Attribute::bool("promote_full")
                    .optional()
                    .description("Full promotion as `kubectl argo rollouts promote --full` does, on either strategy (`status.promoteFull`): skips the remaining steps, pauses (timed ones too) and analysis; a blue-green preview becomes active without its bake or pre-promotion analysis. Then wait until Healthy and fully promoted. Conflicts with `promote_to_step`."),
                Attribute::number("promote_to_weight")
                    .optional()
                    .validate(validators::int_between(1, 100))
                    .description("Canary: promote until the canary's weight is at least this percentage: through indefinite pauses until the first `setWeight` step of this value or more has completed (then the gate stops, as `promote_to_step` would at the step after it). A weight no `setWeight` step reaches fails at plan (or apply). State holds the weight reached, so the plan shows lost progress. Conflicts with `promote_to_step` and `promote_full`."),
                Attribute::bool("abort_on_failure")
                    .default(false)
                    .description("When the Rollout turns Degraded during the wait, or the wait times out while the revision is progressing: abort it (`status.abort=true`, as `kubectl argo rollouts abort`) before failing. Only the revision the gate was promoting, never one parked at a pause, never with a pure gate (no target); sent with a resourceVersion precondition. Ctrl-C never aborts. Default: `false`."),
                Attribute::bool("promote_inconclusive")
                    .default(false)
                    .description("Promote through an inconclusive analysis or experiment (pause reasons `InconclusiveAnalysisRun`, `InconclusiveExperiment`) as `kubectl argo rollouts promote` does. When false, the apply fails naming the analysis and touches nothing: Argo Rollouts waits for a person there. Default: `false`."),
                Attribute::bool("lift_manual_pause")
                    .default(false)
                    .description("Lift an operator's pause (`spec.paused`, as `kubectl argo rollouts pause` sets it) to reach the target. When false, the apply fails naming the pause and touches nothing. Default: `false`."),
                Attribute::bool("retry_aborted")
                    .default(false)
                    .description("An aborted Rollout is retried as declared state: when the revision the gate promotes is aborted, send `kubectl argo rollouts retry`'s patch (`status.abort=false`; Argo restarts the steps) once per apply, then promote as usual. Aborted again in the same apply, it fails. Never for a pure gate (no target). Default: `false`."),
                computed(Attribute::string("strategy"), "`canary` or `blueGreen`."),
                computed(Attribute::string("phase"), "`Healthy`, `Progressing`, `Paused` or `Degraded`, computed as Argo's tools do."),
                computed(Attribute::string("message"), "Argo's message for the phase (e.g. `CanaryPauseStep`)."),
                computed(Attribute::number("current_step"), "Canary: `status.currentStepIndex` (0 when unset). Null for blue-green."),
                computed(Attribute::number("step_count"), "Canary: number of steps. Null for blue-green."),
                computed(Attribute::number("canary_weight"), "Canary: the canary's traffic weight as `kubectl argo rollouts get` shows it (0 once aborted, 100 after the last step, else the routed weight with traffic routing or the current `setWeight`). Null for blue-green."),
                computed(Attribute::string("stable_revision"), "`status.stableRS`: pod template hash of the stable ReplicaSet."),
                computed(Attribute::string("current_revision"), "`status.currentPodHash`: pod template hash of the revision being rolled out. The plan of a promoting gate shows the revision it will promote; the apply promotes no other: a new revision during the apply stops it with an error naming both."),
                computed(Attribute::bool("fully_promoted"), "`stable_revision == current_revision`."),
            ],
        )
        .with_block(
            connection_block(
                "cluster",
                "The shard's cluster; set exactly one source: `eks_cluster_name`, `config_path` or `host`. No `token` here (the block is stored in state): use `eks_cluster_name`, a kubeconfig, or `host` with `exec`. Default: the provider's `hub`. Changing it forces replacement.",
                BlockKind::Resource,
            )
            .requires_replace(),
        )
        .with_block(timeouts_block_with_defaults(&[Op::Create, Op::Update], |op| self.default_timeout(op)))
    }

    async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
        let mut d = Diagnostics::new();
        let config = &req.config;
        let set = |name: &str| config.get(name).as_i64().is_some() || config.get(name).is_unknown();
        let full = config.get("promote_full").as_bool() == Some(true) || config.get("promote_full").is_unknown();
        if set("promote_to_step") && config.get("promote_full").as_bool() == Some(true) {
            d.push_attr_error(
                AttrPath::attr("promote_full"),
                "Conflicting targets",
                "set promote_to_step or promote_full = true, not both",
            );
        }
        if set("promote_to_weight") && (set("promote_to_step") || config.get("promote_full").as_bool() == Some(true)) {
            d.push_attr_error(
                AttrPath::attr("promote_to_weight"),
                "Conflicting targets",
                "set one of promote_to_step, promote_to_weight and promote_full = true",
            );
        }
        let has_target = set("promote_to_step") || set("promote_to_weight") || full;
        // A pure gate promotes, lifts, retries and aborts nothing: these say so where they are set.
        for (name, what) in [
            ("abort_on_failure", "it never aborts the Rollout (a timeout leaves it where it is)"),
            ("retry_aborted", "it never retries the Rollout"),
            ("promote_inconclusive", "it promotes through nothing"),
            ("lift_manual_pause", "it lifts no pause"),
        ] {
            if !has_target && config.get(name).as_bool() == Some(true) {
                d.push_attr_warning(
                    AttrPath::attr(name),
                    format!("{name} has no effect on a gate with no target"),
                    format!(
                        "a gate with none of promote_to_step, promote_to_weight and promote_full = true promotes nothing, so \
                         {what}"
                    ),
                );
            }
        }
        let cluster = config.get("cluster");
        if !cluster.is_null() && !cluster.is_unknown() {
            match decode::<Connection>("cluster block", cluster) {
                Ok(c) => {
                    d.extend(c.validate(&AttrPath::attr("cluster")));
                    if c.is_empty() {
                        d.push_attr_error(
                            AttrPath::attr("cluster"),
                            "Empty cluster block",
                            "set config_path, host or eks_cluster_name, or drop the block to use the provider's hub",
                        );
                    }
                }
                Err(e) => d.extend(e),
            }
        }
        d
    }

    async fn modify_plan(&self, ctx: &Ctx<ShardData>, req: &mut PlanRequest<Model>) {
        let Some(m) = req.planned_model() else { return };
        if m.cluster.is_none() && ctx.data.hub.is_none() {
            req.diags.push_attr_error(
                AttrPath::attr("cluster"),
                "No cluster to reach",
                "the gate has no cluster block and the provider has no hub block: set one of them",
            );
            return;
        }
        let same_object =
            req.prior.as_ref().filter(|p| p.namespace == m.namespace && p.name == m.name && p.cluster == m.cluster);
        let target = m.target();
        // The refreshed prior state. A gate whose connection runs a credential plugin was not
        // refreshed by `read` (see there): its refresh is here, with the command the
        // configuration names (`same_object`: the configuration's cluster block is the state's).
        let refreshed = match same_object {
            Some(prior) if refresh_deferred(prior) => {
                let Some(now) = refresh_at_plan(ctx, &m, prior, &mut req.diags).await else { return };
                // Progress that no longer holds (a new revision reset it, an operator undid a
                // promote) plans an update, as a refresh that lowered `promote_to_step` would.
                if now.promote_to_step != prior.promote_to_step
                    || now.promote_full != prior.promote_full
                    || now.promote_to_weight != prior.promote_to_weight
                {
                    for name in COMPUTED {
                        if let Some(slot) = req.planned.get_mut(name) {
                            *slot = Value::Unknown;
                        }
                    }
                }
                Some(now)
            }
            other => other.cloned(),
        };
        let same_object = refreshed.as_ref();
        // A pure gate has no configured value to differ: while the refreshed Rollout is not
        // Healthy and fully promoted, plan an update (its computed values become unknown).
        if let Some(prior) = same_object
            && target == Target::Healthy
            && !(prior.phase.known().map(String::as_str) == Some(rollouts::HEALTHY)
                && prior.fully_promoted.known() == Some(&true))
        {
            for name in COMPUTED {
                if let Some(slot) = req.planned.get_mut(name) {
                    *slot = Value::Unknown;
                }
            }
        }
        if target == Target::Healthy {
            return;
        }
        // The revision this plan promotes: the refreshed one, unless its status is still the
        // previous spec's (then the apply pins the first revision it sees observed).
        let planned_revision = |rev: Option<&String>, message: Option<&String>| {
            rev.filter(|r| !r.is_empty() && message.map(String::as_str) != Some(rollouts::SPEC_UPDATE_PENDING)).cloned()
        };
        if let Some(prior) = same_object
            && let Some(rev) = planned_revision(prior.current_revision.known(), prior.message.known())
            && let Some(slot) = req.planned.get_mut("current_revision")
        {
            *slot = Value::String(rev);
        }
        // Does the target fit the Rollout? From the refreshed state when it is the same object,
        // else one read (a cluster or Rollout not reachable yet is checked again at apply).
        // (A weight target needs the Rollout's steps, which state does not hold: one read.)
        let problem = match same_object {
            Some(prior) if prior.strategy.known().is_some() && !matches!(target, Target::Weight(_)) => {
                rollouts::target_problem(
                    &m.key(),
                    prior.strategy.known().map(String::as_str).unwrap_or_default(),
                    prior.step_count.known().copied(),
                    target,
                )
            }
            _ => {
                let Ok(client) = client_for(ctx, &m).await else { return };
                match get_rollout(ctx, &client, &m).await {
                    // (A create's plan leaves current_revision unknown: Terraform plans a create
                    // again at apply, and a revision that moved in between would be an
                    // "inconsistent final plan". The apply pins the first revision it sees.)
                    Ok(Some(view)) => {
                        rollouts::target_problem(&m.key(), view.strategy.name(), view.step_count(), target)
                            .or_else(|| rollouts::resolve(&view, target).err())
                    }
                    Ok(None) => {
                        req.diags.push_attr_warning(
                            AttrPath::attr("name"),
                            "Rollout not found (yet)",
                            format!(
                                "no Rollout {} on {} now; the apply fails unless it exists by then",
                                m.key(),
                                client.host
                            ),
                        );
                        None
                    }
                    Err(_) => None,
                }
            }
        };
        if let Some(why) = problem {
            let path = match target {
                Target::Step(_) => "promote_to_step",
                Target::Weight(_) => "promote_to_weight",
                _ => "promote_full",
            };
            req.diags.push_attr_error(AttrPath::attr(path), "Target does not fit the Rollout", why);
        }
    }

    async fn create(&self, ctx: &Ctx<ShardData>, req: CreateRequest<Model>) -> Result<Outcome<Model>, Diagnostics> {
        converge(ctx, &req.planned, true).await
    }

    async fn read(&self, ctx: &Ctx<ShardData>, req: ReadRequest<Model>) -> Result<Outcome<Model>, Diagnostics> {
        let m = req.state;
        if refresh_deferred(&m) {
            // Terraform gives ReadResource no configuration: the plugin command here is only
            // what state names, and whoever can write state must not choose a command the
            // provider runs with the runner's credentials. `modify_plan` refreshes instead.
            tracing::info!(rollout = %m.key(), "refresh at plan: the cluster block runs a credential plugin");
            return Ok(Outcome::ok(m));
        }
        let client = client_for(ctx, &m).await?;
        Ok(match get_rollout(ctx, &client, &m).await? {
            Some(view) => Outcome::ok(m.observed(&view)),
            None => Outcome::gone(),
        })
    }

    async fn update(&self, ctx: &Ctx<ShardData>, req: UpdateRequest<Model>) -> Result<Outcome<Model>, Diagnostics> {
        converge(ctx, &req.planned, false).await
    }

    async fn delete(&self, _ctx: &Ctx<ShardData>, _req: DeleteRequest<Model>) -> Result<(), Diagnostics> {
        // The gate is a desire about progress; forgetting it changes nothing on the cluster.
        Ok(())
    }

    fn identity(&self) -> Option<IdentitySchema> {
        Some(IdentitySchema {
            version: 0,
            attributes: vec![
                IdentityAttribute::string("namespace", true, "Namespace of the Rollout."),
                IdentityAttribute::string("name", true, "Name of the Rollout."),
                IdentityAttribute::string(
                    "cluster_ref",
                    false,
                    "The cluster, as the import id's suffix (`eks_cluster_name=shard-2`); empty or absent for the provider's hub.",
                ),
            ],
        })
    }

    fn import_id(&self, identity: &Value) -> Result<String, Diagnostics> {
        let (Some(namespace), Some(name)) = (identity.get("namespace").as_str(), identity.get("name").as_str()) else {
            return Err(Diagnostics::error("Incomplete identity", "namespace and name are required"));
        };
        Ok(match identity.get("cluster_ref").as_str().filter(|c| !c.is_empty()) {
            Some(cluster) => format!("{namespace}/{name},{cluster}"),
            None => format!("{namespace}/{name}"),
        })
    }

    async fn import(&self, ctx: &Ctx<ShardData>, req: ImportRequest) -> Result<Outcome<Model>, Diagnostics> {
        let (namespace, name, cluster) =
            import_id::parse_import_id(&req.id).map_err(|e| Diagnostics::error("Invalid import id", e))?;
        let m = Model::unread(namespace, name, cluster);
        if let Some(c) = &m.cluster {
            let d = c.validate(&AttrPath::attr("cluster"));
            if d.has_errors() {
                return Err(d);
            }
        }
        let client = client_for(ctx, &m).await?;
        match get_rollout(ctx, &client, &m).await? {
            Some(view) => Ok(Outcome::ok(m.observed(&view))),
            None => Err(missing(ctx, &client, &m).await),
        }
    }
}
