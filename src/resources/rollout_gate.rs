//! `shard_rollout_gate`: an Argo Rollout's canary / blue-green progress on one shard, as declared
//! state. The gate is *desired progress*: Read reports the progress reached (so a new revision
//! that restarted the canary shows as a diff), apply promotes the way the Rollouts CLI does and
//! follows a watch until the target holds, fails fast on Degraded or aborted, and delete touches
//! nothing on the cluster. Argo's semantics (phase, patches, decisions) live in
//! [`crate::clients::rollouts`].

use crate::clients::ShardData;
use crate::clients::kubernetes::{self as kubeconn, BlockKind, Call, Connection, KubeClient};
use crate::clients::rollouts::{self, Decision, Patches, RolloutView, Target};
use crate::framework::resource::decode;
use crate::framework::schema::{Attribute, validators};
use crate::framework::timeouts::{Op, Timeouts, format_duration, timeouts_block_with_defaults};
use crate::framework::{
    Attr, AttrPath, Check, CreateRequest, Ctx, DeleteRequest, Diagnostics, ImportRequest, Outcome, PlanRequest,
    ReadRequest, Resource, Schema, UpdateRequest, ValidateRequest, WaitError,
};
use crate::protocol::value::Value;
use async_trait::async_trait;
use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Canary analysis and bake times are long; the example uses 30 minutes.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// The abort patch after a failure or a timeout gets this long, even past the deadline.
const ABORT_BUDGET: Duration = Duration::from_secs(15);

#[derive(Default)]
pub struct RolloutGateResource;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Model {
    id: Attr<String>,
    namespace: String,
    name: String,
    /// The `cluster` block (no token: it is stored in state); values may be unknown at plan.
    cluster: Option<Connection>,
    promote_to_step: Option<i64>,
    promote_full: Option<bool>,
    abort_on_failure: bool,
    strategy: Attr<String>,
    phase: Attr<String>,
    message: Attr<String>,
    current_step: Attr<i64>,
    step_count: Attr<i64>,
    canary_weight: Attr<i64>,
    stable_revision: Attr<String>,
    current_revision: Attr<String>,
    fully_promoted: Attr<bool>,
    timeouts: Option<Timeouts>,
}

impl Model {
    fn target(&self) -> Target {
        match (self.promote_to_step, self.promote_full) {
            (Some(n), _) => Target::Step(n),
            (None, Some(true)) => Target::Full,
            _ => Target::Healthy,
        }
    }

    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// This model as state: the computed values from `view`, and the desired-progress
    /// attributes holding the progress reached (the target once it holds).
    fn observed(&self, view: &RolloutView) -> Model {
        let (phase, message) = view.phase();
        let non_empty = |s: &str| if s.is_empty() { Attr::Null } else { Attr::Known(s.to_string()) };
        Model {
            id: Attr::Known(self.key()),
            promote_to_step: self.promote_to_step.map(|n| rollouts::step_reached(view, n)),
            promote_full: self.promote_full.map(|f| f && rollouts::holds(view, Target::Full)),
            strategy: Attr::Known(view.strategy.name().to_string()),
            phase: Attr::Known(phase),
            message: Attr::Known(message),
            current_step: view.current_step().into(),
            step_count: view.step_count().into(),
            canary_weight: view.canary_weight().into(),
            stable_revision: non_empty(&view.stable_rs),
            current_revision: non_empty(&view.current_pod_hash),
            fully_promoted: Attr::Known(view.fully_promoted()),
            ..self.clone()
        }
    }

    fn describe_cluster(&self) -> String {
        match &self.cluster {
            None => "the provider's hub".into(),
            Some(c) => c.resolve().map(|s| s.describe()).unwrap_or_else(|_| "its cluster".into()),
        }
    }
}

/// The Kubernetes client for the gate's cluster (its `cluster` block, or the provider's hub).
async fn client_for(ctx: &Ctx<ShardData>, m: &Model) -> Result<KubeClient, Diagnostics> {
    let built = match &m.cluster {
        Some(c) => ctx.bounded(ctx.data.kube_client(c)).await,
        None => ctx.bounded(ctx.data.hub_client()).await,
    };
    match built {
        Ok(r) => r.map_err(Diagnostics::from),
        Err(i) => Err(Diagnostics::error("Could not connect to the cluster", i.to_string())),
    }
}

fn rollout_api(client: &KubeClient, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.client.clone(), namespace, &rollouts::api_resource())
}

fn call(verb: &'static str, resource: &str, namespace: &str) -> Call {
    Call { verb, resource: resource.to_string(), namespace: Some(namespace.to_string()) }
}

fn view_of(obj: &DynamicObject) -> RolloutView {
    RolloutView::from_json(&serde_json::to_value(obj).unwrap_or_default())
}

/// The Rollout, None when there is none; a missing Rollouts CRD is an error saying so.
async fn get_rollout(ctx: &Ctx<ShardData>, client: &KubeClient, m: &Model) -> Result<Option<RolloutView>, Diagnostics> {
    let api = rollout_api(client, &m.namespace);
    let got = ctx
        .bounded(kubeconn::retrying(client, |_| false, || api.get_opt(&m.name)))
        .await
        .map_err(|i| Diagnostics::error(format!("Reading Rollout {} {i}", m.key()), ""))?;
    match got {
        Ok(found) => Ok(found.as_ref().map(view_of)),
        Err(e) => Err(kube_failure(client, "get", "rollouts", m, &e)),
    }
}

/// Whether a 404 is about the resource type itself (the API server answers a path of a type it
/// does not serve with a plain-text "404 page not found", which kube reports with reason "Failed
/// to parse error data"; a missing object is a JSON Status with reason `NotFound`).
fn no_such_type(e: &kube::Error) -> Option<&str> {
    match e {
        kube::Error::Api(status) if status.code == 404 && status.reason != "NotFound" => Some(&status.message),
        _ => None,
    }
}

/// A failed call as a diagnostic; a 404 of the resource type itself means no Rollouts CRD.
fn kube_failure(client: &KubeClient, verb: &'static str, resource: &str, m: &Model, e: &kube::Error) -> Diagnostics {
    if let Some(message) = no_such_type(e) {
        return Diagnostics::attr_error(
            AttrPath::attr("name"),
            "Argo Rollouts is not installed",
            format!(
                "{} has no argoproj.io/v1alpha1 `rollouts` resource (the Argo Rollouts CRDs are not installed): {message}",
                client.host
            ),
        );
    }
    client.error(call(verb, resource, &m.namespace), e).into()
}

/// No Rollout of that name: say so, and say what is there instead if it is a Deployment.
async fn missing(ctx: &Ctx<ShardData>, client: &KubeClient, m: &Model) -> Diagnostics {
    use k8s_openapi::api::apps::v1::Deployment;
    let deployments: Api<Deployment> = Api::namespaced(client.client.clone(), &m.namespace);
    let hint = match ctx.bounded(kubeconn::retrying(client, |_| false, || deployments.get_opt(&m.name))).await {
        Ok(Ok(Some(_))) => format!(
            " There is a Deployment {} there, not a Rollout: the gate follows an argoproj.io/v1alpha1 Rollout (one \
             with spec.workloadRef pointing at the Deployment works).",
            m.key()
        ),
        _ => String::new(),
    };
    Diagnostics::attr_error(
        AttrPath::attr("name"),
        "Rollout not found",
        format!("no Rollout {} on {} ({}).{hint}", m.key(), client.host, m.describe_cluster()),
    )
}

/// One item of the Rollout's watch, as the gate sees it.
enum Seen {
    Listing,
    Object(Box<DynamicObject>),
    Listed,
    Deleted,
    Interrupted(watcher::Error),
}

/// Why a watch round ended.
enum Next {
    Done(RolloutView),
    Promote(RolloutView, Patches),
    Failed { view: RolloutView, aborted: bool, message: String },
    Impossible(String),
    Missing,
    Deleted,
    ListFailed(watcher::Error),
}

/// Follows the watch: the decision for every new state of the Rollout.
struct Tracker {
    target: Target,
    listed_once: bool,
    found_in_list: bool,
    last: Option<RolloutView>,
}

impl Tracker {
    fn on(&mut self, seen: Seen) -> Check<Next> {
        match seen {
            Seen::Listing => {
                self.found_in_list = false;
                Check::NotYet(self.last_text())
            }
            Seen::Object(obj) => {
                self.found_in_list = true;
                let view = view_of(&obj);
                self.last = Some(view.clone());
                match rollouts::decide(&view, self.target) {
                    Decision::Reached => Check::Ready(Next::Done(view)),
                    Decision::Promote(p) => Check::Ready(Next::Promote(view, p)),
                    Decision::Failed { aborted, message } => Check::Ready(Next::Failed { view, aborted, message }),
                    Decision::Impossible(why) => Check::Ready(Next::Impossible(why)),
                    Decision::Wait(why) => Check::NotYet(why),
                }
            }
            Seen::Listed => {
                self.listed_once = true;
                if self.found_in_list { Check::NotYet(self.last_text()) } else { Check::Ready(Next::Missing) }
            }
            Seen::Deleted => Check::Ready(Next::Deleted),
            // The first list failing is a real error (unreachable, 403, no CRD); later the
            // watcher re-lists and re-watches by itself (expiry, 410 Gone, a dropped connection).
            Seen::Interrupted(e) if !self.listed_once => Check::Ready(Next::ListFailed(e)),
            Seen::Interrupted(e) => {
                tracing::debug!(error = %e, "rollout watch interrupted; resuming");
                Check::NotYet(format!("{} (watch interrupted: {e}; resuming)", self.last_text()))
            }
        }
    }

    fn last_text(&self) -> String {
        self.last.as_ref().map(RolloutView::describe).unwrap_or_else(|| "the Rollout was not read yet".into())
    }
}

/// How a converge ended without the target.
enum Stop {
    /// Degraded or aborted (`already_aborted`: status.abort was set before the gate acted).
    Failed {
        view: RolloutView,
        already_aborted: bool,
        message: String,
    },
    TimedOut {
        view: Option<RolloutView>,
        last: String,
        waited: Duration,
    },
    Cancelled(Option<RolloutView>),
    /// Nothing reached the cluster yet, or the failure has nothing to do with progress.
    Error(Diagnostics),
    Partial(Option<RolloutView>, Diagnostics),
}

/// Drives the Rollout to the model's target: watch, promote at each pause below it, return as
/// soon as it holds.
async fn converge(ctx: &Ctx<ShardData>, m: &Model, creating: bool) -> Result<Outcome<Model>, Diagnostics> {
    let client = client_for(ctx, m).await?;
    let api = rollout_api(&client, &m.namespace);
    let target = m.target();
    let stop = match follow(ctx, &client, &api, m, target).await {
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
        Stop::Failed { view, already_aborted, message } => {
            let mut detail = format!("Rollout {key} cannot reach {want}: {message} (at {}).", view.describe());
            if already_aborted {
                detail.push_str(
                    " It is aborted (status.abort): Argo Rollouts moves traffic back to the stable revision.",
                );
            } else if m.abort_on_failure {
                detail.push_str(&abort(&client, &api, m).await);
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
                detail.push_str(&abort(&client, &api, m).await);
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

/// The watch loop of [`converge`].
async fn follow(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    api: &Api<DynamicObject>,
    m: &Model,
    target: Target,
) -> Result<RolloutView, Stop> {
    let config = watcher::Config::default().fields(&format!("metadata.name={}", m.name));
    let mut stream = watcher(api.clone(), config)
        .default_backoff()
        .map(|item| {
            Ok::<_, std::convert::Infallible>(match item {
                Ok(watcher::Event::Init) => Seen::Listing,
                Ok(watcher::Event::InitApply(o) | watcher::Event::Apply(o)) => Seen::Object(Box::new(o)),
                Ok(watcher::Event::InitDone) => Seen::Listed,
                Ok(watcher::Event::Delete(_)) => Seen::Deleted,
                Err(e) => Seen::Interrupted(e),
            })
        })
        .boxed();
    let mut tracker = Tracker { target, listed_once: false, found_in_list: false, last: None };
    tracing::debug!(rollout = %m.key(), target = %target.describe(), "watching rollout");
    // Each promote leaves the watch and re-enters it (the check is synchronous), which restarts
    // the wait's own clock and "last seen": the whole wait is measured here.
    let started = tokio::time::Instant::now();
    loop {
        let next = ctx.watch(stream.by_ref(), |seen| tracker.on(seen)).await;
        let next = match next {
            Ok(n) => n,
            Err(WaitError::TimedOut { last, .. }) => {
                let last = if tracker.last.is_some() && last == "no event yet" { tracker.last_text() } else { last };
                return Err(Stop::TimedOut { view: tracker.last.clone(), last, waited: started.elapsed() });
            }
            Err(WaitError::Cancelled) => return Err(Stop::Cancelled(tracker.last.clone())),
            Err(WaitError::Ended { last }) => {
                return Err(Stop::Partial(
                    tracker.last.clone(),
                    Diagnostics::error("The Rollout watch ended", format!("last seen: {last}")),
                ));
            }
            Err(WaitError::Failed(never)) => match never {},
        };
        match next {
            Next::Done(view) => return Ok(view),
            Next::Failed { view, aborted, message } => {
                return Err(Stop::Failed { view, already_aborted: aborted, message });
            }
            Next::Impossible(why) => {
                let path = if m.promote_to_step.is_some() { "promote_to_step" } else { "promote_full" };
                return Err(Stop::Error(Diagnostics::attr_error(
                    AttrPath::attr(path),
                    "Target does not fit the Rollout",
                    why,
                )));
            }
            Next::Missing => return Err(Stop::Error(missing(ctx, client, m).await)),
            Next::Deleted => {
                return Err(Stop::Partial(
                    tracker.last.clone(),
                    Diagnostics::error("Rollout deleted", format!("Rollout {} was deleted during the wait", m.key())),
                ));
            }
            Next::ListFailed(e) => {
                let d = match &e {
                    watcher::Error::InitialListFailed(k) | watcher::Error::WatchStartFailed(k) => {
                        kube_failure(client, "list", "rollouts", m, k)
                    }
                    other => Diagnostics::error("Could not read the Rollout", other.to_string()),
                };
                return Err(Stop::Error(d));
            }
            Next::Promote(view, patches) => send(ctx, client, api, m, &view, &patches).await?,
        }
    }
}

/// Sends one promote: the status patch (only to the version decided on), then the spec patch,
/// as `kubectl argo rollouts promote` does. A 409 means the Rollout moved since: the watch
/// brings the new state and the gate decides again.
async fn send(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    api: &Api<DynamicObject>,
    m: &Model,
    view: &RolloutView,
    patches: &Patches,
) -> Result<(), Stop> {
    let pp = PatchParams::default();
    let interrupted = |i: crate::framework::Interrupted, view: &RolloutView| match i {
        crate::framework::Interrupted::Cancelled => Stop::Cancelled(Some(view.clone())),
        crate::framework::Interrupted::TimedOut(_) => {
            Stop::TimedOut { view: Some(view.clone()), last: view.describe(), waited: ctx.limit() }
        }
    };
    if let Some(status) = &patches.status {
        let body = rollouts::with_precondition(status, view.resource_version.as_deref());
        tracing::info!(rollout = %m.key(), at = %view.describe(), patch = %status, "promote: status patch");
        let patch = Patch::Merge(&body);
        match ctx.bounded(kubeconn::retrying(client, |_| false, || api.patch_status(&m.name, &pp, &patch))).await {
            Ok(Ok(_)) => {}
            Ok(Err(kube::Error::Api(s))) if s.code == 409 => {
                tracing::debug!(rollout = %m.key(), "promote skipped: the Rollout changed since (409); deciding again");
                return Ok(());
            }
            Ok(Err(e)) => {
                return Err(Stop::Partial(Some(view.clone()), kube_failure(client, "patch", "rollouts/status", m, &e)));
            }
            Err(i) => return Err(interrupted(i, view)),
        }
    }
    if let Some(spec) = &patches.spec {
        tracing::info!(rollout = %m.key(), patch = %spec, "promote: spec patch");
        let patch = Patch::Merge(spec);
        match ctx.bounded(kubeconn::retrying(client, |_| false, || api.patch(&m.name, &pp, &patch))).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(Stop::Partial(Some(view.clone()), kube_failure(client, "patch", "rollouts", m, &e)));
            }
            Err(i) => return Err(interrupted(i, view)),
        }
    }
    Ok(())
}

/// `kubectl argo rollouts abort`, with its own short budget (the operation's deadline may have
/// passed). Returns the sentence the failure message gets.
async fn abort(client: &KubeClient, api: &Api<DynamicObject>, m: &Model) -> String {
    tracing::info!(rollout = %m.key(), "abort_on_failure: status patch abort=true");
    let pp = PatchParams::default();
    let patch = rollouts::abort_patch();
    match tokio::time::timeout(ABORT_BUDGET, api.patch_status(&m.name, &pp, &Patch::Merge(&patch))).await {
        Ok(Ok(_)) => {
            " The provider aborted it (status.abort=true, abort_on_failure): Argo Rollouts moves traffic back \
                      to the stable revision."
                .into()
        }
        Ok(Err(e)) => {
            format!(" Aborting it failed: {}.", client.error(call("patch", "rollouts/status", &m.namespace), &e))
        }
        Err(_) => format!(" Aborting it timed out after {}.", format_duration(ABORT_BUDGET)),
    }
}

/// `<namespace>/<name>`, optionally followed by `,key=value` pairs of the `cluster` block (the
/// provider sees no resource configuration during an import, so the cluster must be in the id).
fn parse_import_id(id: &str) -> Result<(String, String, Option<Connection>), String> {
    let usage = "expected `<namespace>/<name>`, optionally followed by the cluster block's settings as \
                 `,key=value` (e.g. `app/api,eks_cluster_name=shard-2` or \
                 `app/api,config_path=/home/me/.kube/config,config_context=shard-2`)";
    let mut parts = id.split(',');
    let head = parts.next().unwrap_or_default().trim();
    let (namespace, name) = head
        .split_once('/')
        .filter(|(ns, n)| !ns.is_empty() && !n.is_empty() && !n.contains('/'))
        .ok_or_else(|| format!("{id:?}: {usage}"))?;
    let mut cluster = Connection::default();
    let mut any = false;
    for part in parts {
        let (key, value) = part.split_once('=').ok_or_else(|| format!("{part:?} is not key=value; {usage}"))?;
        let (key, value) = (key.trim(), value.trim().to_string());
        any = true;
        match key {
            "host" => cluster.host = Attr::Known(value),
            "cluster_ca_certificate" => cluster.cluster_ca_certificate = Attr::Known(value),
            "insecure" => cluster.insecure = Attr::Known(value == "true"),
            "config_path" => cluster.config_path = Attr::Known(value),
            "config_context" => cluster.config_context = Attr::Known(value),
            "eks_cluster_name" => cluster.eks_cluster_name = Attr::Known(value),
            "exec_command" => cluster.exec.get_or_insert_with(Default::default).command = value,
            "exec_api_version" => cluster.exec.get_or_insert_with(Default::default).api_version = Some(value),
            "exec_arg" => {
                cluster.exec.get_or_insert_with(Default::default).args.get_or_insert_with(Vec::new).push(value)
            }
            "exec_env" => {
                let (k, v) = value.split_once('=').ok_or_else(|| format!("exec_env={value}: expected NAME=VALUE"))?;
                cluster
                    .exec
                    .get_or_insert_with(Default::default)
                    .env
                    .get_or_insert_with(BTreeMap::new)
                    .insert(k.into(), v.into());
            }
            other => return Err(format!("unknown cluster setting {other:?}; {usage}")),
        }
    }
    if cluster.exec.as_ref().is_some_and(|e| e.command.is_empty()) {
        return Err("exec_arg/exec_env/exec_api_version need exec_command".into());
    }
    Ok((namespace.to_string(), name.to_string(), any.then_some(cluster)))
}

/// Computed attributes, which a pure gate's plan marks unknown while the Rollout is not Healthy.
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
                Attribute::string("namespace")
                    .required()
                    .requires_replace()
                    .validate(validators::non_empty())
                    .description("Namespace of the Rollout. Changing it forces replacement."),
                Attribute::string("name")
                    .required()
                    .requires_replace()
                    .validate(validators::non_empty())
                    .description("Name of the Rollout (`argoproj.io/v1alpha1`). Changing it forces replacement."),
                Attribute::number("promote_to_step")
                    .optional()
                    .validate(validators::int_between(0, 10_000))
                    .description("Canary: promote through pauses until `status.currentStepIndex` is at least this step (0-based; the step count means every step). Never promotes past it."),
                Attribute::bool("promote_full")
                    .optional()
                    .description("Canary: full promotion (`promote --full`: skips the remaining steps, pauses and analysis). Blue-green: promote the preview to active. Then wait until Healthy and fully promoted. Conflicts with `promote_to_step`."),
                Attribute::bool("abort_on_failure")
                    .default(false)
                    .description("When the Rollout turns Degraded during the wait, or the wait times out: abort it (`status.abort=true`, as `kubectl argo rollouts abort`) before failing. Ctrl-C never aborts. Default: `false`."),
                computed(Attribute::string("strategy"), "`canary` or `blueGreen`."),
                computed(Attribute::string("phase"), "`Healthy`, `Progressing`, `Paused` or `Degraded`, computed as Argo's tools do."),
                computed(Attribute::string("message"), "Argo's message for the phase (e.g. `CanaryPauseStep`)."),
                computed(Attribute::number("current_step"), "Canary: `status.currentStepIndex` (0 when unset). Null for blue-green."),
                computed(Attribute::number("step_count"), "Canary: number of steps. Null for blue-green."),
                computed(Attribute::number("canary_weight"), "Canary: the canary's traffic weight as `kubectl argo rollouts get` shows it (0 once aborted, 100 after the last step, else the routed weight with traffic routing or the current `setWeight`). Null for blue-green."),
                computed(Attribute::string("stable_revision"), "`status.stableRS`: pod template hash of the stable ReplicaSet."),
                computed(Attribute::string("current_revision"), "`status.currentPodHash`: pod template hash of the revision being rolled out."),
                computed(Attribute::bool("fully_promoted"), "`stable_revision == current_revision`."),
            ],
        )
        .with_block(
            kubeconn::connection_block(
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
        if config.get("promote_to_step").as_i64().is_some() && config.get("promote_full").as_bool() == Some(true) {
            d.push_attr_error(
                AttrPath::attr("promote_full"),
                "Conflicting targets",
                "set promote_to_step or promote_full = true, not both",
            );
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
        // Does the target fit the Rollout? From the refreshed state when it is the same object,
        // else one read (a cluster or Rollout not reachable yet is checked again at apply).
        let problem = match same_object {
            Some(prior) if prior.strategy.known().is_some() => {
                match (target, prior.strategy.known(), prior.step_count.known()) {
                    (Target::Step(_), Some(s), _) if s == "blueGreen" => Some(format!(
                        "{} uses the blueGreen strategy, which has no steps: use promote_full to promote the preview to active",
                        m.key()
                    )),
                    (Target::Step(n), _, Some(count)) if n > *count => {
                        Some(format!("{} has {count} canary step(s): promote_to_step can be at most {count}", m.key()))
                    }
                    _ => None,
                }
            }
            _ => {
                let Ok(client) = client_for(ctx, &m).await else { return };
                match get_rollout(ctx, &client, &m).await {
                    Ok(Some(view)) => rollouts::target_problem(&view, target),
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
            let path = if m.promote_to_step.is_some() { "promote_to_step" } else { "promote_full" };
            req.diags.push_attr_error(AttrPath::attr(path), "Target does not fit the Rollout", why);
        }
    }

    async fn create(&self, ctx: &Ctx<ShardData>, req: CreateRequest<Model>) -> Result<Outcome<Model>, Diagnostics> {
        converge(ctx, &req.planned, true).await
    }

    async fn read(&self, ctx: &Ctx<ShardData>, req: ReadRequest<Model>) -> Result<Outcome<Model>, Diagnostics> {
        let m = req.state;
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

    async fn import(&self, ctx: &Ctx<ShardData>, req: ImportRequest) -> Result<Outcome<Model>, Diagnostics> {
        let (namespace, name, cluster) =
            parse_import_id(&req.id).map_err(|e| Diagnostics::error("Invalid import id", e))?;
        let m = Model {
            id: Attr::Known(format!("{namespace}/{name}")),
            namespace,
            name,
            cluster,
            promote_to_step: None,
            promote_full: None,
            abort_on_failure: false,
            strategy: Attr::Null,
            phase: Attr::Null,
            message: Attr::Null,
            current_step: Attr::Null,
            step_count: Attr::Null,
            canary_weight: Attr::Null,
            stable_revision: Attr::Null,
            current_revision: Attr::Null,
            fully_promoted: Attr::Null,
            timeouts: None,
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    #[test]
    fn a_missing_crd_is_told_apart_from_a_missing_rollout() {
        // What kube 5 makes of kube-apiserver's answers (checked against the bench's 1.20).
        let no_type = kube::Error::Api(
            Status::failure("404 page not found", "Failed to parse error data").with_code(404).boxed(),
        );
        assert_eq!(no_such_type(&no_type), Some("404 page not found"));
        let no_object = kube::Error::Api(
            Status::failure("rollouts.argoproj.io \"x\" not found", "NotFound").with_code(404).boxed(),
        );
        assert_eq!(no_such_type(&no_object), None);
    }

    #[test]
    fn import_ids_name_the_rollout_and_optionally_its_cluster() {
        let (ns, name, cluster) = parse_import_id("app/api").unwrap();
        assert_eq!((ns.as_str(), name.as_str(), cluster), ("app", "api", None));
        let (_, _, cluster) = parse_import_id("app/api,config_path=/k/config,config_context=shard-2").unwrap();
        let c = cluster.unwrap();
        assert_eq!(
            (c.config_path.known().map(String::as_str), c.config_context.known().map(String::as_str)),
            (Some("/k/config"), Some("shard-2"))
        );
        let (_, _, cluster) = parse_import_id(
            "app/api,host=https://h:6443,exec_command=aws,exec_arg=eks,exec_arg=get-token,exec_env=A=b",
        )
        .unwrap();
        let e = cluster.unwrap().exec.unwrap();
        assert_eq!(e.args.unwrap(), vec!["eks", "get-token"]);
        assert_eq!(e.env.unwrap()["A"], "b");
        for bad in ["api", "app/", "/api", "a/b/c", "app/api,nope=1", "app/api,config_path", "app/api,exec_arg=x"] {
            assert!(parse_import_id(bad).is_err(), "{bad}");
        }
    }
}
