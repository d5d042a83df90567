//! Argo CD's declarative cluster Secrets, read and written exactly as Argo CD does, and the
//! Applications that target a cluster. Pure functions (no I/O) so every rule is unit-tested.
//!
//! Upstream references (argoproj/argo-cd, checked against its main branch at commit 37ee0097cf,
//! 2026-11):
//! - `util/db/cluster.go` `clusterToSecret` / `SecretToCluster` (and its copy
//!   `util/settings/cluster_informer.go` `secretToCluster`): data keys `name`, `server` (trailing
//!   `/` trimmed on both sides), `config` (JSON of `ClusterConfig`), `namespaces` (comma list,
//!   entries trimmed, empty ones skipped), `clusterResources` (`"true"` is true, anything else
//!   false; written only when true), `project`, `shard` (`strconv.Atoi`; unparsable is ignored
//!   with a warning). Labels and annotations are copied, minus `argocd.argoproj.io/secret-type`,
//!   `kubectl.kubernetes.io/last-applied-configuration` and `managed-by`.
//! - `common/common.go`: `LabelKeySecretType = "argocd.argoproj.io/secret-type"`,
//!   `LabelValueSecretTypeCluster = "cluster"`.
//! - `pkg/apis/application/v1alpha1/types.go` `ClusterConfig`: `username`, `password`,
//!   `bearerToken`, `tlsClientConfig` (no omitempty: always written), `awsAuthConfig`,
//!   `execProviderConfig`, `disableCompression`, `proxyUrl`; `TLSClientConfig`: `insecure` (no
//!   omitempty), `serverName`, `certData`, `keyData`, `caData` — the last three are Go `[]byte`,
//!   so JSON carries them as standard base64 of the PEM; `AWSAuthConfig`: `clusterName`,
//!   `roleARN`, `profile`; `ExecProviderConfig`: `command`, `args`, `env`, `apiVersion`,
//!   `installHint`, `provideClusterInfo`, `config`.
//!
//! Go's `encoding/json` matches object keys case-insensitively, so `roleArn` reads as
//! `roleARN`; [`ClusterConfig::parse`] does the same.

use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;

pub const SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";
pub const SECRET_TYPE_CLUSTER: &str = "cluster";
/// Annotations Argo CD itself drops when it reads a cluster Secret.
pub const SYSTEM_ANNOTATIONS: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration", "managed-by"];
pub const DEFAULT_ARGOCD_NAMESPACE: &str = "argocd";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Argo CD's `ClusterConfig` as JSON (field names as upstream's JSON tags; empty fields left out
/// the way Go's `omitempty` leaves them out).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    #[serde(default, rename = "bearerToken", skip_serializing_if = "String::is_empty")]
    pub bearer_token: String,
    #[serde(default, rename = "tlsClientConfig")]
    pub tls: TlsClientConfig,
    #[serde(default, rename = "awsAuthConfig", skip_serializing_if = "Option::is_none")]
    pub aws_auth: Option<AwsAuthConfig>,
    #[serde(default, rename = "execProviderConfig", skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecProviderConfig>,
    #[serde(default, rename = "disableCompression", skip_serializing_if = "is_false")]
    pub disable_compression: bool,
    #[serde(default, rename = "proxyUrl", skip_serializing_if = "String::is_empty")]
    pub proxy_url: String,
    /// Keys Argo CD does not know (it ignores them).
    #[serde(flatten)]
    pub other: BTreeMap<String, Json>,
}

/// Never prints credentials.
impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("username", &self.username)
            .field("password", &(!self.password.is_empty()).then_some("<redacted>"))
            .field("bearer_token", &(!self.bearer_token.is_empty()).then_some("<redacted>"))
            .field("tls", &self.tls)
            .field("aws_auth", &self.aws_auth)
            .field("exec", &self.exec)
            .field("proxy_url", &self.proxy_url)
            .finish_non_exhaustive()
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsClientConfig {
    #[serde(default)]
    pub insecure: bool,
    #[serde(default, rename = "serverName", skip_serializing_if = "String::is_empty")]
    pub server_name: String,
    #[serde(default, rename = "certData", skip_serializing_if = "String::is_empty")]
    pub cert_data: String,
    #[serde(default, rename = "keyData", skip_serializing_if = "String::is_empty")]
    pub key_data: String,
    /// Standard base64 of the PEM bundle (Go `[]byte`).
    #[serde(default, rename = "caData", skip_serializing_if = "String::is_empty")]
    pub ca_data: String,
    #[serde(flatten)]
    pub other: BTreeMap<String, Json>,
}

impl std::fmt::Debug for TlsClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClientConfig")
            .field("insecure", &self.insecure)
            .field("server_name", &self.server_name)
            .field("ca_data", &(!self.ca_data.is_empty()))
            .field("key_data", &(!self.key_data.is_empty()).then_some("<redacted>"))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AwsAuthConfig {
    #[serde(default, rename = "clusterName", skip_serializing_if = "String::is_empty")]
    pub cluster_name: String,
    #[serde(default, rename = "roleARN", skip_serializing_if = "String::is_empty")]
    pub role_arn: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub profile: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecProviderConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub command: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, rename = "apiVersion", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, rename = "installHint", skip_serializing_if = "String::is_empty")]
    pub install_hint: String,
    #[serde(default, rename = "provideClusterInfo", skip_serializing_if = "is_false")]
    pub provide_cluster_info: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Json>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Json>,
}

/// Canonical key names per object level, for Go's case-insensitive matching.
const CONFIG_KEYS: &[&str] = &[
    "username",
    "password",
    "bearerToken",
    "tlsClientConfig",
    "awsAuthConfig",
    "execProviderConfig",
    "disableCompression",
    "proxyUrl",
];
const TLS_KEYS: &[&str] = &["insecure", "serverName", "certData", "keyData", "caData"];
const AWS_KEYS: &[&str] = &["clusterName", "roleARN", "profile"];
const EXEC_KEYS: &[&str] = &["command", "args", "env", "apiVersion", "installHint", "provideClusterInfo", "config"];

fn canonical_keys(v: &mut Json, keys: &[&str]) {
    if let Json::Object(map) = v {
        let renames: Vec<(String, &str)> = map
            .keys()
            .filter_map(|k| keys.iter().find(|c| c.eq_ignore_ascii_case(k) && **c != k).map(|c| (k.clone(), *c)))
            .collect();
        for (from, to) in renames {
            if let Some(val) = map.remove(&from) {
                map.entry(to.to_string()).or_insert(val);
            }
        }
    }
}

impl ClusterConfig {
    /// Reads the `config` data key as Argo CD's `json.Unmarshal` would (an absent or empty key
    /// is an empty config; JSON null fields are their zero values).
    pub fn parse(bytes: &[u8]) -> Result<ClusterConfig, String> {
        if bytes.is_empty() {
            return Ok(ClusterConfig::default());
        }
        let mut v: Json = serde_json::from_slice(bytes).map_err(|e| format!("config is not JSON: {e}"))?;
        canonical_keys(&mut v, CONFIG_KEYS);
        if let Json::Object(map) = &mut v {
            // Go leaves a field at its zero value for JSON null.
            map.retain(|_, val| !val.is_null());
            if let Some(t) = map.get_mut("tlsClientConfig") {
                canonical_keys(t, TLS_KEYS);
                if let Json::Object(m) = t {
                    m.retain(|_, val| !val.is_null());
                }
            }
            if let Some(a) = map.get_mut("awsAuthConfig") {
                canonical_keys(a, AWS_KEYS);
            }
            if let Some(e) = map.get_mut("execProviderConfig") {
                canonical_keys(e, EXEC_KEYS);
                if let Json::Object(m) = e {
                    m.retain(|_, val| !val.is_null());
                }
            }
        }
        serde_json::from_value(v).map_err(|e| format!("config does not match Argo CD's ClusterConfig: {e}"))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The PEM of `tlsClientConfig.caData` (None when absent or not base64 of text).
    pub fn ca_pem(&self) -> Option<String> {
        if self.tls.ca_data.is_empty() {
            return None;
        }
        let bytes = base64::engine::general_purpose::STANDARD.decode(self.tls.ca_data.trim()).ok()?;
        String::from_utf8(bytes).ok()
    }

    /// Carries over from `live` the settings of `config` this provider leaves to others: the
    /// TLS `serverName`, `proxyUrl`, `disableCompression` and keys Argo CD does not know. The
    /// whole `config` is one data key, so writing it without them would remove them.
    pub fn keep_foreign_settings(&mut self, live: &ClusterConfig) {
        self.tls.server_name.clone_from(&live.tls.server_name);
        self.proxy_url.clone_from(&live.proxy_url);
        self.disable_compression = live.disable_compression;
        for (k, v) in &live.other {
            self.other.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for (k, v) in &live.tls.other {
            self.tls.other.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }

    /// Credentials besides the one this provider writes (a cluster has one way in: these are
    /// replaced on the next write).
    pub fn unmanaged(&self) -> Vec<&'static str> {
        let checks: [(&'static str, bool); 4] = [
            ("username", !self.username.is_empty()),
            ("password", !self.password.is_empty()),
            ("tlsClientConfig.certData", !self.tls.cert_data.is_empty()),
            ("tlsClientConfig.keyData", !self.tls.key_data.is_empty()),
        ];
        checks.into_iter().filter(|(_, present)| *present).map(|(name, _)| name).collect()
    }
}

/// A cluster as Argo CD sees it in a Secret (`SecretToCluster`).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveCluster {
    pub name: String,
    pub server: String,
    pub namespaces: Vec<String>,
    pub cluster_resources: bool,
    pub project: String,
    /// `Err(text)`: present but not a number (Argo CD ignores it with a warning).
    pub shard: Option<Result<i64, String>>,
    pub config: Result<ClusterConfig, String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Whether the `secret-type: cluster` label is there (without it Argo CD ignores the Secret).
    pub is_cluster: bool,
}

pub fn data_text(secret: &Secret, key: &str) -> Option<String> {
    secret.data.as_ref()?.get(key).map(|b| String::from_utf8_lossy(&b.0).into_owned())
}

pub fn trim_server(server: &str) -> &str {
    server.trim_end_matches('/')
}

/// Comma list as Argo CD splits it: entries trimmed, empty ones skipped.
pub fn split_namespaces(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

impl LiveCluster {
    pub fn from_secret(secret: &Secret) -> LiveCluster {
        let text = |k: &str| data_text(secret, k).unwrap_or_default();
        let labels: BTreeMap<String, String> = secret.metadata.labels.clone().unwrap_or_default().into_iter().collect();
        let annotations = secret.metadata.annotations.clone().unwrap_or_default().into_iter().collect();
        let config_bytes = secret.data.as_ref().and_then(|d| d.get("config")).map(|b| b.0.clone()).unwrap_or_default();
        LiveCluster {
            name: text("name"),
            server: trim_server(&text("server")).to_string(),
            namespaces: split_namespaces(&text("namespaces")),
            cluster_resources: text("clusterResources") == "true",
            project: text("project"),
            shard: data_text(secret, "shard").map(|s| s.parse::<i64>().map_err(|_| s)),
            config: ClusterConfig::parse(&config_bytes),
            is_cluster: labels.get(SECRET_TYPE_LABEL).map(String::as_str) == Some(SECRET_TYPE_CLUSTER),
            labels,
            annotations,
        }
    }

    /// User labels: without the `secret-type` label (as Argo CD copies them).
    pub fn user_labels(&self) -> BTreeMap<String, String> {
        let mut l = self.labels.clone();
        l.remove(SECRET_TYPE_LABEL);
        l
    }

    pub fn user_annotations(&self) -> BTreeMap<String, String> {
        let mut a = self.annotations.clone();
        for k in SYSTEM_ANNOTATIONS {
            a.remove(*k);
        }
        a
    }
}

/// What the resource writes: the whole set of fields it owns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClusterSecret {
    pub namespace: String,
    pub secret_name: String,
    pub name: String,
    pub server: String,
    pub namespaces: Vec<String>,
    pub cluster_resources: bool,
    pub project: Option<String>,
    pub shard: Option<i64>,
    pub config: ClusterConfig,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

impl ClusterSecret {
    /// The server-side apply body: only the fields this provider owns, so labels, annotations
    /// and data keys others add are left alone. Data keys are written as `clusterToSecret`
    /// writes them (optional ones only when set).
    pub fn apply_body(&self) -> Json {
        let mut data = serde_json::Map::new();
        data.insert("name".into(), b64(self.name.as_bytes()).into());
        data.insert("server".into(), b64(trim_server(&self.server).as_bytes()).into());
        data.insert("config".into(), b64(&self.config.to_bytes()).into());
        if !self.namespaces.is_empty() {
            data.insert("namespaces".into(), b64(self.namespaces.join(",").as_bytes()).into());
        }
        if self.cluster_resources {
            data.insert("clusterResources".into(), b64(b"true").into());
        }
        if let Some(p) = self.project.as_deref().filter(|p| !p.is_empty()) {
            data.insert("project".into(), b64(p.as_bytes()).into());
        }
        if let Some(s) = self.shard {
            data.insert("shard".into(), b64(s.to_string().as_bytes()).into());
        }
        let mut labels = self.labels.clone();
        labels.insert(SECRET_TYPE_LABEL.into(), SECRET_TYPE_CLUSTER.into());
        let mut metadata = json!({ "name": self.secret_name, "namespace": self.namespace, "labels": labels });
        if !self.annotations.is_empty() {
            metadata["annotations"] = json!(self.annotations);
        }
        json!({ "apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque", "data": data })
    }

    /// Data keys this write leaves out that Argo CD would read (to remove a leftover another
    /// manager holds).
    pub fn absent_data_keys(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.namespaces.is_empty() {
            out.push("namespaces");
        }
        if !self.cluster_resources {
            out.push("clusterResources");
        }
        if self.project.as_deref().is_none_or(str::is_empty) {
            out.push("project");
        }
        if self.shard.is_none() {
            out.push("shard");
        }
        out
    }
}

/// The Secret name derived from a cluster name: `cluster-<name>` when the name is already a
/// valid DNS label, else a cleaned-up form with a short hash of the name (so two names never
/// share a Secret).
pub fn secret_name_for(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let clean: String = lower.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    let clean = clean.trim_matches('-');
    let clean: String = clean.chars().take(200).collect();
    let clean = clean.trim_end_matches('-');
    if clean == name && !clean.is_empty() {
        return format!("cluster-{clean}");
    }
    // FNV-1a: stable across versions and platforms (unlike std's hasher).
    let hash = name.bytes().fold(0x811c9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    if clean.is_empty() { format!("cluster-{hash:08x}") } else { format!("cluster-{clean}-{hash:08x}") }
}

/// SHA-256 of a token (hex), to notice a changed token without storing it.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("shard-argocd-bearer-token:{token}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// An Application's state as Argo CD reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
pub struct AppStatus {
    pub name: String,
    pub sync_status: String,
    pub health_status: String,
    /// Why it is not there yet (an error condition, health message or operation message).
    #[serde(skip)]
    pub message: String,
    #[serde(skip)]
    pub deleting: Option<String>,
    /// An operation (a sync) under way, or finished but not reconciled since: the status is not
    /// the result yet.
    #[serde(skip)]
    pub operation: Option<String>,
    /// The status was computed for another destination than the spec's (the cluster's `server`
    /// changed in place): a verdict of the old cluster.
    #[serde(skip)]
    pub stale: bool,
    /// The first condition of an `…Error` type (`ComparisonError`: the cluster unreachable or
    /// unauthorized; `InvalidSpecError`: no such cluster), as `type: message`.
    #[serde(skip)]
    pub error: Option<String>,
    /// The ApplicationSet that generated it (its controller owner reference).
    #[serde(skip)]
    pub application_set: Option<String>,
}

/// Which health a wait accepts besides Healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accept {
    /// `Suspended` (as `argocd app wait --suspended`): a paused Rollout makes its Application
    /// Suspended (argo-cd `resource_customizations/argoproj.io/Rollout/health.lua`: phase Paused
    /// is Suspended; the Application takes its worst resource's health).
    pub suspended: bool,
}

impl AppStatus {
    /// Synced and Healthy (or an accepted health), judged as `argocd app wait` judges it
    /// (cmd/argocd/commands/app.go `checkResourceStatus`, `checkAppWaitConditions`: no operation
    /// in progress), on a status computed for the current destination (controller/appcontroller.go
    /// `needRefreshAppStatus` refreshes when `status.sync.comparedTo.destination` differs).
    pub fn ready(&self, accept: Accept) -> bool {
        let healthy = self.health_status == "Healthy" || (accept.suspended && self.health_status == "Suspended");
        self.sync_status == "Synced" && healthy && self.operation.is_none() && !self.stale
    }

    pub fn describe(&self) -> String {
        let mut s = format!("{}: sync {}, health {}", self.name, self.sync_status, self.health_status);
        if let Some(op) = &self.operation {
            s.push_str(&format!(", {op}"));
        }
        if self.stale {
            s.push_str(", status computed for another destination (not refreshed yet)");
        }
        if !self.message.is_empty() {
            s.push_str(&format!(" ({})", self.message));
        }
        s
    }
}

/// The cluster an Application targets: `spec.destination.server` or `.name`.
pub fn targets(app: &Json, server: &str, name: &str) -> bool {
    let dest = &app["spec"]["destination"];
    let by_server = dest["server"].as_str().is_some_and(|s| !s.is_empty() && trim_server(s) == trim_server(server));
    let by_name = dest["name"].as_str().is_some_and(|n| !n.is_empty() && n == name);
    by_server || by_name
}

/// An Application object's status.
pub fn app_status(app: &Json) -> AppStatus {
    let s = |v: &Json| v.as_str().unwrap_or("").to_string();
    let status = &app["status"];
    let or_unknown = |t: String| if t.is_empty() { "Unknown".to_string() } else { t };
    // `ApplicationCondition.IsError`: a type with the suffix "Error" (pkg/apis/application/v1alpha1/types.go).
    let error = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"].as_str().is_some_and(|t| t.ends_with("Error")))
        .map(|c| format!("{}: {}", s(&c["type"]), s(&c["message"])));
    let message = [
        error.clone().unwrap_or_default(),
        s(&status["health"]["message"]),
        s(&status["operationState"]["message"]),
        status["conditions"].as_array().and_then(|c| c.first()).map(|c| s(&c["message"])).unwrap_or_default(),
    ]
    .into_iter()
    .find(|m| !m.is_empty())
    .unwrap_or_default();
    let deleting = app["metadata"]["deletionTimestamp"].as_str().map(|at| {
        let finalizers: Vec<String> = app["metadata"]["finalizers"]
            .as_array()
            .map(|f| f.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        if finalizers.is_empty() {
            format!("deleting since {at}")
        } else {
            format!("deleting since {at}, waiting on finalizers {}", finalizers.join(", "))
        }
    });
    // `checkAppWaitConditions`: an operation requested, or one whose state has no finishedAt,
    // or one that finished after the last reconcile (RFC 3339 UTC times compare as text).
    let op_state = &status["operationState"];
    let (finished, reconciled) = (s(&op_state["finishedAt"]), s(&status["reconciledAt"]));
    let operation = if !app["operation"].is_null() {
        Some("operation requested".to_string())
    } else if !op_state.is_null() && finished.is_empty() {
        Some(format!("operation {}", or_unknown(s(&op_state["phase"]))))
    } else if !op_state.is_null() && (reconciled.is_empty() || reconciled < finished) {
        Some("operation finished, not reconciled since".to_string())
    } else {
        None
    };
    let compared = &status["sync"]["comparedTo"]["destination"];
    let dest = &app["spec"]["destination"];
    let field = |d: &Json, k: &str| d[k].as_str().unwrap_or_default().trim_end_matches('/').to_string();
    let stale = !compared.is_null()
        && (field(compared, "server") != field(dest, "server") || field(compared, "name") != field(dest, "name"));
    AppStatus {
        name: s(&app["metadata"]["name"]),
        sync_status: or_unknown(s(&status["sync"]["status"])),
        health_status: or_unknown(s(&status["health"]["status"])),
        message,
        deleting,
        operation,
        stale,
        error,
        application_set: owner_application_set(app).map(str::to_string),
    }
}

/// The cluster a registration writes, to judge whose verdict an Application's status is: the
/// `server` and `name` it registers, and (when this apply wrote a new `server`: a create, or an
/// in-place change such as an EKS cluster recreated under the same name) when the API server
/// recorded that write, as RFC 3339 UTC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registered {
    pub server: String,
    pub name: String,
    pub server_written_at: Option<String>,
}

/// Whether an Application's status was computed for another cluster than the one registered
/// now. Argo CD records the destination it compared with as the spec had it
/// (controller/state.go `CompareAppState`: `comparedTo.destination` is `app.Spec.Destination`,
/// a `name` left unresolved) and resolves a name to a server only while comparing
/// (util/argo/argo.go `GetDestinationServer`: the server of the one cluster Secret with that
/// name). So the verdict is resolved here as Argo CD would: a compared `server` must be the
/// registration's server, a compared `name` the registration's name; and since the server behind
/// a name (or a server reused by a recreated cluster) is not recorded, a comparison older than
/// the write of the current server (`status.reconciledAt` before it; Argo CD sets it at every
/// comparison, controller/appcontroller.go `processAppRefreshQueueItem`) was made against the
/// old cluster. Times compare as RFC 3339 UTC text, to the second: a comparison in the same
/// second as the write counts as current. Never compared yet: not stale (its sync status is
/// Unknown, which is not ready anyway).
pub fn stale_for(app: &Json, reg: &Registered) -> bool {
    let status = &app["status"];
    let compared = &status["sync"]["comparedTo"]["destination"];
    if compared.is_null() {
        return false;
    }
    let server = trim_server(compared["server"].as_str().unwrap_or_default());
    let name = compared["name"].as_str().unwrap_or_default();
    let other_cluster =
        if !server.is_empty() { server != trim_server(&reg.server) } else { !name.is_empty() && name != reg.name };
    let before_write = reg.server_written_at.as_deref().is_some_and(|written| {
        let reconciled = status["reconciledAt"].as_str().unwrap_or_default();
        // metav1.Time is RFC 3339 to the second; a finer time is cut to the second.
        let second = |t: &str| t.parse::<jiff::Timestamp>().ok().map(|t| t.as_second());
        match (second(reconciled), second(written)) {
            (Some(r), Some(w)) => r < w,
            _ => reconciled.is_empty() || reconciled < written,
        }
    });
    other_cluster || before_write
}

/// One requirement of a Kubernetes label selector (apimachinery `labels.Requirement`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    /// `=`, `!=`, `in`, `notin`, `exists`, `!` (does not exist), `>`, `<`.
    pub op: &'static str,
    pub values: Vec<String>,
}

/// Parses a label selector in the text form `kubectl get -l` and `argocd app wait -l` take
/// (apimachinery `pkg/labels/selector.go` `Parse`): comma-separated requirements `k=v`, `k==v`,
/// `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, `k>1`, `k<1`, keys as qualified names and
/// values as label values. An empty selector is refused (it would select everything: leave the
/// attribute out instead).
pub fn parse_label_selector(text: &str) -> Result<Vec<Requirement>, String> {
    use crate::clients::kubernetes::names;
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return Err(format!("{text:?}: unbalanced ')'"));
        }
    }
    if depth != 0 {
        return Err(format!("{text:?}: unbalanced '('"));
    }
    parts.push(&text[start..]);
    let mut out = Vec::new();
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("{text:?}: an empty requirement (a selector is requirements separated by commas)"));
        }
        let key_ok = |k: &str| names::qualified_key(k).map_err(|e| format!("{text:?}: key {k:?}: {e}"));
        let value_ok = |v: &str| names::label_value(v).map_err(|e| format!("{text:?}: value {v:?}: {e}"));
        let req = if let Some(key) = part.strip_prefix('!') {
            let key = key.trim();
            key_ok(key)?;
            Requirement { key: key.into(), op: "!", values: vec![] }
        } else if let Some((key, rest)) = part.split_once(|c: char| c.is_whitespace() || c == '(')
            && let Some((op, set)) = set_op(rest.trim_start())
        {
            key_ok(key)?;
            let set = set.trim();
            let inner = set
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| format!("{text:?}: {op} needs a set of values in parentheses, e.g. {key} {op} (a,b)"))?;
            let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
            if values.iter().all(String::is_empty) {
                return Err(format!("{text:?}: the set of values for {op} cannot be empty"));
            }
            for v in &values {
                value_ok(v)?;
            }
            Requirement { key: key.into(), op, values }
        } else if let Some((key, value)) = part.split_once("!=") {
            key_ok(key.trim())?;
            value_ok(value.trim())?;
            Requirement { key: key.trim().into(), op: "!=", values: vec![value.trim().into()] }
        } else if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
            key_ok(key.trim())?;
            value_ok(value.trim())?;
            Requirement { key: key.trim().into(), op: "=", values: vec![value.trim().into()] }
        } else if let Some((key, value, op)) =
            part.split_once('>').map(|(k, v)| (k, v, ">")).or_else(|| part.split_once('<').map(|(k, v)| (k, v, "<")))
        {
            key_ok(key.trim())?;
            value.trim().parse::<i64>().map_err(|_| format!("{text:?}: {op} needs an integer, not {value:?}"))?;
            Requirement { key: key.trim().into(), op, values: vec![value.trim().into()] }
        } else {
            key_ok(part)?;
            Requirement { key: part.into(), op: "exists", values: vec![] }
        };
        out.push(req);
    }
    Ok(out)
}

/// `in (…)` / `notin (…)` at the start of `rest`: the operator and what follows it.
fn set_op(rest: &str) -> Option<(&'static str, &str)> {
    for op in ["notin", "in"] {
        if let Some(after) = rest.strip_prefix(op)
            && (after.starts_with('(') || after.starts_with(char::is_whitespace))
        {
            return Some((op, after));
        }
    }
    None
}

/// Whether `labels` satisfy every requirement (apimachinery `Requirement.Matches`).
pub fn requirements_match(reqs: &[Requirement], labels: &BTreeMap<String, String>) -> bool {
    reqs.iter().all(|r| {
        let value = labels.get(&r.key).map(String::as_str);
        let listed = |v: &str| r.values.iter().any(|x| x == v);
        let number = |v: Option<&str>| v.and_then(|v| v.parse::<i64>().ok());
        match r.op {
            "=" => value.is_some_and(listed),
            "!=" => value.is_none_or(|v| !listed(v)),
            "in" => value.is_some_and(listed),
            "notin" => value.is_none_or(|v| !listed(v)),
            "exists" => value.is_some(),
            "!" => value.is_none(),
            ">" => number(value).zip(number(r.values.first().map(String::as_str))).is_some_and(|(v, n)| v > n),
            "<" => number(value).zip(number(r.values.first().map(String::as_str))).is_some_and(|(v, n)| v < n),
            _ => false,
        }
    })
}

/// Why a wait goes on, or why it cannot succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    Waiting(String),
    /// Argo CD reports an error waiting will not mend (the cluster unreachable or unauthorized,
    /// a spec it refuses), with its message.
    Failed(String),
}

/// What a `wait_for_sync` waits for: at least `min` Applications, one at least from each of
/// `application_sets`, every one ready.
#[derive(Debug, Clone, Default)]
pub struct SyncWanted<'a> {
    pub min: usize,
    pub application_sets: &'a [String],
    pub accept: Accept,
    /// The label selector the Applications were picked by (`application_selector`), for messages.
    pub selector: Option<&'a str>,
}

/// Whether the targeting Applications are synced. Fails at once on an error condition that is
/// not about to clear (`ComparisonError`, `InvalidSpecError`) on an Application whose status is
/// current; otherwise says what is missing, naming every laggard.
pub fn sync_verdict(apps: &[AppStatus], wanted: &SyncWanted, cluster: &str) -> Result<(), Pending> {
    let failing: Vec<String> = apps
        .iter()
        .filter(|a| !a.stale && a.operation.is_none())
        .filter_map(|a| a.error.as_ref().map(|e| format!("{}: {e}", a.name)))
        .collect();
    if !failing.is_empty() {
        return Err(Pending::Failed(failing.join("; ")));
    }
    let laggards: Vec<String> = apps.iter().filter(|a| !a.ready(wanted.accept)).map(AppStatus::describe).collect();
    let missing_sets: Vec<&str> = wanted
        .application_sets
        .iter()
        .filter(|set| !apps.iter().any(|a| a.application_set.as_deref() == Some(set.as_str())))
        .map(String::as_str)
        .collect();
    if apps.len() >= wanted.min && laggards.is_empty() && missing_sets.is_empty() {
        return Ok(());
    }
    let mut why = Vec::new();
    if apps.len() < wanted.min {
        let min = wanted.min;
        let matching = wanted.selector.map(|s| format!(" matching {s:?}")).unwrap_or_default();
        why.push(format!(
            "{} Application{}{matching} target{} {cluster}, at least {min} expected",
            apps.len(),
            if apps.len() == 1 { "" } else { "s" },
            if apps.len() == 1 { "s" } else { "" }
        ));
    }
    if !missing_sets.is_empty() {
        why.push(format!("no Application from ApplicationSet {} targets {cluster} yet", missing_sets.join(", ")));
    }
    if !laggards.is_empty() {
        let want = if wanted.accept.suspended { "Synced+Healthy (or Suspended)" } else { "Synced+Healthy" };
        why.push(format!("not {want}: {}", laggards.join("; ")));
    }
    Err(Pending::Waiting(why.join("; ")))
}

/// Whether no Application targets the cluster any more; `Err` lists those left.
pub fn removal_verdict(apps: &[AppStatus]) -> Result<(), Pending> {
    if apps.is_empty() {
        return Ok(());
    }
    let left: Vec<String> = apps
        .iter()
        .map(|a| match &a.deleting {
            Some(d) => format!("{} ({d})", a.name),
            None => format!("{} (not being deleted)", a.name),
        })
        .collect();
    Err(Pending::Waiting(format!("{} Application(s) still target it: {}", apps.len(), left.join("; "))))
}

/// Whether a Kubernetes label selector (`matchLabels` and `matchExpressions`, as
/// apimachinery's `LabelSelectorAsSelector` reads them) selects `labels`. An empty or absent
/// selector selects everything (a cluster generator without one selects every cluster).
pub fn selector_matches(selector: &Json, labels: &BTreeMap<String, String>) -> bool {
    let match_labels = selector["matchLabels"].as_object().into_iter().flatten();
    let by_label = match_labels.into_iter().all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    let expressions = selector["matchExpressions"].as_array().into_iter().flatten();
    by_label
        && expressions.into_iter().all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&str> = e["values"].as_array().into_iter().flatten().filter_map(Json::as_str).collect();
            let value = labels.get(key).map(String::as_str);
            match e["operator"].as_str().unwrap_or_default() {
                "In" => value.is_some_and(|v| values.contains(&v)),
                "NotIn" => value.is_none_or(|v| !values.contains(&v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false, // apimachinery refuses an unknown operator: the generator selects nothing
            }
        })
}

/// The selectors of an ApplicationSet's cluster generators, also those nested in `matrix` and
/// `merge` generators (argo-cd `applicationset/generators/cluster.go`: a `clusters` generator
/// turns every cluster Secret its `selector` matches into parameters).
pub fn cluster_selectors(appset: &Json) -> Vec<Json> {
    fn walk(generators: &Json, out: &mut Vec<Json>) {
        for g in generators.as_array().into_iter().flatten() {
            if let Some(clusters) = g.get("clusters") {
                out.push(clusters.get("selector").cloned().unwrap_or(Json::Null));
            }
            for nested in ["matrix", "merge"] {
                walk(&g[nested]["generators"], out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&appset["spec"]["generators"], &mut out);
    out
}

/// The ApplicationSet controller's own policy, from `argocd-cmd-params-cm` in Argo CD's
/// namespace (argo-cd `manifests/base/applicationset-controller/...-deployment.yaml` passes
/// `applicationsetcontroller.policy` and `applicationsetcontroller.enable.policy.override` as the
/// flags `--policy` (default "": ApplicationSets decide, `sync` when they say nothing) and
/// `--enable-policy-override` (default: true only when `--policy` is empty;
/// `cmd/argocd-applicationset-controller/commands/applicationset_controller.go`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerPolicy {
    pub policy: String,
    pub override_allowed: bool,
}

impl ControllerPolicy {
    /// Argo CD's defaults: no controller policy, ApplicationSets may set their own.
    pub fn default_policy() -> ControllerPolicy {
        ControllerPolicy { policy: String::new(), override_allowed: true }
    }

    /// From the ConfigMap's data (an absent ConfigMap or key is the default).
    pub fn from_cmd_params(data: &BTreeMap<String, String>) -> ControllerPolicy {
        let policy = data.get("applicationsetcontroller.policy").map(|p| p.trim().to_string()).unwrap_or_default();
        // Go's strconv.ParseBool, as `env.ParseBoolFromEnv` reads it; anything else is the default.
        let override_allowed = match data.get("applicationsetcontroller.enable.policy.override").map(|v| v.trim()) {
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => true,
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => false,
            _ => policy.is_empty(),
        };
        ControllerPolicy { policy, override_allowed }
    }
}

/// The policy that applies to an ApplicationSet's Applications, and where it comes from
/// (`applicationset/utils/policy.go` `DefaultPolicy`: the ApplicationSet's
/// `spec.syncPolicy.applicationsSync` when it sets one and overrides are allowed, else the
/// controller's, `sync` when empty).
pub fn effective_policy(appset: &Json, controller: &ControllerPolicy) -> (String, &'static str) {
    match appset["spec"]["syncPolicy"]["applicationsSync"].as_str().filter(|p| !p.is_empty()) {
        Some(own) if controller.override_allowed => (own.to_string(), "its syncPolicy.applicationsSync"),
        _ if controller.policy.is_empty() => ("sync".to_string(), "the default"),
        _ => (controller.policy.clone(), "the ApplicationSet controller's policy (argocd-cmd-params-cm)"),
    }
}

/// Whether a policy deletes the Applications a generator no longer produces
/// (`pkg/apis/application/v1alpha1/applicationset_types.go` `AllowDelete`: `sync` and
/// `create-delete` only).
pub fn policy_deletes(policy: &str) -> bool {
    matches!(policy, "sync" | "create-delete")
}

/// The ApplicationSet an Application was generated by: its controller owner reference
/// (the ApplicationSet controller sets one, `controllerutil.SetControllerReference`).
pub fn owner_application_set(app: &Json) -> Option<&str> {
    app["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| {
            r["kind"] == "ApplicationSet" && r["apiVersion"].as_str().is_some_and(|v| v.starts_with("argoproj.io/"))
        })
        .and_then(|r| r["name"].as_str())
}

/// Whether taking the cluster out of its generators (its Secret relabelled to `labels`, still
/// registered) makes Argo CD delete `app` *with* its resources: its ApplicationSet no longer
/// selects the cluster and deletes the Applications it drops. `Err` says why the Application
/// would stay. Order matters upstream: once the cluster Secret is gone, the ApplicationSet
/// controller strips `resources-finalizer.argocd.argoproj.io` before deleting
/// (`applicationset/controllers/applicationset_controller.go` `removeFinalizerOnInvalidDestination`)
/// and the application controller deletes nothing on an undefined cluster
/// (`controller/appcontroller.go` `finalizeApplicationDeletion`): the workload is orphaned.
pub fn leaves_with_the_cluster(
    app: &Json,
    appsets: &BTreeMap<String, Json>,
    controller: &ControllerPolicy,
    labels: &BTreeMap<String, String>,
) -> Result<(), String> {
    let name = app["metadata"]["name"].as_str().unwrap_or_default();
    if !app["metadata"]["deletionTimestamp"].is_null() {
        return Ok(()); // already on its way
    }
    let Some(owner) = owner_application_set(app) else {
        return Err(format!("{name} was not generated by an ApplicationSet, so nothing will delete it"));
    };
    let Some(appset) = appsets.get(owner) else {
        return Err(format!("{name} belongs to ApplicationSet {owner}, which is gone, so nothing will delete it"));
    };
    let (policy, from) = effective_policy(appset, controller);
    if !policy_deletes(&policy) {
        return Err(format!(
            "ApplicationSet {owner} keeps the Applications it no longer generates (policy {policy}, from {from}), so {name} stays"
        ));
    }
    let selectors = cluster_selectors(appset);
    if selectors.is_empty() {
        return Err(format!(
            "ApplicationSet {owner} has no cluster generator, so relabelling the cluster does not remove {name}"
        ));
    }
    if let Some(s) = selectors.iter().find(|s| selector_matches(s, labels)) {
        return Err(format!(
            "ApplicationSet {owner} still selects the cluster without this resource's labels (selector {s}), so {name} stays"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::kubernetes::names as rules;
    use k8s_openapi::ByteString;

    fn secret(data: &[(&str, &str)], labels: &[(&str, &str)]) -> Secret {
        let mut s = Secret {
            data: Some(data.iter().map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec()))).collect()),
            ..Default::default()
        };
        s.metadata.labels = Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        s
    }

    #[test]
    fn a_secret_reads_as_argo_cd_reads_it() {
        let config = r#"{"awsAuthConfig":{"clusterName":"shard-2","roleArn":"arn:aws:iam::1:role/r"},
                         "tlsClientConfig":{"insecure":false,"caData":"Zm9v"}}"#;
        let s = secret(
            &[
                ("name", "shard-2"),
                ("server", "https://x.eks.amazonaws.com/"),
                ("config", config),
                ("namespaces", " a, ,b "),
                ("clusterResources", "True"),
                ("shard", "x"),
            ],
            &[(SECRET_TYPE_LABEL, "cluster"), ("env", "prod")],
        );
        let live = LiveCluster::from_secret(&s);
        assert!(live.is_cluster);
        assert_eq!(live.server, "https://x.eks.amazonaws.com");
        assert_eq!(live.namespaces, vec!["a", "b"]);
        assert!(!live.cluster_resources, "only \"true\" is true");
        assert_eq!(live.shard, Some(Err("x".into())));
        let config = live.config.clone().unwrap();
        let aws = config.aws_auth.clone().unwrap();
        assert_eq!(aws.role_arn, "arn:aws:iam::1:role/r", "keys match case-insensitively as in Go");
        assert_eq!(config.ca_pem().as_deref(), Some("foo"));
        assert!(config.unmanaged().is_empty());
        assert_eq!(live.user_labels().len(), 1);
    }

    #[test]
    fn the_apply_body_has_the_owned_fields_only() {
        let c = ClusterSecret {
            namespace: "argocd".into(),
            secret_name: "cluster-shard-2".into(),
            name: "shard-2".into(),
            server: "https://h/".into(),
            config: ClusterConfig {
                aws_auth: Some(AwsAuthConfig { cluster_name: "shard-2".into(), ..Default::default() }),
                ..Default::default()
            },
            labels: [("env".to_string(), "prod".to_string())].into(),
            ..Default::default()
        };
        let body = c.apply_body();
        let data = body["data"].as_object().unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), vec!["config", "name", "server"]);
        let decode = |k: &str| {
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(data[k].as_str().unwrap()).unwrap())
                .unwrap()
        };
        assert_eq!(decode("server"), "https://h");
        assert_eq!(
            serde_json::from_str::<Json>(&decode("config")).unwrap(),
            json!({"tlsClientConfig": {"insecure": false}, "awsAuthConfig": {"clusterName": "shard-2"}})
        );
        assert_eq!(body["metadata"]["labels"][SECRET_TYPE_LABEL], "cluster");
        assert!(body["metadata"].get("annotations").is_none());
        assert_eq!(c.absent_data_keys(), vec!["namespaces", "clusterResources", "project", "shard"]);
    }

    #[test]
    fn secret_names_are_stable_and_valid() {
        assert_eq!(secret_name_for("shard-2"), "cluster-shard-2");
        let odd = secret_name_for("Shard_2");
        assert!(odd.starts_with("cluster-shard-2-") && rules::dns_subdomain(&odd).is_ok(), "{odd}");
        assert_ne!(secret_name_for("shard_2"), secret_name_for("shard.2"));
        assert!(rules::dns_subdomain(&secret_name_for("___")).is_ok());
        assert!(rules::dns_subdomain(&secret_name_for(&"a".repeat(300))).is_ok());
    }

    #[test]
    fn applications_are_matched_and_judged() {
        let app = json!({"metadata": {"name": "web"}, "spec": {"destination": {"server": "https://h/"}},
                         "status": {"sync": {"status": "Synced"}, "health": {"status": "Progressing", "message": "2/3 ready"}}});
        assert!(targets(&app, "https://h", "other"));
        assert!(!targets(&app, "https://g", "other"));
        let by_name = json!({"spec": {"destination": {"name": "shard-2"}}});
        assert!(targets(&by_name, "https://h", "shard-2"));
        let s = app_status(&app);
        assert_eq!(s.describe(), "web: sync Synced, health Progressing (2/3 ready)");
        let one = SyncWanted { min: 1, ..Default::default() };
        let waiting = |r: Result<(), Pending>| match r {
            Err(Pending::Waiting(w)) => w,
            other => panic!("{other:?}"),
        };
        let err = waiting(sync_verdict(std::slice::from_ref(&s), &one, "shard-2"));
        assert!(err.contains("web: sync Synced, health Progressing"), "{err}");
        assert!(waiting(sync_verdict(&[], &one, "shard-2")).contains("0 Applications target shard-2"));
        assert!(sync_verdict(&[], &SyncWanted::default(), "shard-2").is_ok());
        let stuck = json!({"metadata": {"name": "web", "deletionTimestamp": "2026-01-01T00:00:00Z",
                                        "finalizers": ["resources-finalizer.argocd.argoproj.io"]}});
        let Err(Pending::Waiting(err)) = removal_verdict(&[app_status(&stuck)]) else { panic!() };
        assert!(err.contains("resources-finalizer.argocd.argoproj.io"), "{err}");
    }

    #[test]
    fn debug_never_shows_credentials() {
        let c = ClusterConfig { bearer_token: "s3cret".into(), password: "pw".into(), ..Default::default() };
        let text = format!("{c:?}");
        assert!(!text.contains("s3cret") && !text.contains("pw\""), "{text}");
        assert_ne!(token_hash("a"), token_hash("b"));
        assert!(!token_hash("s3cret").contains("s3cret"));
    }

    #[test]
    fn selectors_read_as_apimachinery_reads_them() {
        let labels: BTreeMap<String, String> = [("fleet".to_string(), "shards".to_string())].into();
        assert!(selector_matches(&Json::Null, &labels), "no selector selects every cluster");
        assert!(selector_matches(&json!({"matchLabels": {"fleet": "shards"}}), &labels));
        assert!(!selector_matches(&json!({"matchLabels": {"fleet": "shards"}}), &BTreeMap::new()));
        let expr =
            |op: &str, values: Json| json!({"matchExpressions": [{"key": "fleet", "operator": op, "values": values}]});
        assert!(selector_matches(&expr("In", json!(["shards", "x"])), &labels));
        assert!(!selector_matches(&expr("NotIn", json!(["shards"])), &labels));
        assert!(selector_matches(&expr("NotIn", json!(["shards"])), &BTreeMap::new()));
        assert!(selector_matches(&expr("Exists", Json::Null), &labels));
        assert!(!selector_matches(&expr("DoesNotExist", Json::Null), &labels));
        assert!(!selector_matches(&expr("Bogus", Json::Null), &labels));
    }

    #[test]
    fn an_application_leaves_with_the_cluster_only_when_its_generator_drops_and_deletes_it() {
        let app = |owner: Option<&str>| {
            let refs =
                owner.map(|o| json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": o}]));
            json!({"metadata": {"name": "web-shard-2", "ownerReferences": refs}})
        };
        let appset = |sync: Option<&str>, generators: Json| json!({"spec": {"generators": generators, "syncPolicy": {"applicationsSync": sync}}});
        let by_fleet = json!([{"clusters": {"selector": {"matchLabels": {"fleet": "shards"}}}}]);
        let nested = json!([{"matrix": {"generators": [{"clusters": {"selector": {"matchLabels": {"fleet": "shards"}}}}, {"git": {}}]}}]);
        let sets: BTreeMap<String, Json> = [
            ("web".to_string(), appset(None, by_fleet.clone())),
            ("nested".to_string(), appset(Some("create-delete"), nested)),
            ("keep".to_string(), appset(Some("create-update"), by_fleet.clone())),
            ("all".to_string(), appset(None, json!([{"clusters": {}}]))),
            ("list".to_string(), appset(None, json!([{"list": {"elements": []}}]))),
        ]
        .into();
        let none = BTreeMap::new();
        let default = ControllerPolicy::from_cmd_params(&BTreeMap::new());
        let leaves = |a: &Json, labels: &BTreeMap<String, String>| leaves_with_the_cluster(a, &sets, &default, labels);
        assert_eq!(leaves(&app(Some("web")), &none), Ok(()));
        assert_eq!(leaves(&app(Some("nested")), &none), Ok(()));
        let still = [("fleet".to_string(), "shards".to_string())].into();
        assert!(leaves(&app(Some("web")), &still).unwrap_err().contains("still selects"));
        assert!(leaves(&app(Some("keep")), &none).unwrap_err().contains("create-update"));
        assert!(leaves(&app(Some("all")), &none).unwrap_err().contains("still selects"));
        assert!(leaves(&app(Some("list")), &none).unwrap_err().contains("no cluster generator"));
        assert!(leaves(&app(None), &none).unwrap_err().contains("not generated by an ApplicationSet"));
        assert!(leaves(&app(Some("gone")), &none).unwrap_err().contains("which is gone"));
        // The controller's own policy: set, it wins over the ApplicationSet's unless overrides
        // are enabled explicitly.
        let params = |pairs: &[(&str, &str)]| {
            ControllerPolicy::from_cmd_params(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
        };
        let create_only = params(&[("applicationsetcontroller.policy", "create-only")]);
        assert!(!create_only.override_allowed);
        let err = leaves_with_the_cluster(&app(Some("web")), &sets, &create_only, &none).unwrap_err();
        assert!(err.contains("policy create-only, from the ApplicationSet controller's policy"), "{err}");
        let overridable = params(&[
            ("applicationsetcontroller.policy", "create-only"),
            ("applicationsetcontroller.enable.policy.override", "true"),
        ]);
        assert_eq!(leaves_with_the_cluster(&app(Some("nested")), &sets, &overridable, &none), Ok(()));
        assert!(leaves_with_the_cluster(&app(Some("web")), &sets, &overridable, &none).is_err());
        // Overrides off while the controller says nothing: the ApplicationSet's own word is ignored.
        let no_override = params(&[("applicationsetcontroller.enable.policy.override", "false")]);
        assert_eq!(leaves_with_the_cluster(&app(Some("keep")), &sets, &no_override, &none), Ok(()));
    }

    #[test]
    fn a_wait_judges_as_argocd_app_wait_does() {
        let ready = json!({"metadata": {"name": "web"}, "spec": {"destination": {"server": "https://new"}},
            "status": {"sync": {"status": "Synced", "comparedTo": {"destination": {"server": "https://new"}}},
                       "health": {"status": "Healthy"}, "reconciledAt": "2026-12-01T10:00:05Z",
                       "operationState": {"phase": "Succeeded", "finishedAt": "2026-12-01T10:00:00Z"}}});
        let one = SyncWanted { min: 1, ..Default::default() };
        assert_eq!(sync_verdict(&[app_status(&ready)], &one, "c"), Ok(()));
        // A sync under way, or finished after the last reconcile: not the result yet.
        let mut running = ready.clone();
        running["operation"] = json!({"sync": {}});
        assert!(!app_status(&running).ready(Accept::default()));
        let mut unreconciled = ready.clone();
        unreconciled["status"]["reconciledAt"] = json!("2026-12-01T09:59:00Z");
        assert!(app_status(&unreconciled).describe().contains("not reconciled since"));
        let mut in_flight = ready.clone();
        in_flight["status"]["operationState"] = json!({"phase": "Running"});
        assert!(app_status(&in_flight).describe().contains("operation Running"));
        // The verdict of the old destination (server changed in place) does not count.
        let mut stale = ready.clone();
        stale["spec"]["destination"]["server"] = json!("https://recreated");
        assert!(!app_status(&stale).ready(Accept::default()));
        // A paused Rollout makes the Application Suspended: accepted only when asked.
        let mut suspended = ready.clone();
        suspended["status"]["health"]["status"] = json!("Suspended");
        assert!(!app_status(&suspended).ready(Accept::default()));
        assert!(app_status(&suspended).ready(Accept { suspended: true }));
        // An error condition fails at once, with Argo CD's message.
        let mut broken = ready.clone();
        broken["status"]["sync"]["status"] = json!("Unknown");
        broken["status"]["conditions"] = json!([{"type": "SharedResourceWarning", "message": "w"},
            {"type": "ComparisonError", "message": "failed to get cluster info: the server has asked for the client to provide credentials"}]);
        match sync_verdict(&[app_status(&broken)], &one, "c") {
            Err(Pending::Failed(m)) => assert!(m.contains("web: ComparisonError: failed to get cluster info"), "{m}"),
            other => panic!("{other:?}"),
        }
        // An ApplicationSet named: one of its Applications must be there.
        let sets = vec!["api".to_string()];
        let wanted = SyncWanted { min: 1, application_sets: &sets, ..Default::default() };
        match sync_verdict(&[app_status(&ready)], &wanted, "c") {
            Err(Pending::Waiting(w)) => assert!(w.contains("no Application from ApplicationSet api"), "{w}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_verdict_is_judged_against_the_server_written() {
        let app = |dest: Json, reconciled: &str| {
            json!({"spec": {"destination": dest.clone()},
                   "status": {"sync": {"status": "Synced", "comparedTo": {"destination": dest}}, "reconciledAt": reconciled}})
        };
        let reg = |at: Option<&str>| Registered {
            server: "https://new".into(),
            name: "shard-2".into(),
            server_written_at: at.map(str::to_string),
        };
        let by_name = app(json!({"name": "shard-2"}), "2026-12-01T10:00:00Z");
        assert!(!stale_for(&by_name, &reg(None)), "the server did not change in this apply");
        assert!(stale_for(&by_name, &reg(Some("2026-12-01T10:00:01Z"))), "compared before the new server was written");
        assert!(!stale_for(&by_name, &reg(Some("2026-12-01T10:00:00Z"))), "the same second counts as current");
        assert!(!stale_for(
            &app(json!({"name": "shard-2"}), "2026-12-01T10:00:01.5Z"),
            &reg(Some("2026-12-01T10:00:01Z"))
        ));
        assert!(stale_for(&app(json!({"name": "shard-2"}), ""), &reg(Some("2026-12-01T10:00:01Z"))));
        assert!(stale_for(&app(json!({"name": "old-name"}), "2026-12-01T11:00:00Z"), &reg(None)));
        assert!(stale_for(&app(json!({"server": "https://old/"}), "2026-12-01T11:00:00Z"), &reg(None)));
        assert!(!stale_for(&app(json!({"server": "https://new/"}), "2026-12-01T11:00:00Z"), &reg(None)));
        assert!(!stale_for(&json!({"status": {}}), &reg(Some("2026-12-01T10:00:01Z"))), "never compared");
    }

    #[test]
    fn label_selectors_parse_as_apimachinery_parses_them() {
        let labels: BTreeMap<String, String> =
            [("tier".to_string(), "web".to_string()), ("rank".to_string(), "3".to_string())].into();
        let ok = |t: &str| requirements_match(&parse_label_selector(t).unwrap(), &labels);
        assert!(ok("tier=web") && ok("tier==web") && ok("tier!=api") && ok("tier in (web, api)"));
        assert!(ok("tier notin (api),rank") && ok("!absent") && ok("rank>2") && ok("rank<4"));
        assert!(ok("app.kubernetes.io/part-of!=x, tier in(web)"));
        assert!(!ok("tier=api") && !ok("tier notin (web)") && !ok("absent") && !ok("!tier") && !ok("rank>3"));
        let err = |t: &str| parse_label_selector(t).unwrap_err();
        assert!(err("tier in (web").contains("unbalanced"));
        assert!(err("tier in ()").contains("cannot be empty"));
        assert!(err("").contains("empty requirement"));
        assert!(err("a,,b").contains("empty requirement"));
        assert!(err("-bad=x").contains("key"));
        assert!(err("tier=has space").contains("value"));
        assert!(err("rank>x").contains("integer"));
    }

    #[test]
    fn settings_left_to_others_survive_a_write() {
        let live = ClusterConfig::parse(
            br#"{"proxyUrl":"http://proxy:3128","disableCompression":true,"newKey":1,
                 "tlsClientConfig":{"insecure":false,"serverName":"api.internal"},"username":"admin"}"#,
        )
        .unwrap();
        assert_eq!(live.unmanaged(), vec!["username"], "only other credentials are foreign");
        let mut ours = ClusterConfig {
            aws_auth: Some(AwsAuthConfig { cluster_name: "shard-2".into(), ..Default::default() }),
            ..Default::default()
        };
        ours.keep_foreign_settings(&live);
        let written: Json = serde_json::from_slice(&ours.to_bytes()).unwrap();
        assert_eq!(written["proxyUrl"], "http://proxy:3128");
        assert_eq!(written["disableCompression"], true);
        assert_eq!(written["newKey"], 1);
        assert_eq!(written["tlsClientConfig"]["serverName"], "api.internal");
        assert!(written.get("username").is_none(), "another credential is replaced");
    }
}
