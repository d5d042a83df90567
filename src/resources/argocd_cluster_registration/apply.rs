//! Create, update and delete: write the Secret, then wait for the Applications if asked; on
//! destroy, take the cluster out of its ApplicationSets' generators (its labels removed with a
//! server-side apply), wait while it is still registered until no Application targets it, and
//! only then delete the Secret (see [`remove`]).

use super::hub::{
    application_sets, applied_at, controller_policy, delete_secret, get_secret, labels_held_by_others, remove_labels,
    rival_registrations, targeting_apps, wait_for_apps, write_secret,
};
use super::model::{AppEntry, Model, remember_token, resource_id};
use crate::argo::argocd::{self, LiveCluster};
use crate::clients::ShardData;
use crate::clients::eks::describe_cluster;
use crate::framework::timeouts::{format_duration, parse_duration};
use crate::framework::{Attr, AttrPath, Ctx, Diagnostics, Outcome, Private, WaitError};
use crate::protocol::value::Value;
use std::time::Duration;

/// The endpoint and CA for a model whose server or ca_data are not known yet.
async fn resolve_endpoint(ctx: &Ctx<ShardData>, m: &mut Model) -> Result<(), Diagnostics> {
    if !m.server.is_unknown() && !m.ca_data.is_unknown() {
        return Ok(());
    }
    let Some(cluster) = m.eks_cluster_name.clone() else {
        return Err(Diagnostics::attr_error(
            AttrPath::attr("server"),
            "No server",
            "set server, or eks_cluster_name to read it from EKS",
        ));
    };
    let (endpoint, ca) = eks_endpoint(ctx, &cluster).await?;
    if m.server.is_unknown() {
        m.server = Attr::Known(argocd::trim_server(&endpoint).to_string());
    }
    if m.ca_data.is_unknown() {
        m.ca_data = if m.insecure { Attr::Null } else { Attr::Known(ca) };
    }
    Ok(())
}

/// Create and update: write, then wait if asked. Returns the state matching reality.
pub(super) async fn converge(
    ctx: &Ctx<ShardData>,
    mut m: Model,
    config: &Value,
    mut private: Private,
    prior: Option<&Model>,
) -> Result<Outcome<Model>, Diagnostics> {
    let client = ctx.data.hub_client(ctx).await?;
    resolve_endpoint(ctx, &mut m).await?;
    if m.namespace.is_unknown() {
        // The provider's hub.argocd_namespace was unknown while planning; it is known now.
        m.namespace = Attr::Known(hub_namespace(ctx).unwrap_or_else(|| argocd::DEFAULT_ARGOCD_NAMESPACE.to_string()));
    }
    m.namespace = Attr::Known(m.namespace().to_string());
    m.secret_name = Attr::Known(m.secret_name());
    m.id = Attr::Known(resource_id(m.namespace(), &m.secret_name()));
    m.bearer_token = None;
    // Another registration of the same cluster: checked when this one starts to say which
    // server or name it registers (one list of the cluster Secrets).
    let introduces = prior.is_none_or(|p| p.server != m.server || p.name != m.name);
    let rivals = if introduces { rival_registrations(ctx, &client, &m).await? } else { Vec::new() };
    if !rivals.is_empty() {
        return Err(Diagnostics::attr_error(
            AttrPath::attr("server"),
            "The cluster is registered in Argo CD already",
            format!(
                "{}. Argo CD would pick one of the two registrations at random (and fail destinations by name), so \
                 nothing was written. Remove the other one (`argocd cluster rm`), or adopt it: set secret_name to its \
                 name and force_conflicts = true, or import it.",
                rivals.join("; ")
            ),
        ));
    }
    let token = config.get("bearer_token").as_str().map(str::to_string);
    let written = write_secret(ctx, &client, &m, token.as_deref(), prior).await?;
    // A new server (a create, or an EKS cluster recreated under the same name): statuses
    // computed before this write are the old cluster's ([`argocd::stale_for`]).
    let server_written_at = prior.is_none_or(|p| p.server != m.server).then(|| applied_at(&written)).flatten();
    remember_token(&mut private, token.as_deref());
    // Without a wait the apply makes no further call: the list stays as last seen.
    m.applications = Attr::Known(match prior.and_then(|p| p.applications.known()) {
        Some(apps) => apps.clone(),
        None => Vec::new(),
    });
    let Some(wait) = m.wait_for_sync.clone() else {
        return Ok(Outcome::ok(m).with_private(private));
    };
    let budget = parse_duration(&wait.timeout).unwrap_or(Duration::from_secs(20 * 60));
    let min = usize::try_from(wait.min_applications).unwrap_or(0);
    let sets = wait.application_sets.clone().unwrap_or_default();
    // Validated at plan; a selector unknown then is checked here.
    let selector = match wait.application_selector.as_deref().map(argocd::parse_label_selector).transpose() {
        Ok(s) => s,
        Err(e) => {
            return Err(Diagnostics::attr_error(
                AttrPath::attr("wait_for_sync").then("application_selector"),
                "Invalid label selector",
                e,
            ));
        }
    };
    let wanted = argocd::SyncWanted {
        min,
        application_sets: &sets,
        accept: argocd::Accept { suspended: wait.accept_suspended },
        selector: wait.application_selector.as_deref(),
    };
    let reg = argocd::Registered { server: m.server().to_string(), name: m.name.clone(), server_written_at };
    let waited = wait_for_apps(ctx, &client, m.namespace(), (&reg, selector.as_deref()), budget, |apps| {
        argocd::sync_verdict(apps, &wanted, &reg.name).map(|()| apps.to_vec())
    })
    .await;
    let why = match waited {
        Ok(Ok(apps)) => {
            m.applications = Attr::Known(apps.iter().map(AppEntry::from).collect());
            return Ok(Outcome::ok(m).with_private(private));
        }
        Ok(Err(failed)) => Diagnostics::attr_error(
            AttrPath::attr("wait_for_sync"),
            "Argo CD cannot sync the cluster",
            format!(
                "Argo CD reports an error for the Applications targeting cluster {} ({}): {failed}. The cluster \
                 Secret is written; fix the cause (Argo CD's access to the cluster, say) and apply again to wait \
                 again.",
                m.name,
                m.server()
            ),
        ),
        Err(WaitError::TimedOut { waited, last }) => Diagnostics::attr_error(
            AttrPath::attr("wait_for_sync"),
            "Applications not Synced and Healthy",
            format!(
                "waited {} for the Applications targeting cluster {} ({}) in namespace {}: {last}. The cluster Secret \
                 is written; Argo CD keeps syncing. Apply again to wait again.",
                format_duration(waited),
                m.name,
                m.server(),
                m.namespace()
            ),
        ),
        Err(WaitError::Failed(e)) => e.into(),
        Err(e @ (WaitError::Cancelled | WaitError::Ended { .. })) => Diagnostics::error(
            "Wait for Applications interrupted",
            format!("{e}; the cluster Secret is written, the Applications were not confirmed Synced+Healthy"),
        ),
    };
    // The Secret is written; the wait did not finish. A state without the wait makes the next
    // plan wait again. Terraform taints a failed create: its next apply would replace it (the
    // cluster leaving and rejoining Argo CD), so say how to just wait again instead.
    let why = if prior.is_none() {
        why.and(Diagnostics::warning(
            "The registration is tainted",
            "Terraform marks a resource whose creation failed as tainted, so the next apply replaces it: the \
             cluster leaves Argo CD and joins again. To keep the registration and only wait again, run \
             `terraform untaint` on it first.",
        ))
    } else {
        why
    };
    let mut state = m;
    state.wait_for_sync = None;
    Ok(Outcome::failed(Some(state), why).with_private(private))
}

/// Destroy, in the order that lets Argo CD delete the shard's workload: take the cluster out of
/// its ApplicationSets' generators (remove this resource's labels) while it is still registered,
/// wait until no Application targets it (their resources finalizers delete the workload on the
/// cluster), and only then delete the Secret. Deleting the Secret first would make Argo CD drop
/// the finalizers and leave load balancers, volumes and ENIs behind
/// ([`argocd::leaves_with_the_cluster`] cites where). Applications that would stay (a
/// create-only or create-update policy, a generator that still selects the cluster, one made by
/// hand) fail the destroy at once, changing nothing. `wait_for_removal = false` deletes the
/// Secret at once and leaves the workload to the user.
pub(super) async fn remove(ctx: &Ctx<ShardData>, m: &Model) -> Result<(), Diagnostics> {
    let client = ctx.data.hub_client(ctx).await?;
    if !m.wait_for_removal {
        return Ok(delete_secret(ctx, &client, m).await?);
    }
    let Some(secret) = get_secret(ctx, &client, m.namespace(), &m.secret_name()).await? else {
        return Ok(());
    };
    let live = LiveCluster::from_secret(&secret);
    let (server, name) = (live.server.clone(), live.name.clone());
    // No Application resource at all (Argo CD uninstalled): nothing can target the cluster.
    let apps = match targeting_apps(ctx, &client, m.namespace(), &server, &name).await {
        Err(e) if e.is_missing_type() => Vec::new(),
        other => other?,
    };
    if !apps.is_empty() {
        let appsets = application_sets(ctx, &client, m.namespace()).await?;
        let controller = controller_policy(ctx, &client, m.namespace()).await?;
        let ours: Vec<String> = m.labels.iter().flatten().map(|(k, _)| k.clone()).collect();
        // What the server-side apply leaves: a label another manager holds too stays.
        let others = labels_held_by_others(&secret.metadata);
        let mut labels_after = live.labels.clone();
        labels_after.retain(|k, _| !ours.contains(k) || others.contains(k));
        let stays: Vec<String> = apps
            .iter()
            .filter_map(|a| argocd::leaves_with_the_cluster(a, &appsets, &controller, &labels_after).err())
            .collect();
        if !stays.is_empty() {
            return Err(Diagnostics::attr_error(
                AttrPath::attr("wait_for_removal"),
                "Applications would stay on the cluster",
                format!(
                    "{}. Nothing was changed: {} and its labels are as they were. Remove or retarget those \
                     Applications first, or set wait_for_removal = false to delete the Secret anyway (Argo CD then \
                     drops their resources finalizer and leaves their workload running on the cluster).",
                    stays.join("; "),
                    m.describe()
                ),
            ));
        }
        remove_labels(ctx, &client, m, &secret, &ours).await?;
        let reg = argocd::Registered { server: server.clone(), name: name.clone(), server_written_at: None };
        let waited = wait_for_apps(ctx, &client, m.namespace(), (&reg, None), ctx.remaining(), |apps| {
            argocd::removal_verdict(apps)
        })
        .await;
        match waited {
            Ok(Ok(())) => {}
            Ok(Err(why)) => return Err(Diagnostics::error("Applications still target the cluster", why)),
            Err(WaitError::TimedOut { waited, last }) => {
                return Err(Diagnostics::attr_error(
                    AttrPath::attr("wait_for_removal"),
                    "Applications still target the cluster",
                    format!(
                        "the cluster is out of its ApplicationSets' generators, but after {} {last}. The cluster \
                         Secret {} is kept, so Argo CD can still delete the workload (a finalizer that cannot finish \
                         keeps an Application). Destroy again to keep waiting, or set wait_for_removal = false to \
                         delete the Secret anyway.",
                        format_duration(waited),
                        m.describe()
                    ),
                ));
            }
            Err(WaitError::Failed(e)) => return Err(e.into()),
            Err(e) => {
                return Err(Diagnostics::error(
                    "Wait for Applications to go interrupted",
                    format!("{e}; the cluster Secret {} is kept (without its labels)", m.describe()),
                ));
            }
        }
    }
    Ok(delete_secret(ctx, &client, m).await?)
}

/// The endpoint and CA (PEM) of an EKS cluster, within the operation's deadline.
pub(super) async fn eks_endpoint(ctx: &Ctx<ShardData>, cluster: &str) -> Result<(String, String), Diagnostics> {
    let failed = |detail: String| {
        Diagnostics::attr_error(AttrPath::attr("eks_cluster_name"), "Cannot describe the EKS cluster", detail)
    };
    let described = match ctx.bounded(describe_cluster(&ctx.data.aws, cluster)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(failed(format!("EKS cluster {cluster}: {e}"))),
        Err(i) => return Err(failed(format!("DescribeCluster of EKS cluster {cluster}: {i}"))),
    };
    described.endpoint_and_ca().map_err(|e| failed(format!("EKS cluster {cluster} {e}")))
}

/// The namespace Argo CD runs in on the hub: the provider's `hub.argocd_namespace`, else
/// `argocd`; None while the provider's value is unknown.
pub(super) fn hub_namespace(ctx: &Ctx<ShardData>) -> Option<String> {
    match ctx.data.hub_argocd_namespace() {
        Attr::Known(ns) => Some(ns),
        Attr::Unknown => None,
        Attr::Null => Some(argocd::DEFAULT_ARGOCD_NAMESPACE.to_string()),
    }
}
