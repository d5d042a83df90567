//! Kubernetes connections owned by the provider: the connection block (the provider's `hub`,
//! and a resource's `cluster`), its validation, and a client per connection built on first use
//! and cached for the life of the provider process.
//!
//! Sources, exactly one per block:
//! - `config_path` (+ `config_context`): a kubeconfig file, with whatever auth it names;
//! - `host` + `cluster_ca_certificate` + `token` (provider level only) or `exec { ... }`;
//! - `eks_cluster_name`: endpoint and CA from `eks:DescribeCluster`, authenticating with an STS
//!   token signed in-process ([`super::eks_token`]), refreshed before it expires.
//!
//! Resources get a `cluster` block without `token`: Terraform sends no configuration to Read and
//! Delete, so a resource must be able to rebuild its client from state alone, and a token must
//! never be in state. Only the provider's configuration, which Terraform never stores, may hold one.

use super::aws::{AwsClients, cause_chain as chain};
use super::eks_token::{self, LiveToken};
use crate::framework::schema::{Attribute, Block, NestedBlock, Nesting};
use crate::framework::{Attr, AttrPath, Diagnostics};
use crate::protocol::value::Type;
use base64::Engine;
use kube::config::{AuthInfo, ExecConfig, KubeConfigOptions, Kubeconfig};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

/// The Kubernetes API version of the client types (k8s-openapi's feature); the servers we talk
/// to may be older: everything used here is stable since long before.
pub const DEFAULT_EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1beta1";

/// Where a connection block is used: the provider's may hold a token, a resource's may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Provider,
    Resource,
}

pub fn connection_block(name: &str, description: &str, kind: BlockKind) -> NestedBlock {
    let mut attributes = vec![
        Attribute::string("host").optional().description("API server URL, e.g. `https://10.0.0.1:6443`."),
        Attribute::string("cluster_ca_certificate")
            .optional()
            .description("PEM CA bundle that signed the API server's certificate (base64 of PEM, as EKS outputs give it, is accepted too), with `host`. Default: public CA roots."),
        Attribute::bool("insecure").optional().description("Skip TLS verification of the API server (tests only). Default: `false`."),
        Attribute::string("config_path").optional().description("Path to a kubeconfig file to use instead of `host`; the kubeconfig's own credentials (token, client certificate, exec plugin) are used."),
        Attribute::string("config_context").optional().description("Context in `config_path`. Default: the kubeconfig's current context."),
        Attribute::string("eks_cluster_name")
            .optional()
            .description("EKS cluster whose endpoint and CA to use (`eks:DescribeCluster`), authenticating with a token the provider signs itself with its AWS credentials (STS `GetCallerIdentity`, as `aws eks get-token` does; no aws CLI needed), re-signed every 5 minutes. The identity must be mapped in the cluster (access entry or `aws-auth`)."),
    ];
    if kind == BlockKind::Provider {
        attributes.insert(
            1,
            Attribute::string("token")
                .optional()
                .sensitive()
                .description("Bearer token for the API server, with `host`. Only the provider block accepts a token: provider configuration is never written to state or plan, and the token is never logged."),
        );
        attributes.push(
            Attribute::string("argocd_namespace")
                .optional()
                .validate(|v| match v.as_str() {
                    Some(s) => super::argocd::rules::dns_label(s),
                    None => Err("must be a namespace name".into()),
                })
                .description("Namespace Argo CD runs in on this cluster, where its cluster Secrets and Applications live; the default `namespace` of `shard_argocd_cluster_registration`. Default: `argocd`."),
        );
    }
    let exec = NestedBlock::single(
        "exec",
        "Run a credential plugin (client.authentication.k8s.io ExecCredential) for a token, with `host`.",
        vec![
            Attribute::string("api_version")
                .optional()
                .description(&format!("ExecCredential API version. Default: `{DEFAULT_EXEC_API_VERSION}`.")),
            Attribute::string("command")
                .required()
                .description("The plugin to run, e.g. `aws-iam-authenticator` or `argocd-k8s-auth`."),
            Attribute::new("args", Type::list(Type::String)).optional().description("Arguments to the plugin."),
            Attribute::new("env", Type::map(Type::String))
                .optional()
                .description("Extra environment variables for the plugin."),
        ],
    );
    let block = Block { attributes, blocks: vec![exec], description: description.to_string(), ..Block::default() };
    NestedBlock::new(name, Nesting::Single, block)
}

/// The decoded block. Values may be unknown during planning (a cluster created in the same run).
/// A resource keeps its `cluster` block in its model as this type; the token is never serialized
/// (resource blocks have none, and provider configuration is never stored).
#[derive(Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Connection {
    #[serde(default)]
    pub host: Attr<String>,
    #[serde(default, skip_serializing)]
    pub token: Attr<String>,
    #[serde(default)]
    pub cluster_ca_certificate: Attr<String>,
    #[serde(default)]
    pub insecure: Attr<bool>,
    #[serde(default)]
    pub config_path: Attr<String>,
    #[serde(default)]
    pub config_context: Attr<String>,
    #[serde(default)]
    pub eks_cluster_name: Attr<String>,
    #[serde(default)]
    pub exec: Option<ExecBlock>,
    /// Provider level only: the namespace Argo CD runs in on the hub.
    #[serde(default, skip_serializing)]
    pub argocd_namespace: Attr<String>,
}

#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Debug, Hash)]
pub struct ExecBlock {
    #[serde(default)]
    pub api_version: Option<String>,
    pub command: String,
    #[serde(default)]
    pub args: Option<Vec<String>>,
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
}

/// Debug output never shows the token.
impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("host", &self.host)
            .field("token", &if self.token.is_null() { "null" } else { "[REDACTED]" })
            .field("config_path", &self.config_path)
            .field("config_context", &self.config_context)
            .field("eks_cluster_name", &self.eks_cluster_name)
            .field("exec", &self.exec.as_ref().map(|e| &e.command))
            .finish_non_exhaustive()
    }
}

/// A resolved connection: every value known, exactly one source.
#[derive(Clone, PartialEq)]
pub enum Source {
    Kubeconfig { path: String, context: Option<String> },
    Direct { host: String, ca_pem: Option<String>, insecure: bool, auth: DirectAuth },
    Eks { cluster: String },
}

#[derive(Clone, PartialEq)]
pub enum DirectAuth {
    Token(String),
    Exec(ExecBlock),
    /// Anonymous (rarely useful; the API server decides).
    None,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Source {
    /// What the user would recognise, for messages (never a secret).
    pub fn describe(&self) -> String {
        match self {
            Source::Kubeconfig { path, context: Some(c) } => format!("kubeconfig {path} (context {c})"),
            Source::Kubeconfig { path, context: None } => format!("kubeconfig {path}"),
            Source::Direct { host, .. } => host.clone(),
            Source::Eks { cluster } => format!("EKS cluster {cluster}"),
        }
    }

    /// Identifies the connection in the client cache (a token only as a hash, in memory).
    fn cache_key(&self) -> String {
        match self {
            Source::Kubeconfig { path, context } => format!("kubeconfig:{path}:{context:?}"),
            Source::Eks { cluster } => format!("eks:{cluster}"),
            Source::Direct { host, ca_pem, insecure, auth } => {
                let mut h = DefaultHasher::new();
                ca_pem.hash(&mut h);
                match auth {
                    DirectAuth::Token(t) => ("token", t).hash(&mut h),
                    DirectAuth::Exec(e) => ("exec", e).hash(&mut h),
                    DirectAuth::None => "none".hash(&mut h),
                }
                format!("direct:{host}:{insecure}:{:x}", h.finish())
            }
        }
    }
}

impl Connection {
    /// Checks the combination of settings, reporting under `path` (e.g. `hub`).
    pub fn validate(&self, path: &AttrPath) -> Diagnostics {
        let mut d = Diagnostics::new();
        let set = |a: &Attr<String>| !a.is_null();
        let sources = [set(&self.host), set(&self.config_path), set(&self.eks_cluster_name)];
        if sources.iter().filter(|s| **s).count() > 1 {
            d.push_attr_error(
                path.clone(),
                "Conflicting Kubernetes connection settings",
                "set exactly one of host, config_path or eks_cluster_name",
            );
        }
        if set(&self.config_context) && !set(&self.config_path) {
            d.push_attr_error(path.then("config_context"), "config_context needs config_path", "");
        }
        if !set(&self.host) {
            for (name, given) in [
                ("token", set(&self.token)),
                ("cluster_ca_certificate", set(&self.cluster_ca_certificate)),
                ("exec", self.exec.is_some()),
            ] {
                if given {
                    d.push_attr_error(
                        path.then(name),
                        format!("{name} needs host"),
                        format!("{name} applies to a connection given by host; config_path and eks_cluster_name bring their own"),
                    );
                }
            }
        }
        if set(&self.token) && self.exec.is_some() {
            d.push_attr_error(path.then("exec"), "Conflicting credentials", "set either token or exec, not both");
        }
        if let Attr::Known(host) = &self.host
            && !(host.starts_with("https://") || host.starts_with("http://"))
        {
            d.push_attr_error(
                path.then("host"),
                "Invalid host",
                format!("{host:?} must be a URL such as https://host:6443"),
            );
        }
        if let Attr::Known(ca) = &self.cluster_ca_certificate
            && let Err(e) = normalise_ca(ca)
        {
            d.push_attr_error(path.then("cluster_ca_certificate"), "Invalid CA certificate", e);
        }
        d
    }

    /// Whether the block sets anything at all.
    pub fn is_empty(&self) -> bool {
        self.host.is_null() && self.config_path.is_null() && self.eks_cluster_name.is_null()
    }

    /// The source this block names, once every value it uses is known.
    pub fn resolve(&self) -> Result<Source, KubeError> {
        let unknown = |name: &str| KubeError::NotKnown { what: name.to_string() };
        let known = |a: &Attr<String>, name: &str| match a {
            Attr::Known(v) => Ok(Some(v.clone())),
            Attr::Null => Ok(None),
            Attr::Unknown => Err(unknown(name)),
        };
        if let Some(path) = known(&self.config_path, "config_path")? {
            return Ok(Source::Kubeconfig { path, context: known(&self.config_context, "config_context")? });
        }
        if let Some(cluster) = known(&self.eks_cluster_name, "eks_cluster_name")? {
            return Ok(Source::Eks { cluster });
        }
        let Some(host) = known(&self.host, "host")? else {
            return Err(KubeError::NoSource);
        };
        let ca_pem = match known(&self.cluster_ca_certificate, "cluster_ca_certificate")? {
            Some(ca) => Some(normalise_ca(&ca).map_err(|message| KubeError::Config { origin: host.clone(), message })?),
            None => None,
        };
        let insecure = match self.insecure {
            Attr::Unknown => return Err(unknown("insecure")),
            Attr::Known(b) => b,
            Attr::Null => false,
        };
        let auth = match (known(&self.token, "token")?, &self.exec) {
            (Some(t), _) => DirectAuth::Token(t),
            (None, Some(e)) => DirectAuth::Exec(e.clone()),
            (None, None) => DirectAuth::None,
        };
        Ok(Source::Direct { host, ca_pem, insecure, auth })
    }
}

/// PEM as given, or PEM from base64-of-PEM (what EKS and many outputs hand out).
pub fn normalise_ca(text: &str) -> Result<String, String> {
    let text = text.trim();
    let pem = if text.contains("-----BEGIN CERTIFICATE-----") {
        text.to_string()
    } else {
        let compact: String = text.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| "expected PEM text starting with -----BEGIN CERTIFICATE-----, or base64 of it".to_string())?;
        let decoded = String::from_utf8(bytes).map_err(|_| "base64 that does not decode to PEM text".to_string())?;
        if !decoded.contains("-----BEGIN CERTIFICATE-----") {
            return Err("base64 that does not decode to a PEM certificate".into());
        }
        decoded
    };
    if certificates(&pem).is_empty() {
        return Err("no readable certificate in the PEM text".into());
    }
    Ok(pem)
}

fn certificates(pem: &str) -> Vec<Vec<u8>> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .map(|c| c.to_vec())
        .filter(|der| is_der_sequence(der))
        .collect()
}

/// A certificate is one DER SEQUENCE spanning all its bytes; PEM armour around junk is not.
fn is_der_sequence(der: &[u8]) -> bool {
    let (Some(&0x30), Some(&first)) = (der.first(), der.get(1)) else { return false };
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || der.len() < 2 + n {
            return false;
        }
        (der[2..2 + n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), 2 + n)
    };
    header + len == der.len()
}

/// What the caller was doing when a Kubernetes call failed, for the message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Call {
    pub verb: &'static str,
    pub resource: String,
    pub namespace: Option<String>,
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(ns) = &self.namespace {
            write!(f, " in namespace {ns}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeError {
    #[error("{what} is not known yet; the Kubernetes connection can be used once it is")]
    NotKnown { what: String },
    #[error("no Kubernetes connection: set host, config_path or eks_cluster_name")]
    NoSource,
    #[error("{origin}: {message}")]
    Config { origin: String, message: String },
    #[error("EKS cluster {cluster}: {message}")]
    Eks { cluster: String, message: String },
    #[error("could not reach {host}: {cause}")]
    Unreachable { host: String, cause: String },
    #[error("TLS with {host} failed: {cause} (check cluster_ca_certificate)")]
    Tls { host: String, cause: String },
    #[error("{host} refused the credentials (401 Unauthorized) to {call}: {message}")]
    Unauthorized { host: String, call: String, message: String },
    #[error("{host} forbids this identity to {call} (403 Forbidden): {message}")]
    Forbidden { host: String, call: String, message: String },
    #[error("{host} answered {code} {reason} to {call}: {message}")]
    Api { host: String, call: String, code: u16, reason: String, message: String },
    #[error("{call} on {host} failed: {cause}")]
    Other { host: String, call: String, cause: String },
}

impl KubeError {
    /// The HTTP status the API server answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            KubeError::Unauthorized { .. } => Some(401),
            KubeError::Forbidden { .. } => Some(403),
            KubeError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Classifies a kube-rs error from `call` against `host`.
    pub fn from_kube(host: &str, call: &Call, err: &kube::Error) -> KubeError {
        let host = host.to_string();
        let call_text = call.to_string();
        if let kube::Error::Api(status) = err {
            let message = status.message.clone();
            return match status.code {
                401 => KubeError::Unauthorized { host, call: call_text, message },
                403 => KubeError::Forbidden { host, call: call_text, message },
                code => KubeError::Api { host, call: call_text, code, reason: status.reason.clone(), message },
            };
        }
        let chain = chain(err);
        let lower = chain.to_lowercase();
        if lower.contains("dns error") || lower.contains("failed to lookup address") {
            KubeError::Unreachable { host, cause: format!("DNS lookup failed ({chain})") }
        } else if lower.contains("connection refused") || lower.contains("timed out") || lower.contains("unreachable") {
            KubeError::Unreachable { host, cause: chain }
        } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
            KubeError::Tls { host, cause: chain }
        } else {
            KubeError::Other { host, call: call_text, cause: chain }
        }
    }
}

impl From<KubeError> for Diagnostics {
    fn from(e: KubeError) -> Diagnostics {
        let summary = match &e {
            KubeError::NotKnown { .. } => "Kubernetes connection not known yet",
            KubeError::NoSource | KubeError::Config { .. } => "Invalid Kubernetes connection",
            KubeError::Eks { .. } => "Cannot connect to the EKS cluster",
            KubeError::Unreachable { .. } => "Kubernetes API server unreachable",
            KubeError::Tls { .. } => "Kubernetes API server TLS failure",
            KubeError::Unauthorized { .. } => "Kubernetes credentials refused",
            KubeError::Forbidden { .. } => "Kubernetes permission denied",
            KubeError::Api { .. } | KubeError::Other { .. } => "Kubernetes request failed",
        };
        Diagnostics::error(summary, e.to_string())
    }
}

/// A built client and the host it talks to (for messages).
#[derive(Clone)]
pub struct KubeClient {
    pub client: kube::Client,
    pub host: String,
}

impl KubeClient {
    /// Maps a failed call to a [`KubeError`] naming this host.
    pub fn error(&self, call: Call, err: &kube::Error) -> KubeError {
        KubeError::from_kube(&self.host, &call, err)
    }
}

/// Kubernetes clients of this provider process: one per connection, built at first use.
#[derive(Default)]
pub struct KubeClients {
    cells: Mutex<HashMap<String, Arc<OnceCell<KubeClient>>>>,
    built: std::sync::atomic::AtomicUsize,
}

impl KubeClients {
    /// The client for `source`, building it on first use.
    pub async fn client(&self, aws: &AwsClients, source: &Source) -> Result<KubeClient, KubeError> {
        let cell = {
            let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
            cells.entry(source.cache_key()).or_default().clone()
        };
        cell.get_or_try_init(|| async {
            let built = build(aws, source).await?;
            self.built.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(connection = %source.describe(), "kubernetes client built");
            Ok(built)
        })
        .await
        .cloned()
    }

    /// How many clients this process has built (each connection at most once).
    pub fn built(&self) -> usize {
        self.built.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn base_config(host: &str, ca_pem: Option<&str>, insecure: bool) -> Result<kube::Config, KubeError> {
    let uri: http::Uri = host
        .parse()
        .map_err(|e| KubeError::Config { origin: host.to_string(), message: format!("invalid URL: {e}") })?;
    let mut config = kube::Config::new(uri);
    config.connect_timeout = Some(Duration::from_secs(10));
    config.accept_invalid_certs = insecure;
    if let Some(pem) = ca_pem {
        config.root_cert = Some(certificates(pem));
    }
    config.default_retry = false; // see `retrying`
    Ok(config)
}

/// Attempts of one API call on transient failures (429, 500, 502, 503, 504, connection-level errors,
/// and a 409 when the caller says it is worth retrying), with backoff from 250 ms: about 4 s in
/// all, within the caller's deadline.
pub const ATTEMPTS: u32 = 5;

/// Runs one API call, retrying transient failures with backoff within the deadline. The API
/// server answers overload (API Priority and Fairness, max-in-flight) with 429 and a restarting
/// server or unavailable etcd with 5xx
/// (<https://kubernetes.io/docs/reference/using-api/api-concepts/#response-status-kind>,
/// <https://kubernetes.io/docs/concepts/cluster-administration/flow-control/>). This is the only
/// retry: clients are built without kube's default retry layer (15 retries with backoff up to
/// 1000 s, meant for controllers), which would multiply with this one and outlast a deadline.
///
/// The caller bounds the whole loop by its deadline (`ctx.bounded(retrying(..))`), which also
/// ends it on Stop.
pub async fn retrying<T, F, Fut>(
    client: &KubeClient,
    retry_conflict: impl Fn(&kube::core::Status) -> bool,
    mut call: F,
) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let transient = |err: &kube::Error| match err {
        kube::Error::Api(status) => match status.code {
            409 => retry_conflict(status),
            429 | 500 | 502 | 503 | 504 => true,
            _ => false,
        },
        // Connection-level failures only: an exec plugin that fails, a response that does not
        // parse or a request that cannot be built fails the same way again.
        kube::Error::HyperError(_) | kube::Error::Service(_) => {
            matches!(client.error(Call::default(), err), KubeError::Unreachable { .. } | KubeError::Other { .. })
        }
        _ => false,
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().await {
            Err(e) if attempt < ATTEMPTS && transient(&e) => {
                tracing::debug!(attempt, error = %e, "transient Kubernetes failure, retrying");
                tokio::time::sleep(Duration::from_millis(250 << (attempt - 1))).await;
            }
            other => return other,
        }
    }
}

async fn build(aws: &AwsClients, source: &Source) -> Result<KubeClient, KubeError> {
    let config_error = |message: String| KubeError::Config { origin: source.describe(), message };
    match source {
        Source::Kubeconfig { path, context } => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| config_error(chain(&e)))?;
            let options = KubeConfigOptions { context: context.clone(), ..Default::default() };
            let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| config_error(chain(&e)))?;
            config.default_retry = false; // see `retrying`
            let host = config.cluster_url.to_string().trim_end_matches('/').to_string();
            let builder = kube::client::ClientBuilder::try_from(config).map_err(|e| config_error(chain(&e)))?;
            Ok(KubeClient { client: builder.with_layer(&RequestLog).build(), host })
        }
        Source::Direct { host, ca_pem, insecure, auth } => {
            let mut config = base_config(host, ca_pem.as_deref(), *insecure)?;
            config.auth_info = match auth {
                DirectAuth::Token(t) => AuthInfo { token: Some(t.clone().into()), ..Default::default() },
                DirectAuth::Exec(e) => AuthInfo { exec: Some(exec_config(e)), ..Default::default() },
                DirectAuth::None => AuthInfo::default(),
            };
            let builder = kube::client::ClientBuilder::try_from(config).map_err(|e| config_error(chain(&e)))?;
            Ok(KubeClient { client: builder.with_layer(&RequestLog).build(), host: host.clone() })
        }
        Source::Eks { cluster } => {
            let eks_error = |message: String| KubeError::Eks { cluster: cluster.clone(), message };
            let (endpoint, ca_pem) = describe_eks(aws, cluster).await?;
            let signer = eks_token::signer_for(aws, cluster).await.map_err(eks_error)?;
            let token = LiveToken::start(signer).await.map_err(|e| eks_error(e.to_string()))?;
            let config = base_config(&endpoint, Some(&ca_pem), false)?;
            let builder = kube::client::ClientBuilder::try_from(config).map_err(|e| config_error(chain(&e)))?;
            let client = builder.with_layer(&BearerLayer(token)).with_layer(&RequestLog).build();
            Ok(KubeClient { client, host: endpoint })
        }
    }
}

fn exec_config(e: &ExecBlock) -> ExecConfig {
    ExecConfig {
        api_version: Some(e.api_version.clone().unwrap_or_else(|| DEFAULT_EXEC_API_VERSION.to_string())),
        command: Some(e.command.clone()),
        args: e.args.clone(),
        env: e.env.as_ref().map(|env| {
            env.iter()
                .map(|(k, v)| HashMap::from([("name".to_string(), k.clone()), ("value".to_string(), v.clone())]))
                .collect()
        }),
        drop_env: None,
        install_hint: None,
        interactive_mode: Some(kube::config::ExecInteractiveMode::Never),
        provide_cluster_info: false,
        cluster: None,
        other: Default::default(),
    }
}

/// The cluster's endpoint and CA (PEM) from eks:DescribeCluster.
/// <https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeCluster.html>: `endpoint`
/// and `certificateAuthority.data` (base64 of the PEM) are set once the cluster is ACTIVE.
pub async fn describe_eks(aws: &AwsClients, cluster: &str) -> Result<(String, String), KubeError> {
    let eks_error = |message: String| KubeError::Eks { cluster: cluster.to_string(), message };
    let client = aws.eks().await.map_err(|e| eks_error(e.to_string()))?;
    tracing::debug!(aws_call = "DescribeCluster", %cluster, "aws call");
    let out = client.describe_cluster().name(cluster).send().await.map_err(|e| {
        eks_error(format!("DescribeCluster failed: {}", aws_smithy_types::error::display::DisplayErrorContext(&e)))
    })?;
    let c = out.cluster().ok_or_else(|| eks_error("DescribeCluster returned no cluster".into()))?;
    let status = c.status().map(|s| s.as_str().to_string()).unwrap_or_default();
    let endpoint = c
        .endpoint()
        .filter(|e| !e.is_empty())
        .ok_or_else(|| eks_error(format!("has no API endpoint yet (status {status}); wait until it is ACTIVE")))?;
    let ca = c
        .certificate_authority()
        .and_then(|a| a.data())
        .ok_or_else(|| eks_error(format!("has no certificate authority yet (status {status})")))?;
    let pem = normalise_ca(ca).map_err(|e| eks_error(format!("certificateAuthority.data is not usable: {e}")))?;
    Ok((endpoint.to_string(), pem))
}

/// Logs every request a client sends at debug level, method and path only (never headers), so
/// the provider's log shows what a resource costs in API calls (`kube_request=...`).
#[derive(Clone, Copy)]
struct RequestLog;

type BodyRequest = http::Request<kube::client::Body>;

impl<S> tower::Layer<S> for RequestLog {
    type Service = tower::util::MapRequest<S, fn(BodyRequest) -> BodyRequest>;

    fn layer(&self, inner: S) -> Self::Service {
        tower::util::MapRequest::new(inner, log_request as fn(BodyRequest) -> BodyRequest)
    }
}

fn log_request(req: BodyRequest) -> BodyRequest {
    let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    tracing::debug!(kube_request = %format!("{} {target}", req.method()), "kubernetes request");
    req
}

/// Sets `Authorization: Bearer <current EKS token>` on every request.
#[derive(Clone)]
struct BearerLayer(Arc<LiveToken>);

impl<S> tower::Layer<S> for BearerLayer {
    type Service = tower::util::MapRequest<
        S,
        Box<dyn Fn(http::Request<kube::client::Body>) -> http::Request<kube::client::Body> + Send + Sync>,
    >;

    fn layer(&self, inner: S) -> Self::Service {
        let token = self.0.clone();
        tower::util::MapRequest::new(
            inner,
            Box::new(move |mut req: http::Request<kube::client::Body>| {
                if let Ok(mut value) = http::HeaderValue::from_str(&format!("Bearer {}", token.get())) {
                    value.set_sensitive(true);
                    req.headers_mut().insert(http::header::AUTHORIZATION, value);
                }
                req
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_settings_are_checked_together() {
        let hub = AttrPath::attr("hub");
        let ok = Connection { host: Attr::Known("https://10.0.0.1:6443".into()), ..Default::default() };
        assert!(ok.validate(&hub).is_empty());
        let unknown_host = Connection { host: Attr::Unknown, config_path: Attr::Null, ..Default::default() };
        assert!(unknown_host.validate(&hub).is_empty(), "unknown values are checked later");
        let both = Connection {
            host: Attr::Known("https://x".into()),
            config_path: Attr::Known("~/.kube/config".into()),
            ..Default::default()
        };
        assert!(both.validate(&hub).to_string().contains("exactly one of host, config_path or eks_cluster_name"));
        let bad = Connection {
            host: Attr::Known("10.0.0.1".into()),
            cluster_ca_certificate: Attr::Known("LS0tLS1CRUdJTi...".into()),
            config_context: Attr::Known("hub".into()),
            ..Default::default()
        };
        let text = bad.validate(&hub).to_string();
        assert!(
            text.contains("hub.host")
                && text.contains("hub.cluster_ca_certificate")
                && text.contains("hub.config_context"),
            "{text}"
        );
        let token_without_host = Connection {
            eks_cluster_name: Attr::Known("shard-2".into()),
            token: Attr::Known("t".into()),
            ..Default::default()
        };
        assert!(token_without_host.validate(&hub).to_string().contains("hub.token"), "token needs host");
    }

    #[test]
    fn debug_output_hides_the_token() {
        let c = Connection { token: Attr::Known("eyJhbGciOi-secret".into()), ..Default::default() };
        assert!(!format!("{c:?}").contains("secret"));
        let s = Source::Direct {
            host: "https://h".into(),
            ca_pem: None,
            insecure: false,
            auth: DirectAuth::Token("eyJhbGciOi-secret".into()),
        };
        assert!(!format!("{s:?}").contains("secret"));
    }

    #[test]
    fn resolving_needs_known_values_and_picks_the_one_source() {
        let unknown = Connection { eks_cluster_name: Attr::Unknown, ..Default::default() };
        assert_eq!(unknown.resolve(), Err(KubeError::NotKnown { what: "eks_cluster_name".into() }));
        assert_eq!(Connection::default().resolve(), Err(KubeError::NoSource));
        let eks = Connection { eks_cluster_name: Attr::Known("shard-2".into()), ..Default::default() };
        assert_eq!(eks.resolve(), Ok(Source::Eks { cluster: "shard-2".into() }));
        let exec = Connection {
            host: Attr::Known("https://h:6443".into()),
            exec: Some(ExecBlock { command: "argocd-k8s-auth".into(), ..Default::default() }),
            ..Default::default()
        };
        assert!(matches!(exec.resolve(), Ok(Source::Direct { auth: DirectAuth::Exec(_), .. })));
    }

    #[test]
    fn tokens_are_cached_by_hash_so_two_tokens_are_two_clients() {
        let direct = |t: &str| Source::Direct {
            host: "https://h".into(),
            ca_pem: None,
            insecure: false,
            auth: DirectAuth::Token(t.into()),
        };
        assert_ne!(direct("a").cache_key(), direct("b").cache_key());
        assert_eq!(direct("a").cache_key(), direct("a").cache_key());
        assert!(!direct("token-value").cache_key().contains("token-value"));
    }

    #[test]
    fn a_ca_may_be_pem_or_base64_of_pem_but_not_junk() {
        // A real self-signed certificate (rcgen) so the PEM parses.
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap().cert.pem();
        assert_eq!(normalise_ca(&cert).unwrap(), cert.trim());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&cert);
        assert_eq!(normalise_ca(&b64).unwrap(), cert);
        // moto's certificateAuthority.data is random text, not base64 of a PEM.
        assert!(normalise_ca("kxEeTUZ7QDCqA3zNdrsJAxUZfN9m").is_err());
        assert!(
            normalise_ca("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmdhcmJhZ2UKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=")
                .is_err()
        );
    }
}
