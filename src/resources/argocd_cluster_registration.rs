//! `shard_argocd_cluster_registration`: a shard as an Argo CD cluster Secret on the hub, written
//! declaratively (no Argo CD API, no admin token, no connection to the shard), optionally
//! waiting until the Applications Argo CD generates for it are Synced and Healthy, and on
//! destroy until they are gone.
//!
//! The Secret is written with server-side apply under this provider's field manager, so labels,
//! annotations and data keys others add survive and only the fields this resource owns are
//! compared. Field names and encodings are Argo CD's own (see [`crate::clients::argocd`]).
//! A write-only `bearer_token` is never stored: a hash of what was written is kept in private
//! state, and a Secret whose token differs from it shows as drift.

use crate::clients::ShardData;
use crate::clients::argocd::{
    self, AppStatus, AwsAuthConfig, ClusterConfig, ClusterSecret, Conflict, ExecProviderConfig, FIELD_MANAGER,
    LiveCluster, SECRET_TYPE_LABEL, TlsClientConfig, rules,
};
use crate::clients::kubernetes::{self, Call, KubeClient, KubeError, describe_eks, normalise_ca};
use crate::framework::schema::{Attribute, IdentityAttribute, IdentitySchema, NestedBlock, Nesting, validators};
use crate::framework::timeouts::{Op, Timeouts, format_duration, parse_duration, timeouts_block_with_defaults};
use crate::framework::{
    Attr, AttrPath, Check, CreateRequest, Ctx, DeleteRequest, Diagnostics, ImportRequest, Outcome, PlanRequest,
    Private, ReadRequest, Resource, Schema, UpdateRequest, ValidateRequest, WaitError,
};
use crate::protocol::value::{Type, Value};
use async_trait::async_trait;
use base64::Engine;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use kube::runtime::watcher;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

const DEFAULT_WAIT: &str = "20m";
/// Private state key: SHA-256 of the bearer token last written.
const TOKEN_HASH: &str = "bearer_token_sha256";

#[derive(Default)]
pub struct ClusterRegistrationResource;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Model {
    id: Attr<String>,
    name: String,
    namespace: Attr<String>,
    secret_name: Attr<String>,
    eks_cluster_name: Option<String>,
    server: Attr<String>,
    ca_data: Attr<String>,
    insecure: bool,
    aws_auth: Option<AwsAuth>,
    exec: Option<Exec>,
    /// Write-only: always null here (the value comes from the configuration).
    bearer_token: Option<String>,
    bearer_token_version: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
    project: Option<String>,
    namespaces: Option<Vec<String>>,
    cluster_resources: Option<bool>,
    controller_shard: Option<i64>,
    wait_for_sync: Option<WaitForSync>,
    wait_for_removal: bool,
    force_conflicts: bool,
    applications: Attr<Vec<AppEntry>>,
    timeouts: Option<Timeouts>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
struct AwsAuth {
    role_arn: Option<String>,
    cluster_name: Option<String>,
    profile: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
struct Exec {
    command: String,
    args: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    api_version: Option<String>,
    install_hint: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
struct WaitForSync {
    min_applications: i64,
    timeout: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
struct AppEntry {
    name: String,
    sync_status: String,
    health_status: String,
}

impl From<&AppStatus> for AppEntry {
    fn from(a: &AppStatus) -> AppEntry {
        AppEntry { name: a.name.clone(), sync_status: a.sync_status.clone(), health_status: a.health_status.clone() }
    }
}

/// `<namespace>/<secret_name>`: the id and the import id.
pub fn resource_id(namespace: &str, secret_name: &str) -> String {
    format!("{namespace}/{secret_name}")
}

fn known_str(a: &Attr<String>) -> Option<&str> {
    a.known().map(String::as_str)
}

impl Model {
    fn namespace(&self) -> &str {
        known_str(&self.namespace).unwrap_or(argocd::DEFAULT_ARGOCD_NAMESPACE)
    }
    fn secret_name(&self) -> String {
        known_str(&self.secret_name).map(str::to_string).unwrap_or_else(|| argocd::secret_name_for(&self.name))
    }
    fn server(&self) -> &str {
        known_str(&self.server).unwrap_or_default()
    }
    /// The cluster name Argo CD's awsAuthConfig uses: the block's, else eks_cluster_name.
    fn aws_cluster_name(&self) -> Option<String> {
        self.aws_auth.as_ref().and_then(|a| a.cluster_name.clone()).or_else(|| self.eks_cluster_name.clone())
    }
    fn secret_call(&self, verb: &'static str) -> Call {
        Call { verb, resource: "secrets".into(), namespace: Some(self.namespace().to_string()) }
    }
    fn describe(&self) -> String {
        format!("Secret {}/{}", self.namespace(), self.secret_name())
    }

    /// `config` as this model writes it; `token` is the write-only value from the configuration.
    fn cluster_config(&self, token: Option<&str>) -> Result<ClusterConfig, Diagnostics> {
        let ca_data = match known_str(&self.ca_data) {
            Some(ca) => {
                let pem = normalise_ca(ca)
                    .map_err(|e| Diagnostics::attr_error(AttrPath::attr("ca_data"), "Invalid CA certificate", e))?;
                // PEM text ends with a newline (as EKS's certificateAuthority.data decodes).
                let pem = format!("{}\n", pem.trim_end());
                base64::engine::general_purpose::STANDARD.encode(pem.as_bytes())
            }
            None => String::new(),
        };
        let mut config = ClusterConfig {
            tls: TlsClientConfig { insecure: self.insecure, ca_data, ..Default::default() },
            ..Default::default()
        };
        if let Some(a) = &self.aws_auth {
            config.aws_auth = Some(AwsAuthConfig {
                cluster_name: self.aws_cluster_name().unwrap_or_default(),
                role_arn: a.role_arn.clone().unwrap_or_default(),
                profile: a.profile.clone().unwrap_or_default(),
            });
        }
        if let Some(e) = &self.exec {
            config.exec = Some(ExecProviderConfig {
                command: e.command.clone(),
                args: e.args.clone().unwrap_or_default(),
                env: e.env.clone().unwrap_or_default(),
                api_version: e.api_version.clone().unwrap_or_default(),
                install_hint: e.install_hint.clone().unwrap_or_default(),
                ..Default::default()
            });
        }
        if let Some(t) = token {
            config.bearer_token = t.to_string();
        }
        Ok(config)
    }

    fn cluster_secret(&self, token: Option<&str>) -> Result<ClusterSecret, Diagnostics> {
        Ok(ClusterSecret {
            namespace: self.namespace().to_string(),
            secret_name: self.secret_name(),
            name: self.name.clone(),
            server: self.server().to_string(),
            namespaces: self.namespaces.clone().unwrap_or_default(),
            cluster_resources: self.cluster_resources.unwrap_or(false),
            project: self.project.clone(),
            shard: self.controller_shard,
            config: self.cluster_config(token)?,
            labels: self.labels.clone().unwrap_or_default(),
            annotations: self.annotations.clone().unwrap_or_default(),
        })
    }

    /// Secret fields this state says the resource owns (conflicts on them are drift to repair).
    fn owned_fields(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = ["name", "server", "config"].iter().map(|k| argocd::data_field(k)).collect();
        if self.namespaces.as_ref().is_some_and(|n| !n.is_empty()) {
            out.insert(argocd::data_field("namespaces"));
        }
        if self.cluster_resources == Some(true) {
            out.insert(argocd::data_field("clusterResources"));
        }
        if self.project.as_ref().is_some_and(|p| !p.is_empty()) {
            out.insert(argocd::data_field("project"));
        }
        if self.controller_shard.is_some() {
            out.insert(argocd::data_field("shard"));
        }
        out.extend(self.labels.iter().flatten().map(|(k, _)| argocd::label_field(k)));
        out.extend(self.annotations.iter().flatten().map(|(k, _)| argocd::annotation_field(k)));
        out.insert(argocd::label_field(SECRET_TYPE_LABEL));
        out
    }
}

/// Wraps a failed Kubernetes call in a diagnostic.
fn kube_diag(client: &KubeClient, call: Call, err: &kube::Error) -> Diagnostics {
    client.error(call, err).into()
}

/// Runs one API call with the shared retry policy; a 409 is retried unless it is a field-manager
/// conflict (another manager owns a field: retrying cannot help, `force_conflicts` can).
async fn retrying<T, F, Fut>(ctx: &Ctx<ShardData>, client: &KubeClient, call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    match ctx.bounded(kubernetes::retrying(client, |status| argocd::conflicts(status).is_empty(), call)).await {
        Ok(result) => result,
        Err(i) => Err(kube::Error::Service(Box::new(std::io::Error::other(i.to_string())))),
    }
}

fn application_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"))
}

fn apps_call(namespace: &str, verb: &'static str) -> Call {
    Call { verb, resource: "applications.argoproj.io".into(), namespace: Some(namespace.to_string()) }
}

/// Targeting Applications among `objects`, sorted by name.
fn targeting<'a>(objects: impl Iterator<Item = &'a Json>, server: &str, name: &str) -> Vec<AppStatus> {
    let mut apps: Vec<AppStatus> =
        objects.filter(|o| argocd::targets(o, server, name)).map(argocd::app_status).collect();
    apps.sort();
    apps
}

/// What the watch stream hands the wait: an event, or a transient failure it recovers from.
enum Seen {
    Event(Box<watcher::Event<DynamicObject>>),
    Retrying(String),
}

/// Follows the Applications of `namespace` (one list, then a watch) until `verdict` over those
/// targeting the cluster holds, `budget` runs out, or the operation's deadline or a stop comes.
async fn wait_for_apps<T>(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    namespace: &str,
    (server, name): (&str, &str),
    budget: Duration,
    verdict: impl Fn(&[AppStatus]) -> Result<T, String>,
) -> Result<T, WaitError<KubeError>> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.client.clone(), namespace, &application_resource());
    let call = apps_call(namespace, "watch");
    let stream = kube::runtime::WatchStreamExt::default_backoff(watcher(api, watcher::Config::default()));
    let stream = stream.map(|item| match item {
        Ok(e) => Ok(Seen::Event(Box::new(e))),
        Err(e) => {
            let inner = match &e {
                watcher::Error::InitialListFailed(k) | watcher::Error::WatchStartFailed(k) => Some(k),
                watcher::Error::WatchFailed(k) => Some(k),
                _ => None,
            };
            match inner.map(|k| client.error(call.clone(), k)) {
                Some(k @ (KubeError::Forbidden { .. } | KubeError::Unauthorized { .. } | KubeError::Tls { .. })) => {
                    Err(k)
                }
                Some(k @ KubeError::Api { code: 404, .. }) => Err(k),
                _ => Ok(Seen::Retrying(e.to_string())),
            }
        }
    });
    let wait_ctx = Ctx::new(ctx.data.clone(), ctx.cancel.child_token(), budget.min(ctx.remaining()));
    let mut objects: BTreeMap<String, Json> = BTreeMap::new();
    let mut buffer: BTreeMap<String, Json> = BTreeMap::new();
    let mut listed = false;
    let mut last = String::from("Applications not listed yet");
    let key = |o: &DynamicObject| o.metadata.name.clone().unwrap_or_default();
    let as_json = |o: &DynamicObject| serde_json::to_value(o).unwrap_or(Json::Null);
    wait_ctx
        .watch(stream, |seen| {
            let seen = match seen {
                Seen::Event(e) => Ok(*e),
                Seen::Retrying(why) => Err(why),
            };
            let changed = match seen {
                Err(why) => return Check::NotYet(format!("{last} (watch interrupted, retrying: {why})")),
                Ok(watcher::Event::Init) => {
                    buffer.clear();
                    false
                }
                Ok(watcher::Event::InitApply(o)) => {
                    buffer.insert(key(&o), as_json(&o));
                    false
                }
                Ok(watcher::Event::InitDone) => {
                    objects = std::mem::take(&mut buffer);
                    listed = true;
                    true
                }
                Ok(watcher::Event::Apply(o)) => {
                    objects.insert(key(&o), as_json(&o));
                    true
                }
                Ok(watcher::Event::Delete(o)) => {
                    objects.remove(&key(&o));
                    true
                }
            };
            if !(changed && listed) {
                return Check::NotYet(last.clone());
            }
            match verdict(&targeting(objects.values(), server, name)) {
                Ok(t) => Check::Ready(t),
                Err(why) => {
                    last = why;
                    Check::NotYet(last.clone())
                }
            }
        })
        .await
}

/// The Applications targeting the cluster now (one list). None when Applications cannot be
/// listed (no Argo CD CRD, or no permission), with the reason.
async fn list_apps(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    namespace: &str,
    server: &str,
    name: &str,
) -> Result<Vec<AppStatus>, KubeError> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.client.clone(), namespace, &application_resource());
    let params = ListParams::default().match_any();
    let list = retrying(ctx, client, || api.list(&params))
        .await
        .map_err(|e| client.error(apps_call(namespace, "list"), &e))?;
    let objects: Vec<Json> = list.items.iter().map(|o| serde_json::to_value(o).unwrap_or(Json::Null)).collect();
    Ok(targeting(objects.iter(), server, name))
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
async fn write_secret(
    ctx: &Ctx<ShardData>,
    client: &KubeClient,
    m: &Model,
    token: Option<&str>,
    prior: Option<&Model>,
) -> Result<Secret, Diagnostics> {
    let desired = m.cluster_secret(token)?;
    let body = desired.apply_body();
    let api: Api<Secret> = Api::namespaced(client.client.clone(), m.namespace());
    let name = m.secret_name();
    let apply = |force: bool| {
        let api = api.clone();
        let body = body.clone();
        let name = name.clone();
        async move {
            let mut params = PatchParams::apply(FIELD_MANAGER);
            params.force = force;
            api.patch(&name, &params, &Patch::Apply(&body)).await
        }
    };
    tracing::debug!(object = %m.describe(), "server-side apply of the cluster Secret");
    let written = match retrying(ctx, client, || apply(m.force_conflicts)).await {
        Ok(s) => s,
        Err(kube::Error::Api(status)) if status.code == 409 && !argocd::conflicts(&status).is_empty() => {
            let found = argocd::conflicts(&status);
            let ours = prior.map(Model::owned_fields).unwrap_or_default();
            if prior.is_none() || !found.iter().all(|c| ours.contains(&c.field)) {
                return Err(conflict_diag(m, &found));
            }
            tracing::info!(object = %m.describe(), conflicts = ?found, "repairing drift: taking back fields this registration owns");
            retrying(ctx, client, || apply(true)).await.map_err(|e| kube_diag(client, m.secret_call("patch"), &e))?
        }
        Err(e) => return Err(kube_diag(client, m.secret_call("patch"), &e)),
    };
    remove_leftovers(ctx, client, m, &desired, prior, written).await
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
    retrying(ctx, client, || api.patch(&desired.secret_name, &params, &patch))
        .await
        .map_err(|e| kube_diag(client, m.secret_call("patch"), &e))
}

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
    let (endpoint, ca) = describe_eks(&ctx.data.aws, &cluster).await.map_err(|e| {
        Diagnostics::attr_error(AttrPath::attr("eks_cluster_name"), "Cannot describe the EKS cluster", e.to_string())
    })?;
    if m.server.is_unknown() {
        m.server = Attr::Known(argocd::trim_server(&endpoint).to_string());
    }
    if m.ca_data.is_unknown() {
        m.ca_data = Attr::Known(ca);
    }
    Ok(())
}

/// Create and update: write, then wait if asked. Returns the state matching reality.
async fn converge(
    ctx: &Ctx<ShardData>,
    mut m: Model,
    config: &Value,
    mut private: Private,
    prior: Option<&Model>,
) -> Result<Outcome<Model>, Diagnostics> {
    let client = ctx.data.hub_client().await.map_err(Diagnostics::from)?;
    resolve_endpoint(ctx, &mut m).await?;
    if m.namespace.is_unknown() {
        // The provider's hub.argocd_namespace was unknown while planning; it is known now.
        let ns = ctx.data.argocd_namespace().unwrap_or_else(|| argocd::DEFAULT_ARGOCD_NAMESPACE.to_string());
        m.namespace = Attr::Known(ns);
    }
    m.namespace = Attr::Known(m.namespace().to_string());
    m.secret_name = Attr::Known(m.secret_name());
    m.id = Attr::Known(resource_id(m.namespace(), &m.secret_name()));
    m.bearer_token = None;
    let token = config.get("bearer_token").as_str().map(str::to_string);
    write_secret(ctx, &client, &m, token.as_deref(), prior).await?;
    match &token {
        Some(t) => private.set(TOKEN_HASH, &argocd::token_hash(t)),
        None => private.remove(TOKEN_HASH),
    }
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
    let target = (m.server().to_string(), m.name.clone());
    let waited = wait_for_apps(ctx, &client, m.namespace(), (&target.0, &target.1), budget, |apps| {
        argocd::sync_verdict(apps, min, &target.1).map(|()| apps.to_vec())
    })
    .await;
    let why = match waited {
        Ok(apps) => {
            m.applications = Attr::Known(apps.iter().map(AppEntry::from).collect());
            return Ok(Outcome::ok(m).with_private(private));
        }
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

/// The state after comparing it with the live Secret: every owned field that differs takes the
/// live value (so the plan shows the drift); values that mean the same are kept as written.
fn refresh(state: &Model, live: &LiveCluster, private: &Private, warn: &mut Vec<String>) -> Model {
    let mut m = state.clone();
    m.name = live.name.clone();
    if argocd::trim_server(state.server()) != live.server {
        m.server = Attr::Known(live.server.clone());
    }
    let state_namespaces = state.namespaces.clone().unwrap_or_default();
    if state_namespaces.iter().map(|s| s.trim()).collect::<Vec<_>>() != live.namespaces {
        m.namespaces = Some(live.namespaces.clone());
    }
    if state.cluster_resources.unwrap_or(false) != live.cluster_resources {
        m.cluster_resources = Some(live.cluster_resources);
    }
    if state.project.clone().unwrap_or_default() != live.project {
        m.project = (!live.project.is_empty()).then(|| live.project.clone());
    }
    let live_shard = match &live.shard {
        Some(Ok(n)) => Some(*n),
        _ => None,
    };
    if state.controller_shard != live_shard {
        m.controller_shard = live_shard;
    }
    // Labels and annotations: the keys this resource manages, with their live values.
    let refresh_map = |ours: &Option<BTreeMap<String, String>>, live: &BTreeMap<String, String>| {
        ours.as_ref()
            .map(|o| o.keys().filter_map(|k| live.get(k).map(|v| (k.clone(), v.clone()))).collect::<BTreeMap<_, _>>())
    };
    m.labels = refresh_map(&state.labels, &live.labels);
    m.annotations = refresh_map(&state.annotations, &live.annotations);

    let config = match &live.config {
        Ok(c) => c,
        Err(e) => {
            warn.push(format!("its config cannot be read by Argo CD ({e})"));
            null_auth(&mut m);
            return m;
        }
    };
    // tlsClientConfig.
    if config.tls.insecure != state.insecure {
        m.insecure = config.tls.insecure;
    }
    let state_ca = known_str(&state.ca_data).and_then(|c| normalise_ca(c).ok());
    let live_ca = config.ca_pem();
    if state_ca.as_deref().map(str::trim) != live_ca.as_deref().map(str::trim) {
        m.ca_data = match live_ca {
            Some(pem) => Attr::Known(pem),
            None => Attr::Null,
        };
    }
    // Credentials: the live ones, in the shape of the state's blocks.
    m.aws_auth = config.aws_auth.as_ref().map(|a| {
        let implied = state.aws_cluster_name().unwrap_or_default() == a.cluster_name
            && state.aws_auth.as_ref().is_some_and(|s| s.cluster_name.is_none());
        AwsAuth {
            role_arn: keep_or(state.aws_auth.as_ref().and_then(|s| s.role_arn.clone()), &a.role_arn),
            cluster_name: if implied { None } else { (!a.cluster_name.is_empty()).then(|| a.cluster_name.clone()) },
            profile: keep_or(state.aws_auth.as_ref().and_then(|s| s.profile.clone()), &a.profile),
        }
    });
    m.exec = config.exec.as_ref().map(|e| {
        let s = state.exec.as_ref();
        Exec {
            command: e.command.clone(),
            args: keep_or_vec(s.and_then(|s| s.args.clone()), &e.args),
            env: match s.and_then(|s| s.env.clone()) {
                Some(env) if env == e.env => Some(env),
                None if e.env.is_empty() => None,
                _ => Some(e.env.clone()),
            },
            api_version: keep_or(s.and_then(|s| s.api_version.clone()), &e.api_version),
            install_hint: keep_or(s.and_then(|s| s.install_hint.clone()), &e.install_hint),
        }
    });
    let written_hash: Option<String> = private.get(TOKEN_HASH);
    let live_hash = (!config.bearer_token.is_empty()).then(|| argocd::token_hash(&config.bearer_token));
    if written_hash != live_hash {
        if state.bearer_token_version.is_some() || live_hash.is_some() {
            warn.push(match (&written_hash, &live_hash) {
                (Some(_), Some(_)) => "its bearer token is not the one Terraform wrote".to_string(),
                (Some(_), None) => "its bearer token was removed".to_string(),
                _ => "it holds a bearer token Terraform did not write".to_string(),
            });
        }
        // A version that differs from the configuration's makes the plan write the token again.
        m.bearer_token_version = None;
    }
    let extra = config.unmanaged();
    if !extra.is_empty() {
        warn.push(format!("its config has settings this resource does not manage ({})", extra.join(", ")));
        null_auth(&mut m);
    }
    m
}

/// Marks the credentials as gone, so the plan writes the whole config again.
fn null_auth(m: &mut Model) {
    m.aws_auth = None;
    m.exec = None;
    m.bearer_token_version = None;
}

/// The state's value when the live one means the same; else the live one (empty is null).
fn keep_or(state: Option<String>, live: &str) -> Option<String> {
    match state {
        Some(s) if s == live => Some(s),
        None if live.is_empty() => None,
        _ if live.is_empty() => None,
        _ => Some(live.to_string()),
    }
}

fn keep_or_vec(state: Option<Vec<String>>, live: &[String]) -> Option<Vec<String>> {
    match state {
        Some(s) if s == live => Some(s),
        None if live.is_empty() => None,
        _ => Some(live.to_vec()),
    }
}

/// Reads the Secret: None when it does not exist.
async fn get_secret(ctx: &Ctx<ShardData>, client: &KubeClient, m: &Model) -> Result<Option<Secret>, Diagnostics> {
    let api: Api<Secret> = Api::namespaced(client.client.clone(), m.namespace());
    let name = m.secret_name();
    retrying(ctx, client, || api.get_opt(&name)).await.map_err(|e| kube_diag(client, m.secret_call("get"), &e))
}

/// A model for an existing Secret (import): everything from the Secret as Argo CD reads it.
fn imported(namespace: &str, secret_name: &str, secret: &Secret, live: &LiveCluster) -> Result<Model, Diagnostics> {
    let config = live
        .config
        .clone()
        .map_err(|e| Diagnostics::error("Cannot import", format!("Secret {namespace}/{secret_name}: {e}")))?;
    // Labels and annotations this provider's field manager owns; all user ones otherwise.
    let owned = argocd::owned_by(secret, FIELD_MANAGER);
    let pick = |all: BTreeMap<String, String>, keys: Option<&Vec<String>>| -> Option<BTreeMap<String, String>> {
        let picked: BTreeMap<String, String> = match keys {
            Some(keys) => all.into_iter().filter(|(k, _)| keys.contains(k)).collect(),
            None => all,
        };
        (!picked.is_empty()).then_some(picked)
    };
    let mut labels_owned = owned.as_ref().map(|o| o.labels.clone());
    if let Some(l) = labels_owned.as_mut() {
        l.retain(|k| k != SECRET_TYPE_LABEL);
    }
    let aws = config.aws_auth.as_ref();
    // The common shape: `eks_cluster_name` names the cluster and awsAuthConfig uses it.
    let eks_cluster_name = aws.map(|a| a.cluster_name.clone()).filter(|n| !n.is_empty());
    Ok(Model {
        id: Attr::Known(resource_id(namespace, secret_name)),
        name: live.name.clone(),
        namespace: Attr::Known(namespace.to_string()),
        secret_name: Attr::Known(secret_name.to_string()),
        eks_cluster_name,
        server: Attr::Known(live.server.clone()),
        ca_data: config.ca_pem().map_or(Attr::Null, Attr::Known),
        insecure: config.tls.insecure,
        aws_auth: aws.map(|a| AwsAuth {
            role_arn: (!a.role_arn.is_empty()).then(|| a.role_arn.clone()),
            cluster_name: None,
            profile: (!a.profile.is_empty()).then(|| a.profile.clone()),
        }),
        exec: config.exec.as_ref().map(|e| Exec {
            command: e.command.clone(),
            args: (!e.args.is_empty()).then(|| e.args.clone()),
            env: (!e.env.is_empty()).then(|| e.env.clone()),
            api_version: (!e.api_version.is_empty()).then(|| e.api_version.clone()),
            install_hint: (!e.install_hint.is_empty()).then(|| e.install_hint.clone()),
        }),
        bearer_token: None,
        bearer_token_version: None,
        labels: pick(live.user_labels(), labels_owned.as_ref()),
        annotations: pick(live.user_annotations(), owned.as_ref().map(|o| &o.annotations)),
        project: (!live.project.is_empty()).then(|| live.project.clone()),
        namespaces: (!live.namespaces.is_empty()).then(|| live.namespaces.clone()),
        cluster_resources: live.cluster_resources.then_some(true),
        controller_shard: match live.shard {
            Some(Ok(n)) => Some(n),
            _ => None,
        },
        wait_for_sync: None,
        wait_for_removal: true,
        force_conflicts: false,
        applications: Attr::Known(Vec::new()),
        timeouts: None,
    })
}

fn set(planned: &mut Value, name: &str, v: Value) {
    if let Some(slot) = planned.get_mut(name) {
        *slot = v;
    }
}

/// Plan-time checks of values that may be unknown (known ones are checked here, the rest at apply).
fn validate_config(c: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let set_ = |n: &str| !c.get(n).is_null();
    if !set_("server") && !set_("eks_cluster_name") {
        d.push_attr_error(
            AttrPath::attr("server"),
            "No server",
            "set server (the cluster's API URL) or eks_cluster_name (to read endpoint and CA from EKS)",
        );
    }
    let kinds: Vec<&str> = ["aws_auth", "exec", "bearer_token"].into_iter().filter(|k| set_(k)).collect();
    match kinds.len() {
        0 => d.push_attr_error(
            AttrPath::root(),
            "No credentials for Argo CD",
            "set exactly one of aws_auth, exec or bearer_token: how Argo CD authenticates to the cluster",
        ),
        1 => {}
        _ => {
            for k in &kinds[1..] {
                d.push_attr_error(
                    AttrPath::attr(*k),
                    "Several credentials for Argo CD",
                    format!("set exactly one of aws_auth, exec or bearer_token; found {}", kinds.join(", ")),
                );
            }
        }
    }
    if set_("bearer_token") && !set_("bearer_token_version") {
        d.push_attr_error(
            AttrPath::attr("bearer_token_version"),
            "bearer_token_version is required with bearer_token",
            "the token is write-only (never stored), so Terraform cannot see it change: give it a version and \
             raise the version to write a new token",
        );
    }
    if set_("bearer_token_version") && !set_("bearer_token") {
        d.push_attr_error(AttrPath::attr("bearer_token_version"), "bearer_token_version without bearer_token", "");
    }
    let aws = c.get("aws_auth");
    if !aws.is_null() && !aws.is_unknown() && aws.get("cluster_name").is_null() && !set_("eks_cluster_name") {
        d.push_attr_error(
            AttrPath::attr("aws_auth").then("cluster_name"),
            "No EKS cluster name for awsAuthConfig",
            "set aws_auth.cluster_name, or eks_cluster_name (which it defaults to)",
        );
    }
    for (attr, is_label) in [("labels", true), ("annotations", false)] {
        if let Value::Map(m) = c.get(attr) {
            for (k, v) in m {
                let path = AttrPath::attr(attr).key(k);
                if let Err(e) = rules::qualified_key(k) {
                    d.push_attr_error(path.clone(), format!("Invalid {} key", &attr[..attr.len() - 1]), e);
                }
                if is_label && k == SECRET_TYPE_LABEL {
                    d.push_attr_error(
                        path.clone(),
                        "Reserved label",
                        format!("{SECRET_TYPE_LABEL} is set by this resource (to \"cluster\")"),
                    );
                }
                if !is_label && argocd::SYSTEM_ANNOTATIONS.contains(&k.as_str()) {
                    d.push_attr_error(path.clone(), "Reserved annotation", format!("Argo CD drops {k} when reading"));
                }
                if is_label
                    && let Some(v) = v.as_str()
                    && let Err(e) = rules::label_value(v)
                {
                    d.push_attr_error(path, "Invalid label value", e);
                }
            }
        }
    }
    if let Value::List(items) = c.get("namespaces") {
        for (i, v) in items.iter().enumerate() {
            if let Some(s) = v.as_str()
                && let Err(e) = rules::dns_label(s)
            {
                d.push_attr_error(AttrPath::attr("namespaces").index(i), "Invalid namespace", e);
            }
        }
    }
    d
}

fn string_validator(f: fn(&str) -> Result<(), String>) -> impl Fn(&Value) -> Result<(), String> + Send + Sync {
    move |v| match v.as_str() {
        Some(s) => f(s),
        None => Err("must be a string".into()),
    }
}

fn url(s: &str) -> Result<(), String> {
    if (s.starts_with("https://") || s.starts_with("http://")) && s.len() > "https://".len() {
        Ok(())
    } else {
        Err(format!("{s:?} must be the API server URL, such as https://ABC.gr7.eu-west-1.eks.amazonaws.com"))
    }
}

fn pem(s: &str) -> Result<(), String> {
    normalise_ca(s).map(|_| ())
}

#[async_trait]
impl Resource<ShardData> for ClusterRegistrationResource {
    type Model = Model;

    fn name(&self) -> &'static str {
        "argocd_cluster_registration"
    }

    fn default_timeout(&self, op: Op) -> Duration {
        match op {
            Op::Create | Op::Update => Duration::from_secs(30 * 60),
            Op::Delete => Duration::from_secs(20 * 60),
            Op::Read => Duration::from_secs(5 * 60),
        }
    }

    fn schema(&self) -> Schema {
        let s = |n: &str| Attribute::string(n);
        Schema::new(
            "This shard as an Argo CD cluster: a cluster Secret in Argo CD's namespace on the hub (the provider's \
             `hub` connection), written with server-side apply under this provider's field manager. ApplicationSet \
             cluster generators pick it up by its labels. Optionally waits until the Applications targeting the \
             cluster are Synced and Healthy, and on destroy until they are gone. Argo CD is never called and the \
             shard itself is never contacted.",
            vec![
                s("id").computed().use_state_for_unknown().description("`<namespace>/<secret_name>`; also the import id."),
                s("name")
                    .required()
                    .validate(validators::non_empty())
                    .description("Argo CD cluster name (Secret data `name`): what `destination.name` and the cluster generator's `{{name}}` use. Changing it updates the Secret in place."),
                s("namespace")
                    .optional()
                    .computed()
                    .use_state_for_unknown()
                    .requires_replace()
                    .validate(string_validator(rules::dns_label))
                    .description("Namespace of the Secret: Argo CD's namespace on the hub. Default: the provider's `hub.argocd_namespace`, else `argocd`. Changing it forces replacement."),
                s("secret_name")
                    .optional()
                    .computed()
                    .use_state_for_unknown()
                    .requires_replace()
                    .validate(string_validator(rules::dns_subdomain))
                    .description("Name of the Secret, fixed at creation: renaming the cluster keeps it. Default: `cluster-<name>` (a name that is not a DNS label gets a cleaned-up form with a short hash). Changing it forces replacement."),
                s("eks_cluster_name").optional().description("EKS cluster whose endpoint and CA to register when `server` and `ca_data` are not set (`eks:DescribeCluster` with the provider's AWS settings, once at create and on every later plan), and the default `aws_auth.cluster_name`."),
                s("server")
                    .optional()
                    .computed()
                    .use_state_for_unknown()
                    .validate(string_validator(url))
                    .description("API server URL (Secret data `server`, written without a trailing `/`). Required without `eks_cluster_name`. Default: the EKS cluster's endpoint."),
                s("ca_data")
                    .optional()
                    .computed()
                    .use_state_for_unknown()
                    .validate(string_validator(pem))
                    .description("PEM CA bundle of the API server (base64 of PEM accepted), written as `tlsClientConfig.caData`. Default: the EKS cluster's CA with `eks_cluster_name`, else none (the system roots)."),
                Attribute::bool("insecure").default(false).description("`tlsClientConfig.insecure`: Argo CD skips TLS verification (tests only). Default: `false`."),
                s("bearer_token")
                    .optional()
                    .sensitive()
                    .write_only()
                    .description("Write-only (Terraform 1.11+): a bearer token for Argo CD, written as `bearerToken`; never in state or plan, never logged. Requires `bearer_token_version`. Set exactly one of `aws_auth`, `exec` and `bearer_token`."),
                Attribute::number("bearer_token_version")
                    .optional()
                    .description("Version of `bearer_token`, required with it: raise it to write a new token. Terraform stores no token (a hash of the last one written is kept in private state), so a token edited or removed in the Secret shows as a change of this value, and apply writes it again."),
                Attribute::new("labels", Type::map(Type::String))
                    .optional()
                    .description("Labels of the Secret, for ApplicationSet cluster generator selectors (`metadata.labels.<k>` in templates). Keys and values follow Kubernetes rules; `argocd.argoproj.io/secret-type` is set by the resource and cannot be given. Labels others add (Argo CD's `argocd.argoproj.io/kubernetes-version`, say) are kept and never show as a diff."),
                Attribute::new("annotations", Type::map(Type::String)).optional().description("Annotations of the Secret (`metadata.annotations.<k>` in generators). `kubectl.kubernetes.io/last-applied-configuration` and `managed-by` are refused (Argo CD drops them)."),
                s("project").optional().description("Make this a project-scoped cluster of this Argo CD project (Secret data `project`)."),
                Attribute::new("namespaces", Type::list(Type::String))
                    .optional()
                    .description("Restrict Argo CD to these namespaces of the cluster (Secret data `namespaces`, comma-separated)."),
                Attribute::bool("cluster_resources").optional().description("With `namespaces`: whether Argo CD may manage cluster-scoped resources (Secret data `clusterResources`, written only when `true`)."),
                Attribute::number("controller_shard")
                    .optional()
                    .validate(validators::int_between(0, 10_000))
                    .description("Pin the cluster to this Argo CD application-controller shard (Secret data `shard`)."),
                Attribute::bool("wait_for_removal")
                    .default(true)
                    .description("On destroy, after deleting the Secret, wait (up to the delete timeout) until no Application targets the cluster. Default: `true`."),
                Attribute::bool("force_conflicts")
                    .default(false)
                    .description("Take over fields another field manager holds (e.g. a Secret the Argo CD CLI wrote). Without it such a conflict fails, naming the manager. Default: `false`."),
                Attribute::nested(
                    "applications",
                    Nesting::List,
                    vec![
                        s("name").computed().description("Application name."),
                        s("sync_status").computed().description("`status.sync.status`: Synced, OutOfSync, Unknown."),
                        s("health_status").computed().description("`status.health.status`: Healthy, Progressing, Degraded, …"),
                    ],
                )
                .computed()
                .description("Applications in the namespace that target this cluster (by `server` or `name`), as the last wait or refresh saw them."),
            ],
        )
        .with_block(NestedBlock::single(
            "aws_auth",
            "Argo CD authenticates with IAM (`awsAuthConfig`, argocd-k8s-auth): its own credentials, or this role. Set exactly one of `aws_auth`, `exec` and `bearer_token`.",
            vec![
                s("role_arn").optional().description("Role Argo CD assumes to reach the cluster (`roleARN`)."),
                s("cluster_name").optional().description("EKS cluster name (`clusterName`); this or `eks_cluster_name` is required. Default: `eks_cluster_name`."),
                s("profile").optional().description("AWS profile Argo CD uses (`profile`)."),
            ],
        ))
        .with_block(NestedBlock::single(
            "exec",
            "Argo CD runs a credential plugin (`execProviderConfig`). Set exactly one of `aws_auth`, `exec` and `bearer_token`.",
            vec![
                s("command").required().validate(validators::non_empty()).description("The plugin, e.g. `argocd-k8s-auth`."),
                Attribute::new("args", Type::list(Type::String)).optional().description("Its arguments."),
                Attribute::new("env", Type::map(Type::String)).optional().description("Extra environment variables."),
                s("api_version").optional().description("ExecCredential API version, e.g. `client.authentication.k8s.io/v1beta1`."),
                s("install_hint").optional().description("Shown when the plugin is missing."),
            ],
        ))
        .with_block(NestedBlock::single(
            "wait_for_sync",
            "After writing, wait until at least `min_applications` Applications target this cluster and every one is Synced and Healthy (a watch: returns as soon as that holds).",
            vec![
                Attribute::number("min_applications")
                    .default(1)
                    .validate(validators::int_between(0, 100_000))
                    .description("How many Applications must target the cluster; `0` waits only for the ones that exist. Default: `1`."),
                s("timeout")
                    .default(DEFAULT_WAIT)
                    .validate(validators::duration())
                    .description(&format!("How long to wait; also bounded by the create/update timeout. Default: `{DEFAULT_WAIT}`.")),
            ],
        ))
        .with_block(timeouts_block_with_defaults(&[Op::Create, Op::Update, Op::Delete], |op| self.default_timeout(op)))
    }

    fn identity(&self) -> Option<IdentitySchema> {
        Some(IdentitySchema {
            version: 0,
            attributes: vec![
                IdentityAttribute::string("namespace", true, "Namespace of the cluster Secret."),
                IdentityAttribute::string("secret_name", true, "Name of the cluster Secret."),
            ],
        })
    }

    fn import_id(&self, identity: &Value) -> Result<String, Diagnostics> {
        match (identity.get("namespace").as_str(), identity.get("secret_name").as_str()) {
            (Some(ns), Some(name)) => Ok(resource_id(ns, name)),
            _ => Err(Diagnostics::error("Incomplete identity", "namespace and secret_name are required")),
        }
    }

    async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
        validate_config(&req.config)
    }

    async fn modify_plan(&self, ctx: &Ctx<ShardData>, req: &mut PlanRequest<Model>) {
        if req.planned.is_null() {
            return;
        }
        if ctx.data.hub.is_none() {
            req.diags.push_error(
                "No hub connection",
                "shard_argocd_cluster_registration writes to the Argo CD hub: set provider \"shard\" { hub { ... } }",
            );
            return;
        }
        let config = req.config.clone();
        let planned = &mut req.planned;
        if planned.get("namespace").is_unknown()
            && config.get("namespace").is_null()
            && let Some(ns) = ctx.data.argocd_namespace()
        {
            set(planned, "namespace", Value::str(ns));
        }
        if planned.get("secret_name").is_unknown()
            && config.get("secret_name").is_null()
            && let Some(name) = planned.get("name").as_str()
        {
            let derived = argocd::secret_name_for(name);
            set(planned, "secret_name", Value::str(derived));
        }
        if let (Some(ns), Some(name)) = (planned.get("namespace").as_str(), planned.get("secret_name").as_str()) {
            let id = resource_id(ns, name);
            set(planned, "id", Value::str(id));
        }
        // Endpoint and CA: from EKS when not configured. On create they stay unknown until apply
        // (one DescribeCluster then); on update they are compared with EKS now, so a cluster
        // recreated under the same name (new endpoint, new CA) is registered again.
        let eks = config.get("eks_cluster_name").clone();
        let creating = req.prior.is_none();
        let endpoint_unset = config.get("server").is_null();
        let ca_unset = config.get("ca_data").is_null();
        if eks.is_null() {
            if ca_unset {
                set(planned, "ca_data", Value::Null);
            }
        } else if eks.is_unknown() {
            if endpoint_unset {
                set(planned, "server", Value::Unknown);
            }
            if ca_unset {
                set(planned, "ca_data", Value::Unknown);
            }
        } else if !creating && (endpoint_unset || ca_unset) && ctx.data.aws.settings().unknown.is_empty() {
            let cluster = eks.as_str().unwrap_or_default().to_string();
            match describe_eks(&ctx.data.aws, &cluster).await {
                Ok((endpoint, ca)) => {
                    if endpoint_unset && planned.get("server").as_str() != Some(argocd::trim_server(&endpoint)) {
                        set(planned, "server", Value::str(argocd::trim_server(&endpoint)));
                    }
                    let same_ca = planned
                        .get("ca_data")
                        .as_str()
                        .and_then(|c| normalise_ca(c).ok())
                        .is_some_and(|c| c.trim() == ca.trim());
                    if ca_unset && !same_ca {
                        set(planned, "ca_data", Value::str(ca));
                    }
                }
                Err(e) => req.diags.push_attr_error(
                    AttrPath::attr("eks_cluster_name"),
                    "Cannot describe the EKS cluster",
                    e.to_string(),
                ),
            }
        }
        // Anything else changing: the Applications seen after apply are not known yet.
        if let Some(prior) = &req.prior
            && let Ok(prior_value) = crate::framework::resource::encode(prior)
        {
            let mut a = planned.clone();
            let mut b = prior_value;
            set(&mut a, "applications", Value::Null);
            set(&mut b, "applications", Value::Null);
            if a.conform(&self.schema().value_type()) != b.conform(&self.schema().value_type()) {
                set(planned, "applications", Value::Unknown);
            }
        }
    }

    async fn create(&self, ctx: &Ctx<ShardData>, req: CreateRequest<Model>) -> Result<Outcome<Model>, Diagnostics> {
        converge(ctx, req.planned, &req.config, req.private, None).await
    }

    async fn read(&self, ctx: &Ctx<ShardData>, req: ReadRequest<Model>) -> Result<Outcome<Model>, Diagnostics> {
        let state = req.state;
        let client = ctx.data.hub_client().await.map_err(Diagnostics::from)?;
        let Some(secret) = get_secret(ctx, &client, &state).await? else {
            return Ok(Outcome::gone());
        };
        let live = LiveCluster::from_secret(&secret);
        if !live.is_cluster {
            ctx.warn(
                format!("{} is no longer an Argo CD cluster Secret", state.describe()),
                format!(
                    "its label {SECRET_TYPE_LABEL}: cluster is gone, so Argo CD ignores it; the plan writes it again"
                ),
            );
            return Ok(Outcome::gone());
        }
        let mut warnings = Vec::new();
        let mut m = refresh(&state, &live, &req.private, &mut warnings);
        if !warnings.is_empty() {
            ctx.warn(
                format!("{} changed outside Terraform", state.describe()),
                format!("{}; the plan writes it again", warnings.join("; ")),
            );
        }
        match list_apps(ctx, &client, m.namespace(), &live.server, &live.name).await {
            Ok(apps) => m.applications = Attr::Known(apps.iter().map(AppEntry::from).collect()),
            Err(KubeError::Api { code: 404, .. }) => m.applications = Attr::Known(Vec::new()),
            Err(e) => {
                // Listing Applications only informs `applications`; the registration stands.
                tracing::warn!(error = %e, "cannot list Applications; keeping the last list seen");
                if m.applications.is_unknown() || m.applications.is_null() {
                    m.applications = Attr::Known(Vec::new());
                }
            }
        }
        Ok(Outcome::ok(m))
    }

    async fn update(&self, ctx: &Ctx<ShardData>, req: UpdateRequest<Model>) -> Result<Outcome<Model>, Diagnostics> {
        converge(ctx, req.planned, &req.config, req.private, Some(&req.prior)).await
    }

    async fn delete(&self, ctx: &Ctx<ShardData>, req: DeleteRequest<Model>) -> Result<(), Diagnostics> {
        let m = req.state;
        let client = ctx.data.hub_client().await.map_err(Diagnostics::from)?;
        let api: Api<Secret> = Api::namespaced(client.client.clone(), m.namespace());
        let name = m.secret_name();
        let params = DeleteParams::default();
        match retrying(ctx, &client, || api.delete(&name, &params)).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(kube_diag(&client, m.secret_call("delete"), &e)),
        }
        if !m.wait_for_removal {
            return Ok(());
        }
        let waited = wait_for_apps(ctx, &client, m.namespace(), (m.server(), &m.name), ctx.remaining(), |apps| {
            argocd::removal_verdict(apps)
        })
        .await;
        match waited {
            Ok(()) => Ok(()),
            Err(WaitError::TimedOut { waited, last }) => Err(Diagnostics::attr_error(
                AttrPath::attr("wait_for_removal"),
                "Applications still target the removed cluster",
                format!(
                    "the cluster Secret {} is deleted, but after {} {last}. Argo CD (the ApplicationSet controller) \
                     removes them; a finalizer that cannot finish (the cluster already unreachable?) keeps one. \
                     Destroy again to keep waiting, or set wait_for_removal = false.",
                    m.describe(),
                    format_duration(waited)
                ),
            )),
            Err(WaitError::Failed(e)) => Err(e.into()),
            Err(e) => Err(Diagnostics::error(
                "Wait for Applications to go interrupted",
                format!("{e}; the cluster Secret {} is deleted", m.describe()),
            )),
        }
    }

    async fn import(&self, ctx: &Ctx<ShardData>, req: ImportRequest) -> Result<Outcome<Model>, Diagnostics> {
        let usage = "expected `<namespace>/<secret_name>`, e.g. argocd/cluster-shard-2";
        let (ns, name) = req
            .id
            .split_once('/')
            .filter(|(ns, name)| rules::dns_label(ns).is_ok() && rules::dns_subdomain(name).is_ok())
            .ok_or_else(|| Diagnostics::error("Invalid import id", format!("{:?}: {usage}", req.id)))?;
        let client = ctx.data.hub_client().await.map_err(Diagnostics::from)?;
        let api: Api<Secret> = Api::namespaced(client.client.clone(), ns);
        let call = Call { verb: "get", resource: "secrets".into(), namespace: Some(ns.to_string()) };
        let secret = retrying(ctx, &client, || api.get_opt(name)).await.map_err(|e| kube_diag(&client, call, &e))?;
        let Some(secret) = secret else {
            return Err(Diagnostics::error("Cannot import", format!("no Secret {ns}/{name} on {}", client.host)));
        };
        let live = LiveCluster::from_secret(&secret);
        if !live.is_cluster {
            return Err(Diagnostics::error(
                "Cannot import",
                format!("Secret {ns}/{name} is not an Argo CD cluster Secret (no label {SECRET_TYPE_LABEL}: cluster)"),
            ));
        }
        Ok(Outcome::ok(imported(ns, name, &secret, &live)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn model() -> Model {
        Model {
            id: Attr::Known("argocd/cluster-shard-2".into()),
            name: "shard-2".into(),
            namespace: Attr::Known("argocd".into()),
            secret_name: Attr::Known("cluster-shard-2".into()),
            eks_cluster_name: Some("shard-2".into()),
            server: Attr::Known("https://h".into()),
            ca_data: Attr::Null,
            insecure: false,
            aws_auth: Some(AwsAuth {
                role_arn: Some("arn:aws:iam::1:role/r".into()),
                cluster_name: None,
                profile: None,
            }),
            exec: None,
            bearer_token: None,
            bearer_token_version: None,
            labels: Some([("env".to_string(), "prod".to_string())].into()),
            annotations: None,
            project: None,
            namespaces: None,
            cluster_resources: None,
            controller_shard: None,
            wait_for_sync: None,
            wait_for_removal: true,
            force_conflicts: false,
            applications: Attr::Known(Vec::new()),
            timeouts: None,
        }
    }

    fn live_of(c: &ClusterSecret, extra_labels: &[(&str, &str)]) -> (Secret, LiveCluster) {
        let body = c.apply_body();
        let mut secret: Secret = serde_json::from_value(body).unwrap();
        let labels = secret.metadata.labels.get_or_insert_with(Default::default);
        for (k, v) in extra_labels {
            labels.insert(k.to_string(), v.to_string());
        }
        let live = LiveCluster::from_secret(&secret);
        (secret, live)
    }

    #[test]
    fn a_secret_written_from_a_state_refreshes_to_the_same_state() {
        let m = model();
        let (_, live) = live_of(&m.cluster_secret(None).unwrap(), &[("argocd.argoproj.io/kubernetes-version", "1.31")]);
        let mut warn = Vec::new();
        assert_eq!(refresh(&m, &live, &Private::default(), &mut warn), m);
        assert!(warn.is_empty(), "{warn:?}");
    }

    #[test]
    fn drift_in_config_and_labels_shows_in_the_refreshed_state() {
        let m = model();
        let mut c = m.cluster_secret(None).unwrap();
        c.config.aws_auth.as_mut().unwrap().role_arn = "arn:aws:iam::1:role/other".into();
        c.labels.insert("env".into(), "dev".into());
        let (_, live) = live_of(&c, &[]);
        let mut warn = Vec::new();
        let r = refresh(&m, &live, &Private::default(), &mut warn);
        assert_eq!(r.aws_auth.as_ref().unwrap().role_arn.as_deref(), Some("arn:aws:iam::1:role/other"));
        assert_eq!(r.labels.as_ref().unwrap()["env"], "dev");

        // Settings the resource does not manage: the credentials are shown as gone.
        let mut c = m.cluster_secret(None).unwrap();
        c.config.username = "admin".into();
        let (_, live) = live_of(&c, &[]);
        let r = refresh(&m, &live, &Private::default(), &mut warn);
        assert!(r.aws_auth.is_none());
        assert!(warn.iter().any(|w| w.contains("username")), "{warn:?}");
    }

    #[test]
    fn a_changed_token_is_noticed_through_its_hash() {
        let mut m = model();
        m.aws_auth = None;
        m.bearer_token_version = Some(1);
        let mut private = Private::default();
        private.set(TOKEN_HASH, &argocd::token_hash("t1"));
        let (_, live) = live_of(&m.cluster_secret(Some("t1")).unwrap(), &[]);
        let mut warn = Vec::new();
        assert_eq!(refresh(&m, &live, &private, &mut warn).bearer_token_version, Some(1));
        let (_, edited) = live_of(&m.cluster_secret(Some("t2")).unwrap(), &[]);
        assert_eq!(refresh(&m, &edited, &private, &mut warn).bearer_token_version, None);
        assert!(warn[0].contains("not the one Terraform wrote"));
    }

    #[test]
    fn a_ca_given_as_base64_stays_as_given_when_it_means_the_same() {
        let cert = rcgen::generate_simple_self_signed(vec!["h".into()]).unwrap().cert.pem();
        let mut m = model();
        m.ca_data = Attr::Known(base64::engine::general_purpose::STANDARD.encode(&cert));
        let (_, live) = live_of(&m.cluster_secret(None).unwrap(), &[]);
        assert_eq!(live.config.as_ref().unwrap().ca_pem().unwrap(), cert, "caData is base64 of the PEM");
        let mut warn = Vec::new();
        assert_eq!(refresh(&m, &live, &Private::default(), &mut warn).ca_data, m.ca_data);
    }

    #[test]
    fn import_takes_what_this_provider_owns() {
        let m = model();
        let (mut secret, live) = live_of(&m.cluster_secret(None).unwrap(), &[("team", "x")]);
        secret.metadata.managed_fields =
            Some(vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry {
                manager: Some(FIELD_MANAGER.into()),
                operation: Some("Apply".into()),
                fields_v1: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1(serde_json::json!({
                    "f:data": {"f:config": {}, "f:name": {}, "f:server": {}},
                    "f:metadata": {"f:labels": {"f:env": {}, "f:argocd.argoproj.io/secret-type": {}}}
                }))),
                ..Default::default()
            }]);
        let i = imported("argocd", "cluster-shard-2", &secret, &live).unwrap();
        assert_eq!(i.labels, m.labels, "only the labels this provider's field manager owns");
        assert_eq!(i.eks_cluster_name.as_deref(), Some("shard-2"));
        assert_eq!(i.aws_auth, m.aws_auth);
        let _ = ByteString(Vec::new());
    }

    #[test]
    fn bad_input_is_found_at_plan_with_paths() {
        let obj =
            |pairs: &[(&str, Value)]| Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect());
        let d = validate_config(&obj(&[("name", "x".into())]));
        let text = d.to_string();
        assert!(text.contains("No server") && text.contains("No credentials"), "{text}");
        let d = validate_config(&obj(&[
            ("server", "https://h".into()),
            ("exec", obj(&[("command", "x".into())])),
            ("bearer_token", "t".into()),
            (
                "labels",
                Value::Map(
                    [("-bad".to_string(), Value::str("ok")), (SECRET_TYPE_LABEL.to_string(), Value::str("x"))].into(),
                ),
            ),
        ]));
        let text = d.to_string();
        for needle in ["Several credentials", "bearer_token_version is required", "Invalid label key", "Reserved label"]
        {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }
}
