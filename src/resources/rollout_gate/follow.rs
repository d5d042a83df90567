//! The gate's calls to the cluster: read the Rollout, follow it with kube-runtime's
//! `watch_object` and promote at each pause below the target on the same watch, abort on
//! failure if asked. Every request goes through [`KubeClient::call`], the watch through
//! [`KubeClient::watch`].

use super::model::Model;
use crate::argo::rollouts::{self, Decision, Patches, Policy, RolloutView, Target};
use crate::clients::ShardData;
use crate::clients::kubernetes::{Call, KubeClient, KubeError, Watched};
use crate::framework::timeouts::format_duration;
use crate::framework::{AttrPath, Ctx, Diagnostics, Interrupted};
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::watcher::watch_object;
use std::time::Duration;

/// The abort patch after a failure or a timeout gets this long, even past the deadline.
const ABORT_BUDGET: Duration = Duration::from_secs(15);
use tokio_util::sync::CancellationToken;

/// The Kubernetes client for the gate's cluster (its `cluster` block, or the provider's hub),
/// built within the operation's deadline.
pub(super) async fn client_for(ctx: &Ctx<ShardData>, m: &Model) -> Result<KubeClient, Diagnostics> {
    let built = match &m.cluster {
        Some(c) => ctx.data.kube_client(ctx, c).await,
        None => ctx.data.hub_client(ctx).await,
    };
    Ok(built?)
}

pub(super) fn rollout_api(client: &KubeClient, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.client.clone(), namespace, &rollouts::api_resource())
}

fn rollout_call(verb: &'static str, m: &Model) -> Call {
    Call::on(verb, &rollouts::api_resource()).namespace(&m.namespace).name(&m.name)
}

fn view_of(obj: &DynamicObject) -> RolloutView {
    RolloutView::from_json(&serde_json::to_value(obj).unwrap_or_default())
}

/// The view of `obj` with, for a `spec.workloadRef` Rollout, the referenced workload's own
/// generation (the `workload-generation` annotation lags it: the controller patches it only once
/// its informer saw the change, `rollout/templateref.go`). A workload that cannot be read (no
/// RBAC for it, say) leaves the annotation check alone, as Argo CD's health check has it.
pub(super) async fn resolved_view(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    m: &Model,
    obj: &DynamicObject,
) -> RolloutView {
    let view = view_of(obj);
    let Some((api_version, kind, name)) = view.workload.clone() else { return view };
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version.as_str()));
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &kind));
    let api: Api<DynamicObject> = Api::namespaced_with(client.client.clone(), &m.namespace, &resource);
    let call = Call::on("get", &resource).namespace(&m.namespace).name(&name);
    match client.call(ctx, call, || api.get_opt(&name)).await {
        Ok(found) => view.with_workload_generation(found.and_then(|w| w.metadata.generation)),
        Err(e) => {
            tracing::debug!(rollout = %m.key(), workload = %name, error = %e, "workloadRef: the workload could not be read");
            view
        }
    }
}

/// A failed call as a diagnostic; a resource type the server does not serve means no Rollouts CRD.
pub(super) fn gate_failure(m: &Model, e: KubeError) -> Diagnostics {
    if e.is_missing_type() {
        return Diagnostics::attr_error(
            AttrPath::attr("name"),
            "Argo Rollouts is not installed",
            format!(
                "{} has no argoproj.io/v1alpha1 `rollouts` resource (the Argo Rollouts CRDs are not installed): {e}",
                m.describe_cluster()
            ),
        );
    }
    e.into()
}

/// The Rollout, None when there is none; a missing Rollouts CRD is an error saying so.
pub(super) async fn get_rollout(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    m: &Model,
) -> Result<Option<RolloutView>, Diagnostics> {
    let api = rollout_api(client, &m.namespace);
    match client.call(ctx, rollout_call("get", m), || api.get_opt(&m.name)).await {
        Ok(Some(obj)) => Ok(Some(resolved_view(ctx, client, m, &obj).await)),
        Ok(None) => Ok(None),
        Err(e) => Err(gate_failure(m, e)),
    }
}

/// No Rollout of that name: say so, and say what is there instead if it is a Deployment.
pub(super) async fn missing(ctx: &Ctx<ShardData>, client: &KubeClient, m: &Model) -> Diagnostics {
    use k8s_openapi::api::apps::v1::Deployment;
    let deployments: Api<Deployment> = Api::namespaced(client.client.clone(), &m.namespace);
    let call = Call::new("get", "deployments.apps").namespace(&m.namespace).name(&m.name);
    let hint = match client.call(ctx, call, || deployments.get_opt(&m.name)).await {
        Ok(Some(_)) => format!(
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

/// How following the Rollout ended without the target.
pub(super) enum Stop {
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
    /// A person has to decide or review; the gate touched nothing.
    Blocked {
        view: RolloutView,
        summary: String,
        message: String,
    },
    /// Nothing reached the cluster yet, or the failure has nothing to do with progress.
    Error(Diagnostics),
    Partial(Option<RolloutView>, Diagnostics),
}

/// Follows the Rollout (one `watch_object`: list, then watch, resumed by kube-runtime after
/// expiry or a dropped connection) until `target` holds, promoting at each pause below it on
/// the same watch: the promote's result arrives as the next state. A promoting gate with no
/// revision planned pins the first revision it sees with the latest spec observed.
pub(super) async fn follow(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    api: &Api<DynamicObject>,
    m: &Model,
    target: Target,
    policy: &mut Policy,
) -> Result<RolloutView, Stop> {
    let stream = client.watch(rollout_call("watch", m), watch_object(api.clone(), &m.name));
    let mut stream = std::pin::pin!(stream);
    let started = tokio::time::Instant::now();
    let mut last: Option<RolloutView> = None;
    let mut last_seen = String::from("the Rollout was not read yet");
    tracing::debug!(rollout = %m.key(), target = %target.describe(), "watching rollout");
    loop {
        let item = match ctx.bounded(stream.next()).await {
            Ok(Some(item)) => item,
            Ok(None) => {
                let d = Diagnostics::error("The Rollout watch ended", format!("last seen: {last_seen}"));
                return Err(Stop::Partial(last, d));
            }
            Err(Interrupted::TimedOut(_)) => {
                return Err(Stop::TimedOut { view: last, last: last_seen, waited: started.elapsed() });
            }
            Err(Interrupted::Cancelled) => return Err(Stop::Cancelled(last)),
        };
        let object = match item {
            Ok(Watched::Item(object)) => object,
            Ok(Watched::Retrying(e)) => {
                last_seen = format!("{} (watch interrupted: {e}; resuming)", describe(&last));
                continue;
            }
            Err(e) if last.is_none() => return Err(Stop::Error(gate_failure(m, e))),
            Err(e) => return Err(Stop::Partial(last, gate_failure(m, e))),
        };
        let Some(object) = object else {
            return Err(match last {
                None => Stop::Error(missing(ctx, client, m).await),
                Some(view) => Stop::Partial(
                    Some(view),
                    Diagnostics::error("Rollout deleted", format!("Rollout {} was deleted during the wait", m.key())),
                ),
            });
        };
        let view = resolved_view(ctx, client, m, &object).await;
        last = Some(view.clone());
        last_seen = view.describe();
        if target != Target::Healthy
            && policy.revision.is_none()
            && view.spec_observed()
            && !view.current_pod_hash.is_empty()
        {
            tracing::info!(rollout = %m.key(), revision = %view.current_pod_hash, "rollout gate: promoting this revision only");
            policy.revision = Some(view.current_pod_hash.clone());
        }
        match rollouts::decide(&view, target, policy) {
            Decision::Reached => return Ok(view),
            Decision::Wait(why) => last_seen = why,
            Decision::Promote(patches) => {
                let retry = patches.status == Some(rollouts::retry_patch());
                if retry {
                    tracing::info!(rollout = %m.key(), revision = %view.current_pod_hash, "retry_aborted: retrying the aborted rollout");
                }
                // retry_aborted: once per apply (a retry refused with 409 is decided again);
                // aborted again, the apply fails.
                if send(ctx, client, api, m, &view, &patches).await? && retry {
                    policy.retry_aborted = false;
                }
            }
            Decision::Failed { aborted, message } => {
                return Err(Stop::Failed { view, already_aborted: aborted, message });
            }
            Decision::Blocked { summary, message } => return Err(Stop::Blocked { view, summary, message }),
            Decision::Impossible(why) => {
                let path = if m.promote_to_step.is_some() { "promote_to_step" } else { "promote_full" };
                let d = Diagnostics::attr_error(AttrPath::attr(path), "Target does not fit the Rollout", why);
                return Err(Stop::Error(d));
            }
        }
    }
}

fn describe(view: &Option<RolloutView>) -> String {
    view.as_ref().map(RolloutView::describe).unwrap_or_else(|| "the Rollout was not read yet".into())
}

/// Sends one promote: the status patch (only to the version decided on), then the spec patch,
/// as `kubectl argo rollouts promote` does. A 409 means the Rollout moved since: the watch
/// brings the new state and the gate decides again. True when the status patch (if any) applied.
pub(super) async fn send(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    api: &Api<DynamicObject>,
    m: &Model,
    view: &RolloutView,
    patches: &Patches,
) -> Result<bool, Stop> {
    let pp = PatchParams::default();
    let stop = |e: KubeError| match e {
        KubeError::TimedOut { .. } => {
            Stop::TimedOut { view: Some(view.clone()), last: view.describe(), waited: ctx.limit() }
        }
        KubeError::Cancelled { .. } => Stop::Cancelled(Some(view.clone())),
        e => Stop::Partial(Some(view.clone()), gate_failure(m, e)),
    };
    // Both patches carry a resourceVersion precondition: the one the decision was made on, and
    // for the spec patch after a status patch, the version that patch wrote. Anything written in
    // between (a new revision, an operator's pause) makes the API server answer 409 Conflict
    // (https://kubernetes.io/docs/reference/using-api/api-concepts/#conflicts), and the gate
    // decides again on what it then sees.
    let mut version = view.resource_version.clone();
    let conflict = || {
        tracing::debug!(rollout = %m.key(), "promote skipped: the Rollout changed since (409); deciding again");
        false
    };
    if let Some(status) = &patches.status {
        let body = rollouts::with_precondition(status, version.as_deref());
        tracing::info!(rollout = %m.key(), at = %view.describe(), patch = %status, "promote: status patch");
        let patch = Patch::Merge(&body);
        match client.call(ctx, rollout_call("patch", m).status(), || api.patch_status(&m.name, &pp, &patch)).await {
            Ok(written) => version = written.metadata.resource_version,
            Err(e) if e.status() == Some(409) => return Ok(conflict()),
            Err(e) => return Err(stop(e)),
        }
    }
    if let Some(spec) = &patches.spec {
        let body = rollouts::with_precondition(spec, version.as_deref());
        tracing::info!(rollout = %m.key(), patch = %spec, "promote: spec patch");
        let patch = Patch::Merge(&body);
        match client.call(ctx, rollout_call("patch", m), || api.patch(&m.name, &pp, &patch)).await {
            Ok(_) => {}
            Err(e) if e.status() == Some(409) => return Ok(conflict()),
            Err(e) => return Err(stop(e)),
        }
    }
    Ok(true)
}

/// `kubectl argo rollouts abort`, with its own short budget (the operation's deadline may have
/// passed, and Ctrl-C never aborts), only when [`rollouts::abort_verdict`] allows it for the
/// Rollout as it is now, and only to that version of it (a resourceVersion precondition: a new
/// revision or a pause written in between makes the API server refuse, and the gate looks
/// again). Returns the sentence the failure message gets.
pub(super) async fn abort(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    api: &Api<DynamicObject>,
    m: &Model,
    target: Target,
    policy: &Policy,
) -> String {
    let own = Ctx::new(ctx.data.clone(), CancellationToken::new(), ABORT_BUDGET);
    let pp = PatchParams::default();
    for _ in 0..3 {
        let view = match client.call(&own, rollout_call("get", m), || api.get_opt(&m.name)).await {
            Ok(Some(obj)) => resolved_view(&own, client, m, &obj).await,
            Ok(None) => return " It was not aborted: it no longer exists.".into(),
            Err(KubeError::TimedOut { .. }) => {
                return format!(" Aborting it timed out after {}.", format_duration(ABORT_BUDGET));
            }
            Err(e) => return format!(" Aborting it failed: {e}."),
        };
        if let Err(why) = rollouts::abort_verdict(&view, target, policy) {
            tracing::info!(rollout = %m.key(), %why, "abort_on_failure: not aborting");
            return format!(" It was not aborted (abort_on_failure): {why}.");
        }
        tracing::info!(rollout = %m.key(), revision = %view.current_pod_hash, "abort_on_failure: status patch abort=true");
        let body = rollouts::with_precondition(&rollouts::abort_patch(), view.resource_version.as_deref());
        let patch = Patch::Merge(&body);
        match client.call(&own, rollout_call("patch", m).status(), || api.patch_status(&m.name, &pp, &patch)).await {
            Ok(_) => {
                return format!(
                    " The provider aborted it (status.abort=true, abort_on_failure) at revision {}: Argo Rollouts \
                     moves traffic back to the stable revision.",
                    view.current_pod_hash
                );
            }
            Err(e) if e.status() == Some(409) => continue,
            Err(KubeError::TimedOut { .. }) => {
                return format!(" Aborting it timed out after {}.", format_duration(ABORT_BUDGET));
            }
            Err(e) => return format!(" Aborting it failed: {e}."),
        }
    }
    " It was not aborted: it kept changing while the provider tried (409 Conflict three times).".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    #[test]
    fn a_missing_crd_is_told_apart_from_a_missing_rollout() {
        let m = Model { promote_to_step: Some(3), ..Model::unread("app".into(), "api".into(), None) };
        // What kube 5 makes of kube-apiserver's answers (checked against the bench's 1.20).
        let failure = |message: &str, reason: &str| {
            let status = Status::failure(message, reason).with_code(404).boxed();
            KubeError::from_kube("https://h", &rollout_call("get", &m), kube::Error::Api(status))
        };
        let no_type = gate_failure(&m, failure("404 page not found", "Failed to parse error data")).to_string();
        assert!(no_type.contains("Argo Rollouts is not installed"), "{no_type}");
        let no_object = gate_failure(&m, failure("rollouts.argoproj.io \"api\" not found", "NotFound")).to_string();
        assert!(!no_object.contains("not installed") && no_object.contains("404"), "{no_object}");
    }
}
