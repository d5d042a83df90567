//! The connection block (the provider's `hub`, and a resource's `cluster`), its validation, and
//! the source it resolves to.
//!
//! Sources, exactly one per block:
//! - `config_path` (+ `config_context`): a kubeconfig file, with whatever auth it names;
//! - `host` + `cluster_ca_certificate` + `token` (provider level only) or `exec { ... }`;
//! - `eks_cluster_name`: endpoint and CA from `eks:DescribeCluster`, authenticating with an STS
//!   token signed in-process ([`crate::clients::eks_token`]), refreshed before it expires.
//!
//! Resources get a `cluster` block without `token`: Terraform sends no configuration to Read and
//! Delete, so a resource must be able to rebuild its client from state alone, and a token must
//! never be in state. Only the provider's configuration, which Terraform never stores, may hold one.

use super::error::KubeError;
use crate::clients::pem::normalise_ca;
use crate::framework::schema::{Attribute, Block, NestedBlock, Nesting, validators};
use crate::framework::{Attr, AttrPath, Diagnostics};
use crate::protocol::value::Type;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

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
            .validate(validators::string(crate::clients::aws_rules::eks_cluster_name))
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
                .validate(validators::string(super::names::dns_label))
                .description("Namespace Argo CD runs in on this cluster, where its cluster Secrets and Applications live; the default `namespace` of `shard_argocd_cluster_registration`. Default: `argocd`."),
        );
    }
    let exec = NestedBlock::single(
        "exec",
        "Run a credential plugin (client.authentication.k8s.io ExecCredential) for a token, with `host`.",
        vec![
            Attribute::string("api_version")
                .optional()
                .validate(validators::one_of(super::names::EXEC_API_VERSIONS))
                .description(&format!("ExecCredential API version. Default: `{DEFAULT_EXEC_API_VERSION}`.")),
            Attribute::string("command")
                .required()
                .description("The plugin to run, e.g. `aws-iam-authenticator` or `argocd-k8s-auth`."),
            Attribute::new("args", Type::list(Type::String)).optional().description("Arguments to the plugin."),
            Attribute::new("env", Type::map(Type::String))
                .optional()
                .sensitive()
                .description("Extra environment variables for the plugin (sensitive: they often carry credentials)."),
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
    pub(super) fn cache_key(&self) -> String {
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
            && let Err(e) = validators::check_url(host)
        {
            d.push_attr_error(path.then("host"), "Invalid host", e);
        }
        if let Attr::Known(ca) = &self.cluster_ca_certificate
            && let Err(e) = normalise_ca(ca)
        {
            d.push_attr_error(path.then("cluster_ca_certificate"), "Invalid CA certificate", e);
        }
        if let Some(env) = self.exec.as_ref().and_then(|e| e.env.as_ref()) {
            for k in env.keys() {
                if let Err(e) = super::names::env_var_name(k) {
                    d.push_attr_error(path.then("exec").then("env").key(k), "Invalid environment variable name", e);
                }
            }
        }
        if let Attr::Known(config_path) = &self.config_path {
            // An unknown context is judged at apply: which cluster it names is not known yet.
            let context = (!self.config_context.is_unknown()).then(|| self.config_context.known().map(String::as_str));
            d.extend(check_kubeconfig(config_path, context, &path.then("config_path")));
        }
        // Insecure transport is allowed, and loud.
        if self.insecure == Attr::Known(true) {
            d.push_attr_warning(
                path.then("insecure"),
                "TLS verification is off",
                "insecure = true skips verifying the API server's certificate: anyone on the path can impersonate \
                 it and read the credentials sent to it. Use cluster_ca_certificate instead outside tests.",
            );
        }
        if let Attr::Known(host) = &self.host
            && validators::is_remote_plaintext(host)
            && (!self.token.is_null() || self.exec.is_some())
        {
            d.push_attr_warning(
                path.then("host"),
                "Credentials over plain HTTP",
                format!("{host} is http://: the bearer token is sent unencrypted. Use https://."),
            );
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

/// Plan-time checks of a kubeconfig named by `config_path`: that it exists (a missing file would
/// otherwise fail only at apply), and warnings for what it sets insecurely: a cluster with
/// `insecure-skip-tls-verify`, or an `http://` server to a remote host. A file that does not parse
/// is left to apply, which reports the parser's error.
fn check_kubeconfig(config_path: &str, context: Option<Option<&str>>, at: &AttrPath) -> Diagnostics {
    let mut d = Diagnostics::new();
    let file = std::path::Path::new(config_path);
    if !file.is_file() {
        let why = if file.exists() { "is not a file" } else { "does not exist" };
        d.push_attr_error(
            at.clone(),
            "Kubeconfig not found",
            format!("{config_path} {why} (on the machine running Terraform; `~` is not expanded)"),
        );
        return d;
    }
    let (Some(context), Ok(kubeconfig)) = (context, kube::config::Kubeconfig::read_from(file)) else { return d };
    let Some(context) = context.map(str::to_string).or(kubeconfig.current_context.clone()) else { return d };
    let cluster_name = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone());
    let Some(cluster) =
        kubeconfig.clusters.iter().find(|c| Some(&c.name) == cluster_name.as_ref()).and_then(|c| c.cluster.as_ref())
    else {
        return d;
    };
    if cluster.insecure_skip_tls_verify == Some(true) {
        d.push_attr_warning(
            at.clone(),
            "TLS verification is off",
            format!(
                "cluster {:?} of {config_path} (context {context:?}) sets insecure-skip-tls-verify: anyone on the \
                 path can impersonate the API server and read the credentials sent to it",
                cluster_name.unwrap_or_default()
            ),
        );
    }
    if let Some(server) = &cluster.server
        && validators::is_remote_plaintext(server)
    {
        d.push_attr_warning(
            at.clone(),
            "Credentials over plain HTTP",
            format!("context {context:?} of {config_path} uses {server}: its credentials are sent unencrypted"),
        );
    }
    d
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
        assert!(matches!(unknown.resolve(), Err(KubeError::NotKnown { what }) if what == "eks_cluster_name"));
        assert!(matches!(Connection::default().resolve(), Err(KubeError::NoSource)));
        let eks = Connection { eks_cluster_name: Attr::Known("shard-2".into()), ..Default::default() };
        assert_eq!(eks.resolve().unwrap(), Source::Eks { cluster: "shard-2".into() });
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
}
