//! The registration's I/O on the hub: the cluster Secret (server-side apply, read, delete) and
//! the Applications that target the cluster (one list, or a reflector over a watch until a
//! verdict holds). Every request goes through [`KubeClient::call`] and the watch through
//! [`KubeClient::watch`]: one deadline, one retry policy, one error type.

use super::model::Model;
use crate::argo::argocd::{self, AppStatus, ClusterSecret, Pending, Registered, Requirement};
use crate::clients::ShardData;
use crate::clients::kubernetes::fields::{Conflict, Owned, owned_by};
use crate::clients::kubernetes::{Call, FIELD_MANAGER, KubeClient, KubeError, Watched};
use crate::framework::{Check, Ctx, Diagnostics, WaitError};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A call on the cluster Secret `namespace/name`. A 409 that is not a field-manager conflict
/// (the Secret changed under an optimistic write) is worth retrying; a conflict with another
/// manager never is (`force_conflicts` is).
fn secret_call(verb: &'static str, namespace: &str, name: &str) -> Call {
    Call::on(verb, &ApiResource::erase::<Secret>(&())).namespace(namespace).name(name).retry_conflicts()
}

fn application_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"))
}

fn apps_call(verb: &'static str, namespace: &str) -> Call {
    Call::on(verb, &application_resource()).namespace(namespace)
}

/// Targeting Applications among `objects` (those whose labels `selector` selects, when given),
/// sorted by name, each judged against the registration ([`argocd::stale_for`]).
fn targeting<'a>(
    objects: impl Iterator<Item = &'a Json>,
    reg: &Registered,
    selector: Option<&[Requirement]>,
) -> Vec<AppStatus> {
    let labels = |o: &Json| -> BTreeMap<String, String> {
        serde_json::from_value(o["metadata"]["labels"].clone()).unwrap_or_default()
    };
    let mut apps: Vec<AppStatus> = objects
        .filter(|o| argocd::targets(o, &reg.server, &reg.name))
        .filter(|o| selector.is_none_or(|s| argocd::requirements_match(s, &labels(o))))
        .map(|o| {
            let mut status = argocd::app_status(o);
            status.stale |= argocd::stale_for(o, reg);
            status
        })
        .collect();
    apps.sort();
    apps
}

fn as_json(o: &DynamicObject) -> Json {
    serde_json::to_value(o).unwrap_or(Json::Null)
}

/// Follows the Applications of `namespace` (a reflector over a list-then-watch) until `verdict`
/// over those targeting the cluster holds (`Ok(Ok(_))`) or says it cannot (`Ok(Err(why))`),
/// `budget` runs out, or the operation's deadline or a stop comes. The verdict is judged once the
/// first list is complete, then on every change.
pub(super) async fn wait_for_apps<T>(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    namespace: &str,
    (reg, selector): (&Registered, Option<&[Requirement]>),
    budget: Duration,
    verdict: impl Fn(&[AppStatus]) -> Result<T, Pending>,
) -> Result<Result<T, String>, WaitError<KubeError>> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.client.clone(), namespace, &application_resource());
    let writer = Writer::<DynamicObject>::new(application_resource());
    let store = writer.as_reader();
    let events = reflector::reflector(writer, watcher(api, watcher::Config::default()));
    let stream = client.watch(apps_call("watch", namespace), events);
    let wait_ctx = Ctx::new(ctx.data.clone(), ctx.cancel.child_token(), budget.min(ctx.remaining()));
    let mut listed = false;
    let mut last = String::from("Applications not listed yet");
    // Applications whose status changed while the wait watched: an error condition fails the
    // wait at once only on those. One already there when the wait began may predate the write
    // that is meant to fix it (a rotated token, say); it shows in the message instead.
    let mut changed_since: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    wait_ctx
        .watch(stream, |item| {
            match item {
                Watched::Retrying(e) => return Check::NotYet(format!("{last} (watch interrupted, retrying: {e})")),
                Watched::Item(watcher::Event::InitDone) => listed = true,
                Watched::Item(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
                Watched::Item(watcher::Event::Apply(o)) => {
                    changed_since.insert(o.metadata.name.clone().unwrap_or_default());
                }
                Watched::Item(watcher::Event::Delete(_)) => {}
            }
            if !listed {
                return Check::NotYet(last.clone());
            }
            let objects: Vec<Json> = store.state().iter().map(|o| as_json(o)).collect();
            let mut apps = targeting(objects.iter(), reg, selector);
            for app in apps.iter_mut().filter(|a| !changed_since.contains(&a.name)) {
                app.error = None;
            }
            match verdict(&apps) {
                Ok(t) => Check::Ready(Ok(t)),
                Err(Pending::Failed(why)) => Check::Ready(Err(why)),
                Err(Pending::Waiting(why)) => {
                    last = why;
                    Check::NotYet(last.clone())
                }
            }
        })
        .await
}

/// The Applications targeting the cluster now (one list).
pub(super) async fn list_apps(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    namespace: &str,
    server: &str,
    name: &str,
) -> Result<Vec<AppStatus>, KubeError> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.client.clone(), namespace, &application_resource());
    let params = ListParams::default().match_any();
    let list = client.call(ctx, apps_call("list", namespace), || api.list(&params)).await?;
    let objects: Vec<Json> = list.items.iter().map(as_json).collect();
    let reg = Registered { server: server.to_string(), name: name.to_string(), server_written_at: None };
    Ok(targeting(objects.iter(), &reg, None))
}

/// The Application objects in `namespace` that target the cluster (`server` or `name`).
pub(super) async fn targeting_apps(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    namespace: &str,
    server: &str,
    name: &str,
) -> Result<Vec<Json>, KubeError> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.client.clone(), namespace, &application_resource());
    let params = ListParams::default();
    let list = client.call(ctx, apps_call("list", namespace), || api.list(&params)).await?;
    Ok(list.items.iter().map(as_json).filter(|o| argocd::targets(o, server, name)).collect())
}

/// The ApplicationSets of `namespace` by name (none when Argo CD's ApplicationSet CRD is not
/// installed).
pub(super) async fn application_sets(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    namespace: &str,
) -> Result<BTreeMap<String, Json>, KubeError> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "ApplicationSet"));
    let api: Api<DynamicObject> = Api::namespaced_with(client.client.clone(), namespace, &resource);
    let params = ListParams::default();
    match client.call(ctx, Call::on("list", &resource).namespace(namespace), || api.list(&params)).await {
        Ok(list) => Ok(list.items.iter().map(|o| (o.metadata.name.clone().unwrap_or_default(), as_json(o))).collect()),
        Err(e) if e.is_missing_type() => Ok(BTreeMap::new()),
        Err(e) => Err(e),
    }
}

/// The ApplicationSet controller's policy from `argocd-cmd-params-cm` in `namespace` (the
/// default without the ConfigMap, or without permission to read it).
pub(super) async fn controller_policy(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    namespace: &str,
) -> Result<argocd::ControllerPolicy, KubeError> {
    use k8s_openapi::api::core::v1::ConfigMap;
    const NAME: &str = "argocd-cmd-params-cm";
    let api: Api<ConfigMap> = Api::namespaced(client.client.clone(), namespace);
    let call = Call::on("get", &ApiResource::erase::<ConfigMap>(&())).namespace(namespace).name(NAME);
    match client.call(ctx, call, || api.get_opt(NAME)).await {
        Ok(found) => {
            let data = found.and_then(|c| c.data).unwrap_or_default().into_iter().collect();
            Ok(argocd::ControllerPolicy::from_cmd_params(&data))
        }
        Err(KubeError::Forbidden { .. }) => {
            tracing::info!("cannot read argocd-cmd-params-cm; assuming the ApplicationSet controller's default policy");
            Ok(argocd::ControllerPolicy::default_policy())
        }
        Err(e) => Err(e),
    }
}

/// The labels, annotations and data keys this provider's field manager *applied* (its `Apply`
/// entry in `managedFields`; its exclusive create leaves an `Update` entry too, which a
/// server-side apply neither needs to carry nor releases).
fn applied_by_us(metadata: &ObjectMeta) -> Owned {
    let mut owned = Owned::default();
    let entries = metadata.managed_fields.iter().flatten();
    for e in entries.filter(|e| e.manager.as_deref() == Some(FIELD_MANAGER) && e.operation.as_deref() == Some("Apply"))
    {
        let Some(fields) = e.fields_v1.as_ref().map(|f| &f.0) else { continue };
        let keys = |v: &Json| -> Vec<String> {
            v.as_object()
                .map(|m| m.keys().filter_map(|k| k.strip_prefix("f:")).map(str::to_string).collect())
                .unwrap_or_default()
        };
        owned.data.extend(keys(&fields["f:data"]));
        owned.labels.extend(keys(&fields["f:metadata"]["f:labels"]));
        owned.annotations.extend(keys(&fields["f:metadata"]["f:annotations"]));
    }
    owned
}

/// Labels some field manager other than this provider's holds (its value stays when this
/// provider lets go of the label).
pub(super) fn labels_held_by_others(metadata: &ObjectMeta) -> BTreeSet<String> {
    let others: BTreeSet<&str> = metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|e| e.manager.as_deref())
        .filter(|m| *m != FIELD_MANAGER)
        .collect();
    others.into_iter().filter_map(|m| owned_by(metadata, m)).flat_map(|o| o.labels).collect()
}

/// Takes `keys` off the Secret's labels with a server-side apply under this provider's field
/// manager (issue 15: "take away the labels they select on, with server-side apply";
/// <https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management>: a field
/// left out of a manager's apply is removed only when no other manager owns it). The apply
/// carries every other field this manager applied with its live value (`data.config` included,
/// so the write-only bearer token is kept without being in state), and leaves `keys` out: a
/// label another manager also holds stays, with its value and its owner. This manager's own
/// exclusive create also owns the labels it sent (an `Update` entry an apply does not release);
/// those of `keys` no other manager holds are then removed by this manager (a merge patch on
/// exactly those keys). `live` is the Secret as just read.
pub(super) async fn remove_labels(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    m: &Model,
    live: &Secret,
    keys: &[String],
) -> Result<(), KubeError> {
    if keys.is_empty() {
        return Ok(());
    }
    let (namespace, name) = (m.namespace(), m.secret_name());
    let applied = applied_by_us(&live.metadata);
    let pick = |from: &Option<BTreeMap<String, String>>, owned: &[String], drop: &[String]| {
        let picked: BTreeMap<String, String> = from
            .iter()
            .flatten()
            .filter(|(k, _)| owned.contains(k) && !drop.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (!picked.is_empty()).then_some(picked)
    };
    let data: BTreeMap<String, ByteString> = live
        .data
        .iter()
        .flatten()
        .filter(|(k, _)| applied.data.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let body = Secret {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.to_string()),
            labels: pick(&live.metadata.labels, &applied.labels, keys),
            annotations: pick(&live.metadata.annotations, &applied.annotations, &[]),
            ..Default::default()
        },
        data: (!data.is_empty()).then_some(data),
        type_: live.type_.clone(),
        ..Default::default()
    };
    tracing::info!(object = %m.describe(), labels = ?keys, "taking the cluster out of its generators (server-side apply)");
    let api: Api<Secret> = Api::namespaced(client.client.clone(), namespace);
    let params = PatchParams::apply(FIELD_MANAGER);
    let patch = Patch::Apply(&body);
    let written =
        client.call(ctx, secret_call("patch", namespace, &name), || api.patch(&name, &params, &patch)).await?;
    let others = labels_held_by_others(&written.metadata);
    let left: serde_json::Map<String, Json> = written
        .metadata
        .labels
        .iter()
        .flatten()
        .filter(|(k, _)| keys.contains(k) && !others.contains(*k))
        .map(|(k, _)| (k.clone(), Json::Null))
        .collect();
    if !left.is_empty() {
        tracing::info!(object = %m.describe(), labels = ?left.keys().collect::<Vec<_>>(), "removing labels this provider's create still holds");
        let patch = serde_json::json!({ "metadata": { "labels": left } });
        let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        let patch = Patch::Merge(&patch);
        client.call(ctx, secret_call("patch", namespace, &name), || api.patch(&name, &params, &patch)).await?;
    }
    Ok(())
}

/// Other cluster Secrets in `namespace` that register the same server or name as `m` (the Argo
/// CD CLI's `cluster-<host>-<hash>`, another registration). With two Secrets for one server,
/// Argo CD picks either, and it may flip (`util/settings/cluster_informer.go`
/// `GetClusterByURL` returns the first of an index over a map); two for one name fail
/// `destination.name` lookups (`util/argo/argo.go` `GetDestinationServer`: "there are N clusters
/// with the same name").
pub(super) async fn rival_registrations(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    m: &Model,
) -> Result<Vec<String>, KubeError> {
    let namespace = m.namespace();
    let api: Api<Secret> = Api::namespaced(client.client.clone(), namespace);
    let params =
        ListParams::default().labels(&format!("{}={}", argocd::SECRET_TYPE_LABEL, argocd::SECRET_TYPE_CLUSTER));
    let call = Call::on("list", &ApiResource::erase::<Secret>(&())).namespace(namespace);
    let list = client.call(ctx, call, || api.list(&params)).await?;
    let ours = m.secret_name();
    let server = argocd::trim_server(m.server());
    Ok(list
        .items
        .iter()
        .filter(|s| s.metadata.name.as_deref() != Some(ours.as_str()))
        .filter_map(|s| {
            let live = argocd::LiveCluster::from_secret(s);
            let other = s.metadata.name.clone().unwrap_or_default();
            if !server.is_empty() && live.server == server {
                Some(format!("{namespace}/{other} registers the same server {server}"))
            } else if live.name == m.name {
                Some(format!("{namespace}/{other} registers the same cluster name {:?}", m.name))
            } else {
                None
            }
        })
        .collect())
}

/// Argo CD's cluster Secrets in `namespace` (label `argocd.argoproj.io/secret-type: cluster`),
/// narrowed by `selector` (a Kubernetes label selector) when given.
pub(super) async fn cluster_secrets(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    namespace: &str,
    selector: Option<&str>,
) -> Result<Vec<Secret>, KubeError> {
    let api: Api<Secret> = Api::namespaced(client.client.clone(), namespace);
    let mut labels = format!("{}={}", argocd::SECRET_TYPE_LABEL, argocd::SECRET_TYPE_CLUSTER);
    if let Some(extra) = selector.filter(|s| !s.trim().is_empty()) {
        labels.push(',');
        labels.push_str(extra);
    }
    let params = ListParams::default().labels(&labels);
    let call = Call::on("list", &ApiResource::erase::<Secret>(&())).namespace(namespace);
    Ok(client.call(ctx, call, || api.list(&params)).await?.items)
}

/// The Secret `namespace/name`: None when it does not exist.
pub(super) async fn get_secret(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    namespace: &str,
    name: &str,
) -> Result<Option<Secret>, KubeError> {
    let api: Api<Secret> = Api::namespaced(client.client.clone(), namespace);
    client.call(ctx, secret_call("get", namespace, name), || api.get_opt(name)).await
}

/// Deletes the model's Secret; one already gone is fine.
pub(super) async fn delete_secret(ctx: &Ctx<ShardData>, client: &KubeClient, m: &Model) -> Result<(), KubeError> {
    let (namespace, name) = (m.namespace(), m.secret_name());
    let api: Api<Secret> = Api::namespaced(client.client.clone(), namespace);
    let params = DeleteParams::default();
    match client.call(ctx, secret_call("delete", namespace, &name), || api.delete(&name, &params)).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

/// A server-side apply conflict, as a diagnostic naming the other managers.
fn conflict_diag(m: &Model, found: &[Conflict]) -> Diagnostics {
    let mut by_manager: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in found {
        by_manager.entry(c.manager.as_str()).or_default().push(c.field.as_str());
    }
    let owners: Vec<String> =
        by_manager.iter().map(|(manager, fields)| format!("{manager:?} owns {}", fields.join(", "))).collect();
    Diagnostics::error(
        format!("{} is managed by someone else", m.describe()),
        format!(
            "another field manager holds fields this registration would change: {}. Nothing was overwritten. \
             Remove the other registration (for example `argocd cluster rm`), import this Secret with \
             `terraform import` to adopt it, or set force_conflicts = true to take these fields over.",
            owners.join("; ")
        ),
    )
}

/// Writes the Secret: one server-side apply (plus, rarely, removing leftovers another manager
/// holds). `prior` is the refreshed state on update: conflicts on fields it owns are drift the
/// plan showed, and are taken back.
pub(super) async fn write_secret(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    m: &Model,
    token: Option<&str>,
    prior: Option<&Model>,
) -> Result<Secret, Diagnostics> {
    let mut desired = m.cluster_secret(token)?;
    // `config` is one data key: on update, keep the settings in it that others own.
    if prior.is_some()
        && let Some(live) = get_secret(ctx, client, m.namespace(), &m.secret_name()).await?
        && let Ok(config) = argocd::LiveCluster::from_secret(&live).config
    {
        desired.config.keep_foreign_settings(&config);
    }
    let body = desired.apply_body();
    let (namespace, name) = (m.namespace(), m.secret_name());
    let api: Api<Secret> = Api::namespaced(client.client.clone(), namespace);
    // A new registration creates its Secret exclusively, so that of two directories registering
    // one cluster at the same moment the second fails naming the first: a server-side apply by
    // the same field manager would take the Secret over silently (last writer wins).
    let created = prior.is_none() && !m.force_conflicts && create_exclusively(ctx, client, m, &api, &body).await?;
    let call = secret_call("patch", namespace, &name);
    let apply = |force: bool| {
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.force = force;
        let (api, body, name) = (&api, &body, &name);
        async move { api.patch(name, &params, &Patch::Apply(body)).await }
    };
    tracing::debug!(object = %m.describe(), "server-side apply of the cluster Secret");
    // Just created by us: our own create's fields (an `Update` entry of our manager) are ours.
    let written = match client.call(ctx, call.clone(), || apply(m.force_conflicts || created)).await {
        Ok(s) => s,
        Err(e) if !e.field_conflicts().is_empty() => {
            let found = e.field_conflicts();
            let ours = prior.map(Model::owned_fields).unwrap_or_default();
            if prior.is_none() || !found.iter().all(|c| ours.contains(&c.field)) {
                return Err(conflict_diag(m, &found));
            }
            tracing::info!(object = %m.describe(), conflicts = ?found, "repairing drift: taking back fields this registration owns");
            client.call(ctx, call, || apply(true)).await?
        }
        Err(e) => return Err(e.into()),
    };
    remove_leftovers(ctx, client, m, &desired, prior, written).await
}

/// `POST`s the Secret: Kubernetes answers 409 `AlreadyExists` when it exists
/// (<https://kubernetes.io/docs/reference/using-api/api-concepts/#response-status-kind>), which
/// makes the create atomic. Returns whether it created the Secret. When the Secret exists and
/// other field managers hold fields of it, the server-side apply that follows reports them (a
/// conflict); when only this provider's manager does, it is another registration's, and that is
/// an error naming it — unless it is this create's own object, met again by a retry after an
/// attempt whose answer was lost ([`is_this_create`]).
async fn create_exclusively(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    m: &Model,
    api: &Api<Secret>,
    body: &Json,
) -> Result<bool, Diagnostics> {
    let secret: Secret = serde_json::from_value(body.clone())
        .map_err(|e| Diagnostics::error("Cluster Secret could not be built", e.to_string()))?;
    let (namespace, name) = (m.namespace(), m.secret_name());
    let call = Call::on("create", &ApiResource::erase::<Secret>(&())).namespace(namespace).name(&name);
    let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let create = || {
        attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        api.create(&params, &secret)
    };
    match client.call(ctx, call, create).await {
        Ok(_) => Ok(true),
        Err(e) if e.status() == Some(409) => {
            let existing = get_secret(ctx, client, namespace, &name).await?;
            // A create is not idempotent: when the answer to an attempt is lost (the connection
            // dropped after the API server stored the object), the retried POST meets the object
            // that attempt created and gets 409 AlreadyExists
            // (<https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-creation>
            // offers no create-if-absent token). It is this create's own object when an earlier
            // attempt may have landed, it holds exactly what was sent, and nothing but this
            // provider's create (one `Update` entry of its field manager) ever wrote it.
            if attempts.load(std::sync::atomic::Ordering::Relaxed) > 1
                && let Some(found) = existing.as_ref()
                && is_this_create(found, &secret)
            {
                tracing::info!(object = %m.describe(), "an earlier attempt of the create landed; the Secret is ours");
                return Ok(true);
            }
            let managers: Vec<(String, String, String)> = existing
                .as_ref()
                .and_then(|s| s.metadata.managed_fields.as_ref())
                .map(|entries| {
                    entries
                        .iter()
                        .map(|e| {
                            (
                                e.manager.clone().unwrap_or_default(),
                                e.operation.clone().unwrap_or_default(),
                                e.time.as_ref().map(|t| t.0.to_string()).unwrap_or_else(|| "?".into()),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            if managers.iter().any(|(manager, _, _)| manager != FIELD_MANAGER) {
                // Someone else's (the Argo CD CLI's, a Helm chart's): the apply names who owns what.
                return Ok(false);
            }
            let created_at = existing
                .as_ref()
                .and_then(|s| s.metadata.creation_timestamp.as_ref())
                .map(|t| t.0.to_string())
                .unwrap_or_else(|| "?".into());
            let writes: Vec<String> = managers.iter().map(|(_, op, time)| format!("{op} at {time}")).collect();
            Err(Diagnostics::attr_error(
                crate::framework::AttrPath::attr("name"),
                "The cluster is registered in Argo CD already",
                format!(
                    "the cluster Secret {namespace}/{name} exists: another shard_argocd_cluster_registration (field \
                     manager {FIELD_MANAGER:?}, in another Terraform directory or state) created it at {created_at} \
                     and wrote it ({}). Nothing was overwritten. Two registrations of one cluster would overwrite \
                     each other; keep one, or adopt the Secret here with `terraform import` (or force_conflicts = \
                     true).",
                    writes.join(", ")
                ),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// When this provider's field manager last applied the Secret, as the API server recorded it
/// (`managedFields[].time` of its `Apply` entry, RFC 3339 UTC, to the second).
pub(super) fn applied_at(secret: &Secret) -> Option<String> {
    secret
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|e| e.manager.as_deref() == Some(FIELD_MANAGER) && e.operation.as_deref() == Some("Apply"))
        .filter_map(|e| serde_json::to_value(e.time.as_ref()?).ok()?.as_str().map(str::to_string))
        .max()
}

/// Whether `found` is what the create of `sent` made and nobody wrote since: the same labels,
/// annotations, data and type, and `managedFields` holding only this provider's create.
fn is_this_create(found: &Secret, sent: &Secret) -> bool {
    let only_our_create = found.metadata.managed_fields.as_ref().is_some_and(|entries| {
        !entries.is_empty()
            && entries
                .iter()
                .all(|e| e.manager.as_deref() == Some(FIELD_MANAGER) && e.operation.as_deref() == Some("Update"))
    });
    let or_empty = |m: &Option<BTreeMap<String, String>>| m.clone().unwrap_or_default();
    only_our_create
        && or_empty(&found.metadata.labels) == or_empty(&sent.metadata.labels)
        && or_empty(&found.metadata.annotations) == or_empty(&sent.metadata.annotations)
        && found.data.clone().unwrap_or_default() == sent.data.clone().unwrap_or_default()
        && found.type_.as_deref().unwrap_or("Opaque") == sent.type_.as_deref().unwrap_or("Opaque")
}

/// Removes what this registration no longer wants but another manager still holds (server-side
/// apply leaves fields it does not own alone): data keys Argo CD would read, and labels or
/// annotations the prior state had.
async fn remove_leftovers(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    m: &Model,
    desired: &ClusterSecret,
    prior: Option<&Model>,
    written: Secret,
) -> Result<Secret, Diagnostics> {
    // A JSON merge patch: null removes a key.
    let mut data = serde_json::Map::new();
    let mut labels = serde_json::Map::new();
    let mut annotations = serde_json::Map::new();
    let live_data = written.data.clone().unwrap_or_default();
    for key in desired.absent_data_keys() {
        if prior.is_some() && live_data.contains_key(key) {
            data.insert(key.to_string(), Json::Null);
        }
    }
    if let Some(p) = prior {
        let live_labels = written.metadata.labels.clone().unwrap_or_default();
        for k in p.labels.iter().flatten().map(|(k, _)| k) {
            if !desired.labels.contains_key(k) && live_labels.contains_key(k) {
                labels.insert(k.clone(), Json::Null);
            }
        }
        let live_annotations = written.metadata.annotations.clone().unwrap_or_default();
        for k in p.annotations.iter().flatten().map(|(k, _)| k) {
            if !desired.annotations.contains_key(k) && live_annotations.contains_key(k) {
                annotations.insert(k.clone(), Json::Null);
            }
        }
    }
    if data.is_empty() && labels.is_empty() && annotations.is_empty() {
        return Ok(written);
    }
    let patch = serde_json::json!({ "data": data, "metadata": { "labels": labels, "annotations": annotations } });
    tracing::info!(object = %m.describe(), %patch, "removing fields another manager still holds");
    let api: Api<Secret> = Api::namespaced(client.client.clone(), m.namespace());
    let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
    let patch = Patch::Merge(&patch);
    let call = secret_call("patch", m.namespace(), &desired.secret_name);
    Ok(client.call(ctx, call, || api.patch(&desired.secret_name, &params, &patch)).await?)
}
