//! The registration's model: its Terraform state, and the cluster Secret it describes.

use crate::argo::argocd::{
    self, AppStatus, AwsAuthConfig, ClusterConfig, ClusterSecret, ExecProviderConfig, SECRET_TYPE_LABEL,
    TlsClientConfig,
};
use crate::clients::kubernetes::DEFAULT_EXEC_API_VERSION;
use crate::clients::kubernetes::fields::{annotation_field, data_field, label_field};
use crate::clients::pem::normalise_ca;
use crate::framework::timeouts::Timeouts;
use crate::framework::{Attr, AttrPath, Diagnostics, Private};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Private state keys of the bearer token last written: an HMAC-SHA256 of it under a random
/// key made for this resource. Keyed, so that two resources (or two states) with the same token
/// do not show it, and no table of precomputed hashes applies; whoever holds the state holds the
/// key too and can test a guess, as with any verifier.
pub(super) const TOKEN_MAC: &str = "bearer_token_hmac";
pub(super) const TOKEN_KEY: &str = "bearer_token_hmac_key";
/// What earlier versions kept: an unkeyed SHA-256 (read, replaced at the next write).
const TOKEN_SHA256: &str = "bearer_token_sha256";

fn mac(key_hex: &str, token: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut h = hmac::Hmac::<sha2::Sha256>::new_from_slice(key_hex.as_bytes()).expect("HMAC takes any key length");
    h.update(token.as_bytes());
    h.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Records the token just written (None: no token), keeping the resource's key.
pub(super) fn remember_token(private: &mut Private, token: Option<&str>) {
    private.remove(TOKEN_SHA256);
    let Some(token) = token else {
        private.remove(TOKEN_MAC);
        private.remove(TOKEN_KEY);
        return;
    };
    let key: String = private.get(TOKEN_KEY).unwrap_or_else(|| {
        use rand::Rng;
        let bytes: [u8; 32] = rand::rng().random();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    });
    private.set(TOKEN_MAC, &mac(&key, token));
    private.set(TOKEN_KEY, &key);
}

/// Whether the live token (None: the Secret has none) is the one last written.
pub(super) fn token_unchanged(private: &Private, live: Option<&str>) -> bool {
    let recorded: Option<String> = private.get(TOKEN_MAC);
    let key: Option<String> = private.get(TOKEN_KEY);
    let legacy: Option<String> = private.get(TOKEN_SHA256);
    match (live, recorded, key, legacy) {
        (None, None, _, None) => true,
        (Some(t), Some(recorded), Some(key), _) => mac(&key, t) == recorded,
        (Some(t), None, _, Some(legacy)) => argocd::token_hash(t) == legacy,
        _ => false,
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Model {
    pub(super) id: Attr<String>,
    pub(super) name: String,
    pub(super) namespace: Attr<String>,
    pub(super) secret_name: Attr<String>,
    pub(super) eks_cluster_name: Option<String>,
    pub(super) server: Attr<String>,
    pub(super) ca_data: Attr<String>,
    pub(super) insecure: bool,
    pub(super) aws_auth: Option<AwsAuth>,
    pub(super) exec: Option<Exec>,
    /// Write-only: always null here (the value comes from the configuration).
    pub(super) bearer_token: Option<String>,
    pub(super) bearer_token_version: Option<i64>,
    pub(super) labels: Option<BTreeMap<String, String>>,
    pub(super) annotations: Option<BTreeMap<String, String>>,
    pub(super) project: Option<String>,
    pub(super) namespaces: Option<Vec<String>>,
    pub(super) cluster_resources: Option<bool>,
    pub(super) controller_shard: Option<i64>,
    pub(super) wait_for_sync: Option<WaitForSync>,
    pub(super) wait_for_removal: bool,
    pub(super) force_conflicts: bool,
    pub(super) applications: Attr<Vec<AppEntry>>,
    pub(super) timeouts: Option<Timeouts>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub(super) struct AwsAuth {
    pub(super) role_arn: Option<String>,
    pub(super) cluster_name: Option<String>,
    pub(super) profile: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub(super) struct Exec {
    pub(super) command: String,
    pub(super) args: Option<Vec<String>>,
    pub(super) env: Option<BTreeMap<String, String>>,
    pub(super) api_version: Option<String>,
    pub(super) install_hint: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub(super) struct WaitForSync {
    pub(super) min_applications: i64,
    pub(super) application_sets: Option<Vec<String>>,
    pub(super) application_selector: Option<String>,
    pub(super) accept_suspended: bool,
    pub(super) timeout: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub(super) struct AppEntry {
    pub(super) name: String,
    pub(super) sync_status: String,
    pub(super) health_status: String,
}

impl From<&AppStatus> for AppEntry {
    fn from(a: &AppStatus) -> AppEntry {
        AppEntry { name: a.name.clone(), sync_status: a.sync_status.clone(), health_status: a.health_status.clone() }
    }
}

/// `<namespace>/<secret_name>`: the id and the import id.
pub(super) fn resource_id(namespace: &str, secret_name: &str) -> String {
    format!("{namespace}/{secret_name}")
}

pub(super) fn known_str(a: &Attr<String>) -> Option<&str> {
    a.known().map(String::as_str)
}

impl Model {
    pub(super) fn namespace(&self) -> &str {
        known_str(&self.namespace).unwrap_or(argocd::DEFAULT_ARGOCD_NAMESPACE)
    }
    pub(super) fn secret_name(&self) -> String {
        known_str(&self.secret_name).map(str::to_string).unwrap_or_else(|| argocd::secret_name_for(&self.name))
    }
    pub(super) fn server(&self) -> &str {
        known_str(&self.server).unwrap_or_default()
    }
    /// The cluster name Argo CD's awsAuthConfig uses: the block's, else eks_cluster_name.
    pub(super) fn aws_cluster_name(&self) -> Option<String> {
        self.aws_auth.as_ref().and_then(|a| a.cluster_name.clone()).or_else(|| self.eks_cluster_name.clone())
    }
    pub(super) fn describe(&self) -> String {
        format!("Secret {}/{}", self.namespace(), self.secret_name())
    }

    /// `config` as this model writes it; `token` is the write-only value from the configuration.
    pub(super) fn cluster_config(&self, token: Option<&str>) -> Result<ClusterConfig, Diagnostics> {
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
                // Argo CD hands execProviderConfig.apiVersion to client-go unchanged
                // (pkg/apis/application/v1alpha1/types.go `RawRestConfig`), and client-go's exec
                // plugin refuses an empty one; argo-cd uses v1beta1 for its own awsAuthConfig.
                api_version: e.api_version.clone().unwrap_or_else(|| DEFAULT_EXEC_API_VERSION.to_string()),
                install_hint: e.install_hint.clone().unwrap_or_default(),
                ..Default::default()
            });
        }
        if let Some(t) = token {
            config.bearer_token = t.to_string();
        }
        Ok(config)
    }

    pub(super) fn cluster_secret(&self, token: Option<&str>) -> Result<ClusterSecret, Diagnostics> {
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
    pub(super) fn owned_fields(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = ["name", "server", "config"].iter().map(|k| data_field(k)).collect();
        if self.namespaces.as_ref().is_some_and(|n| !n.is_empty()) {
            out.insert(data_field("namespaces"));
        }
        if self.cluster_resources == Some(true) {
            out.insert(data_field("clusterResources"));
        }
        if self.project.as_ref().is_some_and(|p| !p.is_empty()) {
            out.insert(data_field("project"));
        }
        if self.controller_shard.is_some() {
            out.insert(data_field("shard"));
        }
        out.extend(self.labels.iter().flatten().map(|(k, _)| label_field(k)));
        out.extend(self.annotations.iter().flatten().map(|(k, _)| annotation_field(k)));
        out.insert(label_field(SECRET_TYPE_LABEL));
        out
    }
}
