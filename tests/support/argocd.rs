//! The test plays Argo CD. On a real hub the ApplicationSet controller generates one Application
//! per cluster Secret its cluster generator selects, and the application controller writes each
//! Application's sync and health status; the bench runs no Argo controller, so tests create the
//! Applications and write their status here, with the same shapes (`argoproj.io/v1alpha1`,
//! status on the main resource: the Application CRD has no status subresource).
//!
//! Cluster Secrets are read back the way Argo CD reads them (`util/db/cluster.go`
//! `SecretToCluster` in argoproj/argo-cd), independently of the provider's own code.

use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;

pub fn application_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"))
}

/// Where an Application deploys: `spec.destination.server` or `.name`.
#[derive(Clone, Debug)]
pub enum Dest {
    Server(String),
    Name(String),
}

/// Argo CD in one namespace of the bench's API server.
#[derive(Clone)]
pub struct Argo {
    pub namespace: String,
    apps: Api<DynamicObject>,
    secrets: Api<Secret>,
}

/// A cluster Secret as Argo CD's `SecretToCluster` reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgoCluster {
    pub name: String,
    pub server: String,
    pub namespaces: Vec<String>,
    pub cluster_resources: bool,
    pub project: String,
    pub shard: Option<i64>,
    /// `config` parsed as JSON.
    pub config: Json,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The raw data keys present.
    pub data_keys: Vec<String>,
}

impl Argo {
    pub fn new(client: kube::Client, namespace: &str) -> Argo {
        Argo {
            namespace: namespace.to_string(),
            apps: Api::namespaced_with(client.clone(), namespace, &application_resource()),
            secrets: Api::namespaced(client, namespace),
        }
    }

    /// What the ApplicationSet controller does for a selected cluster: an Application targeting it.
    pub async fn generate(&self, name: &str, dest: Dest, finalizer: bool) {
        let destination = match dest {
            Dest::Server(s) => json!({ "server": s, "namespace": "web" }),
            Dest::Name(n) => json!({ "name": n, "namespace": "web" }),
        };
        let mut app: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": { "name": name },
            "spec": { "project": "default", "destination": destination,
                      "source": { "repoURL": "https://example.com/web.git", "path": "deploy" } }
        }))
        .unwrap();
        if finalizer {
            app.metadata.finalizers = Some(vec!["resources-finalizer.argocd.argoproj.io".into()]);
        }
        self.apps
            .create(&PostParams::default(), &app)
            .await
            .unwrap_or_else(|e| panic!("create Application {name}: {e}"));
    }

    /// What the application controller does: write sync and health status (and a message).
    pub async fn status(&self, name: &str, sync: &str, health: &str, message: &str) {
        // An empty message is removed (kube-apiserver 1.20 reads "" in a merge patch as null,
        // which the CRD's string type refuses).
        let message = if message.is_empty() { Json::Null } else { json!(message) };
        let patch = json!({ "status": {
            "sync": { "status": sync },
            "health": { "status": health, "message": message },
            "reconciledAt": "2026-11-22T00:00:00Z"
        }});
        self.apps
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("status of Application {name}: {e}"));
    }

    /// Deletes an Application (with a finalizer it stays, marked for deletion, until `release`).
    pub async fn delete_app(&self, name: &str) {
        self.apps.delete(name, &DeleteParams::default()).await.unwrap_or_else(|e| panic!("delete {name}: {e}"));
    }

    /// A JSON merge patch of an Application, as Argo CD's controllers write status (the
    /// Application CRD has no status subresource).
    pub async fn patch_app(&self, name: &str, patch: Json) {
        self.apps
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patch Application {name}: {e}"));
    }

    /// Replaces an Application's finalizers (another controller holding it, say).
    pub async fn edit_app_finalizers(&self, name: &str, finalizers: &[&str]) {
        let patch = json!({ "metadata": { "finalizers": finalizers } });
        self.apps.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    }

    /// The finalizer's work is done: the Application goes.
    pub async fn release(&self, name: &str) {
        let patch = json!({ "metadata": { "finalizers": null } });
        self.apps.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    }

    /// An Application as JSON (None when absent).
    pub async fn app_opt(&self, name: &str) -> Option<Json> {
        let app = self.apps.get_opt(name).await.unwrap_or_else(|e| panic!("get Application {name}: {e}"));
        app.map(|a| serde_json::to_value(a).unwrap())
    }

    /// An Application as JSON (it must exist).
    pub async fn app(&self, name: &str) -> Json {
        self.app_opt(name).await.unwrap_or_else(|| panic!("no Application {name}"))
    }

    pub async fn app_names(&self) -> Vec<String> {
        self.apps.list(&Default::default()).await.unwrap().items.into_iter().filter_map(|a| a.metadata.name).collect()
    }

    pub async fn secret(&self, name: &str) -> Option<Secret> {
        self.secrets.get_opt(name).await.expect("get Secret")
    }

    /// The cluster Secret as Argo CD reads it; None when absent or without the cluster label.
    pub async fn cluster(&self, secret_name: &str) -> Option<ArgoCluster> {
        let s = self.secret(secret_name).await?;
        let labels: BTreeMap<String, String> = s.metadata.labels.clone().unwrap_or_default().into_iter().collect();
        if labels.get("argocd.argoproj.io/secret-type").map(String::as_str) != Some("cluster") {
            return None;
        }
        let data = s.data.clone().unwrap_or_default();
        let text = |k: &str| data.get(k).map(|b| String::from_utf8(b.0.clone()).expect("UTF-8")).unwrap_or_default();
        let config = if text("config").is_empty() {
            json!({})
        } else {
            serde_json::from_str(&text("config")).expect("config JSON")
        };
        Some(ArgoCluster {
            name: text("name"),
            server: text("server").trim_end_matches('/').to_string(),
            namespaces: text("namespaces")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            cluster_resources: text("clusterResources") == "true",
            project: text("project"),
            shard: data.get("shard").and_then(|_| text("shard").parse().ok()),
            config,
            labels,
            annotations: s.metadata.annotations.clone().unwrap_or_default().into_iter().collect(),
            data_keys: data.keys().cloned().collect(),
        })
    }

    /// Another tool editing the Secret (kubectl edit, the Argo CD CLI, Argo CD itself): a JSON
    /// merge patch under its own field manager.
    pub async fn edit_secret(&self, secret_name: &str, manager: &str, patch: Json) {
        let params = PatchParams { field_manager: Some(manager.into()), ..Default::default() };
        self.secrets
            .patch(secret_name, &params, &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("edit Secret {secret_name}: {e}"));
    }

    /// `data.config` replaced by another tool.
    pub async fn edit_config(&self, secret_name: &str, manager: &str, config: &Json) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(config.to_string());
        self.edit_secret(secret_name, manager, json!({ "data": { "config": b64 } })).await;
    }

    pub async fn delete_secret(&self, secret_name: &str) {
        self.secrets.delete(secret_name, &DeleteParams::default()).await.expect("delete Secret");
    }
}

/// base64 of PEM text, as Go marshals a `[]byte` holding it.
pub fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// What Argo CD does on the destination cluster for an Application: apply its manifests (sync)
/// and, when the Application goes with its resources finalizer, delete them (prune). The
/// sandbox's workload is a Rollout; tests may use anything.
#[async_trait::async_trait]
pub trait Workload: Send + Sync {
    /// Called once per Application, before it is marked Synced and Healthy.
    async fn sync(&self, app: &Json) -> Result<(), String>;
    /// Called once when a synced Application is deleted with its resources finalizer while its
    /// cluster is registered (Argo CD's cascading deletion).
    async fn prune(&self, app: &Json) -> Result<(), String>;
    /// The health of what was synced, as Argo CD's health checks assess it: (status, message),
    /// e.g. a paused Rollout is `Suspended`. None: `Healthy` (the default here).
    async fn health(&self, _app: &Json) -> Option<(String, String)> {
        None
    }
}

/// The finalizer that makes deleting an Application delete its resources on the cluster.
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// A stand-in for Argo CD's ApplicationSet and application controllers, for the sandbox (and any
/// test that wants the loop closed). A tokio task polls (every 200 ms) the ApplicationSets and
/// cluster Secrets of one namespace on the hub and has their effects, not their code, as
/// argoproj/argo-cd (37ee0097) has them:
///
/// - ApplicationSet controller (`applicationset/controllers/applicationset_controller.go`), cluster
///   generator (also nested in `matrix`/`merge`): for each ApplicationSet and each cluster Secret
///   its `selector` (`matchLabels`, `matchExpressions`; none selects every cluster) selects, an
///   Application from `spec.template` with `{{name}}`, `{{server}}`, `{{nameNormalized}}` (also
///   the goTemplate forms) and `{{metadata.labels.K}}` / `{{index .metadata.labels "K"}}`
///   replaced, a controller owner reference to the ApplicationSet, and the resources finalizer
///   unless `syncPolicy.preserveResourcesOnDeletion` (`applicationset/utils/utils.go`
///   `RenderTemplateParams`). Applications it no longer generates are deleted only when the
///   policy allows it (`applicationsSync` absent, `sync` or `create-delete`:
///   `applicationset_types.go` `AllowDelete`; the controller's own policy from
///   `argocd-cmd-params-cm` wins unless overrides are allowed, `utils/policy.go` `DefaultPolicy`), after `removeFinalizerOnInvalidDestination`: an
///   Application whose cluster is no longer registered loses its resources finalizer first;
/// - application controller (`controller/appcontroller.go` `processAppRefreshQueueItem`,
///   `processRequestedAppOperation`, `setOperationState`; `controller/state.go`
///   `CompareAppState`): it compares an Application again whenever its destination or source, or
///   the cluster Secret its destination resolves to (`util/argo/argo.go` `GetDestinationServer`:
///   a `name` is looked up among the cluster Secrets), changes — upstream the cluster cache is
///   invalidated (`controller/cache/cache.go` `handleModEvent`) and the Applications on it
///   refreshed. Each comparison writes `status.sync.comparedTo` (`destination` as the spec has
///   it, a name unresolved, and `source`) and `status.reconciledAt`. Half of `sync_delay` after
///   the change it compares: a cluster the test made unreachable ([`ArgoCdController::cluster_fails`])
///   gets sync `Unknown`, health `Unknown` and a `ComparisonError` condition with Argo CD's
///   message (`Failed to load target state: failed to get cluster version for cluster "…": …`,
///   from `GetRepoObjs`); otherwise the Application is `OutOfSync` and an automated sync is
///   requested and started (`operation` set; `status.operationState` phase `Running` with
///   `startedAt`). At three quarters of `sync_delay` the [`Workload`] is synced to the
///   destination and a refresh finds it `Synced` with the workload's health while the operation
///   still runs its PostSync hook (phase `Running`, "waiting for completion of hook …": what
///   `argocd app wait` must not take for a result); at `sync_delay` the operation ends
///   (`operationState` phase `Succeeded` with `finishedAt`, `operation` removed) and the
///   comparison after it writes `Synced`, the health and a `reconciledAt` not before
///   `finishedAt`; conditions are cleared. Health is kept up to date on every poll
///   (`Healthy` without a workload). Times are RFC 3339 to the second, as `metav1.Time`. Not
///   modelled: the repo-error grace period upstream applies before it shows a `ComparisonError`
///   from `GetRepoObjs` (`--repo-error-grace-period-seconds`; the stand-in shows it at the first
///   comparison, which only makes a fast fail happen sooner); `InvalidSpecError` for a
///   destination that is not registered (such an Application is left as it is). A deleted Application
///   with the resources finalizer has its workload pruned, then loses the finalizer, when its
///   cluster is registered; on an undefined cluster the finalizer is dropped and nothing is
///   pruned (`controller/appcontroller.go` `finalizeApplicationDeletion`): the workload is
///   orphaned ([`ArgoCdController::orphaned`]).
///
/// Not modelled: other generators, sync waves, drift (an Application stays Synced), retry
/// back-off (a failed sync is recorded and the next poll tries again).
pub struct ArgoCdController {
    stop: tokio_util::sync::CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    errors: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    orphaned: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    failing: Failing,
}

/// Clusters (by server) Argo CD cannot reach or authenticate to, with the error it gets.
type Failing = std::sync::Arc<std::sync::Mutex<BTreeMap<String, String>>>;

impl ArgoCdController {
    /// Starts playing Argo CD in `namespace` of the hub. Call inside a Tokio runtime.
    pub fn start(
        hub: kube::Client,
        namespace: &str,
        sync_delay: std::time::Duration,
        workload: Option<std::sync::Arc<dyn Workload>>,
    ) -> ArgoCdController {
        let stop = tokio_util::sync::CancellationToken::new();
        let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let orphaned = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let failing: Failing = Default::default();
        let state = StandIn {
            apps: Api::namespaced_with(hub.clone(), namespace, &application_resource()),
            appsets: Api::namespaced_with(
                hub.clone(),
                namespace,
                &ApiResource::from_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "ApplicationSet")),
            ),
            secrets: Api::namespaced(hub.clone(), namespace),
            configmaps: Api::namespaced(hub, namespace),
            sync_delay,
            workload,
            errors: errors.clone(),
            orphaned: orphaned.clone(),
            synced: BTreeMap::new(),
            failing: failing.clone(),
            compared: BTreeMap::new(),
            noticed: BTreeMap::new(),
            operations: BTreeMap::new(),
            synced_to: BTreeMap::new(),
        };
        let task = tokio::spawn(state.run(stop.clone()));
        ArgoCdController { stop, task: Some(task), errors, orphaned, failing }
    }

    /// From now on Argo CD cannot get into the cluster at `server` (its credentials refused, say):
    /// the next comparison of each Application on it reports a `ComparisonError` with `error`.
    pub fn cluster_fails(&self, server: &str, error: &str) {
        self.failing.lock().unwrap().insert(server.trim_end_matches('/').to_string(), error.to_string());
    }

    /// Argo CD can get into the cluster at `server` again.
    pub fn cluster_recovers(&self, server: &str) {
        self.failing.lock().unwrap().remove(server.trim_end_matches('/'));
    }

    /// Failed API calls and syncs so far (the stand-in keeps going).
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    /// Applications whose workload was left on the cluster: deleted without pruning (no
    /// resources finalizer, or their cluster was no longer registered).
    pub fn orphaned(&self) -> Vec<String> {
        self.orphaned.lock().unwrap().clone()
    }
}

impl Drop for ArgoCdController {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

struct StandIn {
    apps: Api<DynamicObject>,
    appsets: Api<DynamicObject>,
    secrets: Api<Secret>,
    configmaps: Api<k8s_openapi::api::core::v1::ConfigMap>,
    sync_delay: std::time::Duration,
    workload: Option<std::sync::Arc<dyn Workload>>,
    errors: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    orphaned: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Applications synced to their destination, as they were (for pruning).
    synced: BTreeMap<String, Json>,
    failing: Failing,
    /// What each Application was last compared with (destination, source, the cluster Secret's
    /// server and config, whether the cluster failed).
    compared: BTreeMap<String, String>,
    /// A change not compared yet, and when it was first seen.
    noticed: BTreeMap<String, (String, std::time::Instant)>,
    /// Sync operations under way (the change they sync).
    operations: BTreeMap<String, String>,
    /// The server each Application's workload was synced to.
    synced_to: BTreeMap<String, String>,
}

/// Now as `metav1.Time` writes it: RFC 3339, UTC, to the second.
fn metav1_now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl StandIn {
    async fn run(mut self, stop: tokio_util::sync::CancellationToken) {
        loop {
            if let Err(e) = self.reconcile().await {
                self.error(e);
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
            }
        }
    }

    fn error(&self, e: String) {
        let mut errors = self.errors.lock().unwrap();
        if errors.len() < 50 {
            errors.push(e);
        }
    }

    async fn reconcile(&mut self) -> Result<(), String> {
        let cluster_label = kube::api::ListParams::default().labels("argocd.argoproj.io/secret-type=cluster");
        let secrets = self.secrets.list(&cluster_label).await.map_err(|e| format!("list cluster Secrets: {e}"))?;
        let appsets = self.appsets.list(&Default::default()).await.map_err(|e| format!("list ApplicationSets: {e}"))?;
        // The controller's flags, from argocd-cmd-params-cm (manifests/base/applicationset-controller):
        // `--policy` and `--enable-policy-override` (default: true when the policy is empty).
        let params = self
            .configmaps
            .get_opt("argocd-cmd-params-cm")
            .await
            .map_err(|e| format!("get argocd-cmd-params-cm: {e}"))?;
        let params = params.and_then(|c| c.data).unwrap_or_default();
        let controller_policy = params.get("applicationsetcontroller.policy").cloned().unwrap_or_default();
        let override_allowed = match params.get("applicationsetcontroller.enable.policy.override").map(String::as_str) {
            Some("true") => true,
            Some("false") => false,
            _ => controller_policy.is_empty(),
        };
        // (name, server, config) of each registered cluster.
        let clusters: Vec<(String, String, String)> = secrets
            .items
            .iter()
            .map(|s| {
                let data = s.data.clone().unwrap_or_default();
                let text =
                    |k: &str| data.get(k).map(|b| String::from_utf8_lossy(&b.0).into_owned()).unwrap_or_default();
                (text("name"), text("server").trim_end_matches('/').to_string(), text("config"))
            })
            .collect();
        // `GetDestinationServer`: a server as it is, a name looked up (exactly one cluster).
        let resolve = |app: &Json| -> Option<(String, String)> {
            let dest = &app["spec"]["destination"];
            let server = dest["server"].as_str().unwrap_or_default().trim_end_matches('/');
            let name = dest["name"].as_str().unwrap_or_default();
            let found: Vec<&(String, String, String)> = clusters
                .iter()
                .filter(|(n, s, _)| if !server.is_empty() { s == server } else { !name.is_empty() && n == name })
                .collect();
            match found.as_slice() {
                [(_, s, c)] => Some((s.clone(), c.clone())),
                _ => None,
            }
        };
        // `argoutil.GetDestinationCluster`: the destination's server, or its name, is registered.
        let registered = |app: &Json| {
            let dest = &app["spec"]["destination"];
            let server = dest["server"].as_str().unwrap_or_default().trim_end_matches('/');
            let name = dest["name"].as_str().unwrap_or_default();
            clusters.iter().any(|(n, s, _)| (!server.is_empty() && s == server) || (!name.is_empty() && n == name))
        };

        // The ApplicationSet controller: desired Applications by name, and which set wants them.
        let mut desired: BTreeMap<String, Json> = BTreeMap::new();
        let mut deletes: BTreeMap<String, bool> = BTreeMap::new();
        // `AllowUpdate`: `sync` and `create-update` update the Applications they generate.
        let mut updates: BTreeMap<String, bool> = BTreeMap::new();
        for set in &appsets.items {
            let set = serde_json::to_value(set).unwrap_or_default();
            let set_name = set["metadata"]["name"].as_str().unwrap_or_default().to_string();
            // `applicationset/utils/policy.go` `DefaultPolicy`: the ApplicationSet's own policy
            // only when the controller allows overrides; else the controller's, `sync` if empty.
            let own = set["spec"]["syncPolicy"]["applicationsSync"].as_str().filter(|p| !p.is_empty());
            let policy = match own {
                Some(own) if override_allowed => own.to_string(),
                _ if controller_policy.is_empty() => "sync".to_string(),
                _ => controller_policy.clone(),
            };
            deletes.insert(set_name.clone(), matches!(policy.as_str(), "sync" | "create-delete"));
            updates.insert(set_name.clone(), matches!(policy.as_str(), "sync" | "create-update"));
            let preserve = set["spec"]["syncPolicy"]["preserveResourcesOnDeletion"].as_bool() == Some(true);
            for selector in cluster_selectors(&set["spec"]["generators"]) {
                for s in &secrets.items {
                    let labels = s.metadata.labels.clone().unwrap_or_default();
                    if !selects(&selector, &labels) {
                        continue;
                    }
                    let data = s.data.clone().unwrap_or_default();
                    let text =
                        |k: &str| data.get(k).map(|b| String::from_utf8_lossy(&b.0).into_owned()).unwrap_or_default();
                    let (name, server) = (text("name"), text("server").trim_end_matches('/').to_string());
                    let mut app = render(&set["spec"]["template"], &name, &server, &labels);
                    app["apiVersion"] = json!("argoproj.io/v1alpha1");
                    app["kind"] = json!("Application");
                    app["metadata"]["ownerReferences"] = json!([{
                        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": set_name,
                        "uid": set["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true
                    }]);
                    if !preserve && app["metadata"]["finalizers"].is_null() {
                        app["metadata"]["finalizers"] = json!([RESOURCES_FINALIZER]);
                    }
                    if let Some(app_name) = app["metadata"]["name"].as_str() {
                        desired.insert(app_name.to_string(), app);
                    }
                }
            }
        }

        let existing = self.apps.list(&Default::default()).await.map_err(|e| format!("list Applications: {e}"))?;
        let mut present = BTreeMap::new();
        for app in &existing.items {
            let json = serde_json::to_value(app).unwrap_or_default();
            present.insert(app.metadata.name.clone().unwrap_or_default(), json);
        }
        for (name, app) in &desired {
            if !present.contains_key(name) {
                let obj: DynamicObject =
                    serde_json::from_value(app.clone()).map_err(|e| format!("Application {name}: {e}"))?;
                match self.apps.create(&PostParams::default(), &obj).await {
                    Ok(created) => {
                        present.insert(name.clone(), serde_json::to_value(created).unwrap_or_default());
                    }
                    Err(e) => self.error(format!("create Application {name}: {e}")),
                }
            }
        }
        // `createOrUpdateInCluster`: an Application whose template renders differently now (the
        // cluster's server changed in place, say) is updated when the policy allows it.
        for (name, app) in &desired {
            let Some(live) = present.get(name) else { continue };
            let owner = app["metadata"]["ownerReferences"][0]["name"].as_str().unwrap_or_default();
            let changed = ["destination", "source"].iter().any(|k| live["spec"][k] != app["spec"][k])
                || live["metadata"]["labels"] != app["metadata"]["labels"];
            if !changed
                || !updates.get(owner).copied().unwrap_or(true)
                || !live["metadata"]["deletionTimestamp"].is_null()
            {
                continue;
            }
            let patch = json!({ "metadata": { "labels": app["metadata"]["labels"] }, "spec": app["spec"] });
            match self.apps.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(updated) => {
                    present.insert(name.clone(), serde_json::to_value(updated).unwrap_or_default());
                }
                Err(e) => self.error(format!("update Application {name}: {e}")),
            }
        }
        for (name, app) in &present {
            let owner = app["metadata"]["ownerReferences"]
                .as_array()
                .and_then(|refs| refs.iter().find(|r| r["kind"] == "ApplicationSet"))
                .and_then(|r| r["name"].as_str());
            let Some(owner) = owner else { continue };
            let dropped = !desired.contains_key(name) && app["metadata"]["deletionTimestamp"].is_null();
            if !dropped || !deletes.get(owner).copied().unwrap_or(true) {
                continue;
            }
            // `removeFinalizerOnInvalidDestination`: no registered cluster, no cascade.
            if !registered(app) && has_resources_finalizer(app) {
                self.drop_resources_finalizer(name, app).await;
            }
            if let Err(e) = self.apps.delete(name, &DeleteParams::default()).await {
                self.error(format!("delete Application {name}: {e}"));
            }
        }

        // The application controller.
        let now = std::time::Instant::now();
        self.compared.retain(|name, _| present.contains_key(name));
        self.noticed.retain(|name, _| present.contains_key(name));
        self.operations.retain(|name, _| present.contains_key(name));
        self.synced_to.retain(|name, _| present.contains_key(name));
        for (name, app) in &present {
            if !app["metadata"]["deletionTimestamp"].is_null() {
                // `finalizeApplicationDeletion`: prune on a registered cluster, else drop the
                // finalizer and leave the resources.
                if has_resources_finalizer(app) {
                    if registered(app) {
                        if let (Some(w), Some(synced)) = (&self.workload, self.synced.get(name))
                            && let Err(e) = w.prune(synced).await
                        {
                            self.error(format!("prune {name}: {e}"));
                            continue;
                        }
                        self.synced.remove(name);
                    }
                    self.drop_resources_finalizer(name, app).await;
                }
                continue;
            }
            if !desired.contains_key(name) && app["metadata"]["ownerReferences"].is_array() {
                continue; // about to be deleted (or kept by a non-deleting policy, unsynced)
            }
            let Some((server, config)) = resolve(app) else { continue };
            let failure = self.failing.lock().unwrap().get(&server).cloned();
            let change = json!({ "destination": app["spec"]["destination"], "source": app["spec"]["source"],
                                 "server": server, "config": config, "failure": failure })
            .to_string();
            let compared_to = json!({ "destination": app["spec"]["destination"], "source": app["spec"]["source"] });
            if self.compared.get(name) != Some(&change) {
                let noticed = self.noticed.entry(name.clone()).or_insert_with(|| (change.clone(), now));
                if noticed.0 != change {
                    *noticed = (change.clone(), now);
                }
                let waited = now.duration_since(noticed.1);
                if waited < self.sync_delay / 2 {
                    continue;
                }
                if let Some(error) = failure {
                    // `CompareAppState`: the target state cannot be loaded; sync stays Unknown.
                    let message = format!(
                        "Failed to load target state: failed to get cluster version for cluster \"{server}\": {error}"
                    );
                    let at = metav1_now();
                    let patch = json!({ "operation": null, "status": {
                        "sync": { "status": "Unknown", "comparedTo": compared_to },
                        "health": { "status": "Unknown", "message": null },
                        "conditions": [{ "type": "ComparisonError", "message": message, "lastTransitionTime": at }],
                        "reconciledAt": at,
                    }});
                    self.patch_status(name, &patch).await;
                    self.operations.remove(name);
                    self.compared.insert(name.clone(), change);
                    continue;
                }
                if self.synced_to.get(name) == Some(&server) && self.operations.get(name) != Some(&change) {
                    // The workload is on this cluster already (its credentials changed, say):
                    // the comparison finds it in sync, no operation.
                    let (health, message) = self.health(app).await;
                    let patch = json!({ "status": {
                        "sync": { "status": "Synced", "comparedTo": compared_to },
                        "health": { "status": health, "message": message },
                        "conditions": null,
                        "reconciledAt": metav1_now(),
                    }});
                    self.patch_status(name, &patch).await;
                    self.noticed.remove(name);
                    self.compared.insert(name.clone(), change);
                    continue;
                }
                if self.operations.get(name) != Some(&change) {
                    // Compared: out of sync; the automated sync policy requests a sync and the
                    // controller starts it (`autoSync`, `processRequestedAppOperation`).
                    let operation = json!({ "sync": { "revision": "HEAD" }, "initiatedBy": { "automated": true } });
                    let at = metav1_now();
                    let patch = json!({ "operation": operation, "status": {
                        "sync": { "status": "OutOfSync", "comparedTo": compared_to },
                        "health": { "status": "Missing", "message": null },
                        "conditions": null,
                        "reconciledAt": at,
                        "operationState": { "operation": operation, "phase": "Running",
                                            "message": "one or more tasks are running", "startedAt": at,
                                            "finishedAt": null },
                    }});
                    self.patch_status(name, &patch).await;
                    self.operations.insert(name.clone(), change);
                    continue;
                }
                if waited < self.sync_delay * 3 / 4 {
                    continue;
                }
                if self.synced_to.get(name) != Some(&server) {
                    // The resources are applied; the operation goes on with its PostSync hook
                    // (a sync with hooks: `operationState.message` "waiting for completion of
                    // hook …"), and a refresh meanwhile finds the resources Synced.
                    if let Some(w) = &self.workload
                        && let Err(e) = w.sync(app).await
                    {
                        self.error(format!("sync {name}: {e}"));
                        continue;
                    }
                    self.synced.insert(name.clone(), app.clone());
                    self.synced_to.insert(name.clone(), server.clone());
                    let (health, message) = self.health(app).await;
                    let patch = json!({ "status": {
                        "sync": { "status": "Synced", "comparedTo": compared_to },
                        "health": { "status": health, "message": message },
                        "reconciledAt": metav1_now(),
                        "operationState": { "phase": "Running",
                                            "message": "waiting for completion of hook batch/Job/post-sync" },
                    }});
                    self.patch_status(name, &patch).await;
                    continue;
                }
                if waited < self.sync_delay {
                    continue;
                }
                let (health, message) = self.health(app).await;
                let at = metav1_now();
                let operation = app["status"]["operationState"]["operation"].clone();
                let patch = json!({ "operation": null, "status": {
                    "sync": { "status": "Synced", "comparedTo": compared_to },
                    "health": { "status": health, "message": message },
                    "conditions": null,
                    "reconciledAt": at,
                    "operationState": { "operation": operation, "phase": "Succeeded",
                                        "message": "successfully synced (all tasks run)",
                                        "startedAt": app["status"]["operationState"]["startedAt"], "finishedAt": at },
                }});
                self.patch_status(name, &patch).await;
                self.operations.remove(name);
                self.noticed.remove(name);
                self.compared.insert(name.clone(), change);
                continue;
            }
            let (health, message) = self.health(app).await;
            let current = &app["status"];
            let same = current["health"]["status"] == health
                && current["health"]["message"].as_str().unwrap_or_default() == message.as_str().unwrap_or_default();
            if same {
                continue;
            }
            let patch = json!({ "status": { "health": { "status": health, "message": message } } });
            self.patch_status(name, &patch).await;
        }
        // Synced Applications that went without being pruned left their workload behind.
        let gone: Vec<String> = self.synced.keys().filter(|n| !present.contains_key(*n)).cloned().collect();
        for name in gone {
            self.synced.remove(&name);
            self.orphaned.lock().unwrap().push(name);
        }
        Ok(())
    }

    /// The health the workload reports (`Healthy` without one), and its message (null when
    /// empty: kube-apiserver 1.20 reads "" in a merge patch as null, which the CRD refuses).
    async fn health(&self, app: &Json) -> (Json, Json) {
        let health = match &self.workload {
            Some(w) => w.health(app).await,
            None => None,
        };
        let (health, message) = health.unwrap_or_else(|| ("Healthy".into(), String::new()));
        (json!(health), if message.is_empty() { Json::Null } else { json!(message) })
    }

    /// The application controller's write of an Application (no status subresource: the main
    /// resource), a JSON merge patch.
    async fn patch_status(&self, name: &str, patch: &Json) {
        if let Err(e) = self.apps.patch(name, &PatchParams::default(), &Patch::Merge(patch)).await {
            self.error(format!("status of Application {name}: {e}"));
        }
    }

    async fn drop_resources_finalizer(&self, name: &str, app: &Json) {
        let kept: Vec<&Json> = app["metadata"]["finalizers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| *f != RESOURCES_FINALIZER)
            .collect();
        let patch = json!({ "metadata": { "finalizers": kept } });
        if let Err(e) = self.apps.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            self.error(format!("finalizers of Application {name}: {e}"));
        }
    }
}

fn has_resources_finalizer(app: &Json) -> bool {
    app["metadata"]["finalizers"].as_array().is_some_and(|f| f.iter().any(|x| x == RESOURCES_FINALIZER))
}

/// The selectors of the cluster generators, nested ones included.
fn cluster_selectors(generators: &Json) -> Vec<Json> {
    let mut out = Vec::new();
    for g in generators.as_array().into_iter().flatten() {
        if let Some(c) = g.get("clusters") {
            out.push(c["selector"].clone());
        }
        for nested in ["matrix", "merge"] {
            out.extend(cluster_selectors(&g[nested]["generators"]));
        }
    }
    out
}

/// apimachinery's label selector: every `matchLabels` pair and every `matchExpressions` entry.
fn selects(selector: &Json, labels: &BTreeMap<String, String>) -> bool {
    let pairs = selector["matchLabels"].as_object().cloned().unwrap_or_default();
    let exprs = selector["matchExpressions"].as_array().cloned().unwrap_or_default();
    pairs.iter().all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str())
        && exprs.iter().all(|e| {
            let value = labels.get(e["key"].as_str().unwrap_or_default());
            let listed = |v: &String| e["values"].as_array().is_some_and(|vs| vs.iter().any(|x| x == v.as_str()));
            match e["operator"].as_str() {
                Some("In") => value.is_some_and(listed),
                Some("NotIn") => !value.is_some_and(listed),
                Some("Exists") => value.is_some(),
                Some("DoesNotExist") => value.is_none(),
                _ => false,
            }
        })
}

/// An ApplicationSet template with the cluster generator's parameters filled in.
fn render(template: &Json, name: &str, server: &str, labels: &BTreeMap<String, String>) -> Json {
    let normalized: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '-' })
        .collect();
    let mut text = template.to_string();
    for (key, value) in [("name", name), ("server", server), ("nameNormalized", normalized.as_str())] {
        let value = json_inner(value);
        text = text.replace(&format!("{{{{{key}}}}}"), &value).replace(&format!("{{{{.{key}}}}}"), &value);
    }
    for (k, v) in labels {
        let v = json_inner(v);
        text = text
            .replace(&format!("{{{{metadata.labels.{k}}}}}"), &v)
            .replace(&format!("{{{{index .metadata.labels \\\"{k}\\\"}}}}"), &v);
    }
    serde_json::from_str(&text).unwrap_or_else(|_| template.clone())
}

/// A string as it appears inside a JSON string literal.
fn json_inner(s: &str) -> String {
    let quoted = Json::String(s.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}
