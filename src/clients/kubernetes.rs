//! The reusable *Kubernetes connection* block: one shape for the provider's `hub` (the Argo CD
//! cluster) and, later, for resources that talk to a shard's own cluster.
//!
//! Only the shape and its validation live here for now; the client is built by the resources
//! that need it (Argo CD registration, rollout gates), tested against a real kube-apiserver.

use crate::framework::schema::{Attribute, Block, NestedBlock, Nesting};
use crate::framework::{Attr, AttrPath, Diagnostics};
use serde::Deserialize;

/// Attribute set of a connection block. `token_write_only` is for resources (the token must
/// not reach state); provider configuration is never stored, so there it is only sensitive.
pub fn connection_attributes(token_write_only: bool) -> Vec<Attribute> {
    let mut token = Attribute::string("token")
        .optional()
        .sensitive()
        .description("Bearer token for the API server. Never stored in state or plan, never logged.");
    if token_write_only {
        token = token.write_only();
    }
    vec![
        Attribute::string("host").optional().description("API server URL, e.g. `https://1.2.3.4:6443`."),
        token,
        Attribute::string("cluster_ca_certificate")
            .optional()
            .description("PEM CA bundle that signed the API server's certificate."),
        Attribute::bool("insecure").optional().description("Skip TLS verification of the API server (tests only)."),
        Attribute::string("config_path").optional().description("Path to a kubeconfig file to use instead of `host`."),
        Attribute::string("config_context").optional().description("Context in `config_path` (default: current)."),
        Attribute::string("eks_cluster_name")
            .optional()
            .description("EKS cluster whose endpoint and CA to use, authenticating with an STS-signed token."),
    ]
}

pub fn connection_block(name: &str, description: &str, token_write_only: bool) -> NestedBlock {
    let block = Block {
        attributes: connection_attributes(token_write_only),
        blocks: Vec::new(),
        description: description.to_string(),
        deprecated: false,
    };
    NestedBlock::new(name, Nesting::Single, block)
}

/// The decoded block. Values may be unknown during planning (a cluster created in the same run).
#[derive(Clone, Default, Deserialize, PartialEq)]
pub struct Connection {
    #[serde(default)]
    pub host: Attr<String>,
    #[serde(default)]
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
            .finish_non_exhaustive()
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
        if let Attr::Known(host) = &self.host
            && !(host.starts_with("https://") || host.starts_with("http://"))
        {
            d.push_attr_error(
                path.then("host"),
                "Invalid host",
                format!("{host:?} must be a URL such as https://host:6443"),
            );
        }
        if let Attr::Known(pem) = &self.cluster_ca_certificate
            && !pem.contains("-----BEGIN CERTIFICATE-----")
        {
            d.push_attr_error(
                path.then("cluster_ca_certificate"),
                "Invalid CA certificate",
                "expected PEM text starting with -----BEGIN CERTIFICATE----- (decode base64 from EKS first)",
            );
        }
        d
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
    }

    #[test]
    fn debug_output_hides_the_token() {
        let c = Connection { token: Attr::Known("eyJhbGciOi-secret".into()), ..Default::default() };
        assert!(!format!("{c:?}").contains("secret"));
    }
}
