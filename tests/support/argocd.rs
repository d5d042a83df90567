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

    /// The finalizer's work is done: the Application goes.
    pub async fn release(&self, name: &str) {
        let patch = json!({ "metadata": { "finalizers": null } });
        self.apps.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
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
