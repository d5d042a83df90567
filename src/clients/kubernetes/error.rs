//! One error type for everything Kubernetes: a connection that cannot be used, and a call that
//! failed, naming the call (verb, resource, namespace, name) and the server. Failures are
//! classified by type and HTTP status code, never by the text of a message.

use crate::framework::Diagnostics;
use crate::framework::timeouts::format_duration;
use kube::api::ApiResource;
use kube::core::Status;
use std::sync::Arc;
use std::time::Duration;

/// One API call, as RBAC and messages name it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Call {
    /// The RBAC verb: `get`, `list`, `watch`, `create`, `patch`, `delete`.
    pub verb: &'static str,
    /// Plural resource name, with its API group for anything outside the core group
    /// (`secrets`, `applications.argoproj.io`).
    pub resource: String,
    pub subresource: Option<&'static str>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// Whether a 409 Conflict is worth retrying (an optimistic write that lost a race); a
    /// server-side apply conflict with another field manager never is.
    pub retry_conflicts: bool,
}

impl Call {
    pub fn new(verb: &'static str, resource: impl Into<String>) -> Call {
        Call { verb, resource: resource.into(), ..Call::default() }
    }

    /// A call on the resource type `api` (e.g. `ApiResource::erase::<Secret>(&())`).
    pub fn on(verb: &'static str, api: &ApiResource) -> Call {
        let resource = if api.group.is_empty() { api.plural.clone() } else { format!("{}.{}", api.plural, api.group) };
        Call::new(verb, resource)
    }

    /// Building the client (reading a kubeconfig, describing an EKS cluster, signing a token).
    pub fn connect() -> Call {
        Call::new("connect", "")
    }

    pub fn namespace(mut self, namespace: impl Into<String>) -> Call {
        self.namespace = Some(namespace.into());
        self
    }

    pub fn name(mut self, name: impl Into<String>) -> Call {
        self.name = Some(name.into());
        self
    }

    pub fn status(mut self) -> Call {
        self.subresource = Some("status");
        self
    }

    pub fn retry_conflicts(mut self) -> Call {
        self.retry_conflicts = true;
        self
    }

    /// The RBAC rule that would allow this call.
    pub fn rbac_rule(&self) -> String {
        let (plural, group) = self.resource.split_once('.').unwrap_or((&self.resource, ""));
        let resource = match self.subresource {
            Some(sub) => format!("{plural}/{sub}"),
            None => plural.to_string(),
        };
        let scope = match &self.namespace {
            Some(ns) => format!("a Role in namespace {ns}"),
            None => "a ClusterRole".to_string(),
        };
        format!("verbs [\"{}\"] on resources [\"{resource}\"] in apiGroups [\"{group}\"], in {scope}", self.verb)
    }
}

/// `patch secrets/cluster-shard-2 in namespace argocd`, as kubectl names objects.
impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.resource.is_empty() {
            return f.write_str(self.verb);
        }
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(name) = &self.name {
            write!(f, "/{name}")?;
        }
        if let Some(sub) = self.subresource {
            write!(f, "/{sub}")?;
        }
        if let Some(ns) = &self.namespace {
            write!(f, " in namespace {ns}")?;
        }
        Ok(())
    }
}

/// The cause of a failure, kept for its chain of sources (kube's errors are not `Clone`).
pub type Cause = Arc<kube::Error>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum KubeError {
    #[error("{what} is not known yet; the Kubernetes connection can be used once it is")]
    NotKnown { what: String },
    #[error("no Kubernetes connection: set host, config_path or eks_cluster_name")]
    NoSource,
    #[error("{origin}: {message}")]
    Config { origin: String, message: String },
    #[error("EKS cluster {cluster}: {message}")]
    Eks { cluster: String, message: String },
    /// No connection could be opened (refused, no route, DNS, connect timeout).
    #[error("could not reach {host} to {call}: {cause}")]
    Unreachable {
        host: String,
        call: Box<Call>,
        cause: String,
        #[source]
        source: Option<Cause>,
    },
    /// The connection broke while the call was under way.
    #[error("the connection to {host} failed during {call}: {cause}")]
    ConnectionLost {
        host: String,
        call: Box<Call>,
        cause: String,
        #[source]
        source: Cause,
    },
    #[error("TLS with {host} failed: {cause} (check cluster_ca_certificate)")]
    Tls {
        host: String,
        cause: String,
        #[source]
        source: Cause,
    },
    /// A credential plugin the provider runs failed (never with its output: it holds tokens).
    #[error("could not get credentials for {host}: {message}")]
    Plugin { host: String, message: String },
    /// The credentials could not be had (an exec plugin that fails, an unreadable token file).
    #[error("could not get credentials for {host} to {call}: {cause}")]
    Credentials {
        host: String,
        call: Box<Call>,
        cause: String,
        #[source]
        source: Cause,
    },
    #[error("{host} refused the credentials (401 Unauthorized) to {call}: {message}")]
    Unauthorized { host: String, call: Box<Call>, message: String },
    #[error("{host} forbids this identity to {call} (403 Forbidden): {message}. Grant it {}", call.rbac_rule())]
    Forbidden { host: String, call: Box<Call>, message: String },
    #[error("{host} answered {} {} to {call}: {}", status.code, status.reason, status.message)]
    Api { host: String, call: Box<Call>, status: Box<Status> },
    #[error("{call} on {host} timed out after {} (last seen: {last})", format_duration(*after))]
    TimedOut { host: String, call: Box<Call>, after: Duration, last: String },
    #[error("{call} on {host} cancelled: Terraform asked the provider to stop (Ctrl-C) (last seen: {last})")]
    Cancelled { host: String, call: Box<Call>, last: String },
    #[error("{call} on {host} failed: {cause}")]
    Other {
        host: String,
        call: Box<Call>,
        cause: String,
        #[source]
        source: Cause,
    },
}

impl KubeError {
    /// Classifies a failed call by the error's type and the API server's status code.
    pub fn from_kube(host: &str, call: &Call, err: kube::Error) -> KubeError {
        let host = host.to_string();
        let call = Box::new(call.clone());
        let cause = super::super::aws::cause_chain(&err);
        if let kube::Error::Api(status) = &err {
            let message = status.message.clone();
            return match status.code {
                401 => KubeError::Unauthorized { host, call, message },
                403 => KubeError::Forbidden { host, call, message },
                _ => KubeError::Api { host, call, status: status.clone() },
            };
        }
        let source = Arc::new(err);
        match transport_failure(&source) {
            Some(Transport::Tls) => KubeError::Tls { host, cause, source },
            Some(Transport::Connect) => KubeError::Unreachable { host, call, cause, source: Some(source) },
            Some(Transport::Lost) => KubeError::ConnectionLost { host, call, cause, source },
            Some(Transport::Credentials) => {
                let cause = credentials_cause(&source).unwrap_or(cause);
                KubeError::Credentials { host, call, cause, source }
            }
            None => KubeError::Other { host, call, cause, source },
        }
    }

    /// The HTTP status the API server answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            KubeError::Unauthorized { .. } => Some(401),
            KubeError::Forbidden { .. } => Some(403),
            KubeError::Api { status, .. } => Some(status.code),
            _ => None,
        }
    }

    /// The object does not exist (a JSON Status with reason `NotFound`).
    pub fn is_not_found(&self) -> bool {
        matches!(self, KubeError::Api { status, .. } if status.code == 404 && status.reason == "NotFound")
    }

    /// The API server does not serve the resource type at all (its CRD is not installed): a
    /// path it does not know is answered with a plain-text "404 page not found", which kube
    /// reports with a reason other than `NotFound`.
    pub fn is_missing_type(&self) -> bool {
        matches!(self, KubeError::Api { status, .. } if status.code == 404 && status.reason != "NotFound")
    }

    /// Server-side apply conflicts with other field managers (empty for any other failure).
    pub fn field_conflicts(&self) -> Vec<super::fields::Conflict> {
        match self {
            KubeError::Api { status, .. } if status.code == 409 => super::fields::conflicts(status),
            _ => Vec::new(),
        }
    }

    /// Worth another attempt: the server was overloaded or restarting
    /// (<https://kubernetes.io/docs/reference/using-api/api-concepts/#response-status-kind>:
    /// 429 under API Priority and Fairness, 500/503 while etcd is unavailable, 504 for a request
    /// that timed out inside the server), the connection failed, or an optimistic write lost a
    /// race the caller says is worth retrying.
    pub fn is_transient(&self) -> bool {
        match self {
            KubeError::Unreachable { .. } | KubeError::ConnectionLost { .. } => true,
            KubeError::Api { status, call, .. } => match status.code {
                409 => call.retry_conflicts && super::fields::conflicts(status).is_empty(),
                429 | 500 | 502 | 503 | 504 => true,
                _ => false,
            },
            _ => false,
        }
    }

    /// For an unreachable server: whether its name resolves at all, said in the cause.
    pub(super) async fn explained(self) -> KubeError {
        let KubeError::Unreachable { host, call, cause, source } = self else { return self };
        let authority = host.parse::<http::Uri>().ok().and_then(|u| {
            let port = u.port_u16().unwrap_or(if u.scheme_str() == Some("http") { 80 } else { 443 });
            u.host().map(|h| (h.trim_matches(['[', ']']).to_string(), port))
        });
        let cause = match authority {
            // Bounded: the caller's deadline may already be near.
            Some((name, port)) => {
                match tokio::time::timeout(Duration::from_secs(2), tokio::net::lookup_host((name.as_str(), port))).await
                {
                    Ok(Err(e)) => format!("DNS lookup of {name} failed ({e}); {cause}"),
                    _ => cause,
                }
            }
            None => cause,
        };
        KubeError::Unreachable { host, call, cause, source }
    }
}

/// What went wrong getting credentials, without what kube's messages carry along: a failed
/// exec plugin is printed with its whole output (whose stdout holds the token) and a response
/// that does not parse with a piece of it. Never put those in a diagnostic or a log line.
fn credentials_cause(err: &kube::Error) -> Option<String> {
    use kube::client::AuthError;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(auth) = e.downcast_ref::<AuthError>() {
            return Some(match auth {
                AuthError::AuthExecRun { cmd, out } => {
                    let program = cmd.split_whitespace().next().unwrap_or_default();
                    format!(
                        "the credential plugin {program} exited with {} (its output is not shown: it may hold credentials)",
                        out.status
                    )
                }
                AuthError::AuthExecParse(_) => {
                    "the credential plugin's output is not an ExecCredential (not shown: it may hold credentials)"
                        .into()
                }
                other => other.to_string(),
            });
        }
        next = e.source();
    }
    None
}

enum Transport {
    Credentials,
    Tls,
    Connect,
    Lost,
}

/// What went wrong below HTTP, from the types in the error's chain of sources: no credentials
/// (kube's auth layer), a TLS failure (rustls), no connection (hyper-util's connect phase, kube's connect timeout), or a connection
/// that broke (an I/O error of the connection kinds, hyper's closed or incomplete message).
fn transport_failure(err: &kube::Error) -> Option<Transport> {
    use std::io::ErrorKind;
    let transport = matches!(err, kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_));
    match err {
        kube::Error::RustlsTls(_) => return Some(Transport::Tls),
        kube::Error::Auth(_) => return Some(Transport::Credentials),
        _ => {}
    }
    if !transport {
        return None;
    }
    let mut found = None;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        // kube's auth layer (token file, exec plugin) fails inside the client's service.
        if e.is::<kube::client::AuthError>() {
            return Some(Transport::Credentials);
        }
        if e.is::<rustls::Error>() {
            return Some(Transport::Tls);
        }
        if let Some(h) = e.downcast_ref::<hyper_util::client::legacy::Error>()
            && h.is_connect()
        {
            found = Some(Transport::Connect);
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && (h.is_closed() || h.is_incomplete_message() || h.is_canceled() || h.is_timeout())
        {
            found = found.or(Some(Transport::Lost));
        }
        let io = e.downcast_ref::<std::io::Error>();
        if let Some(io) = io {
            match io.kind() {
                ErrorKind::ConnectionRefused
                | ErrorKind::HostUnreachable
                | ErrorKind::NetworkUnreachable
                | ErrorKind::AddrNotAvailable => found = Some(Transport::Connect),
                ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
                | ErrorKind::NotConnected
                | ErrorKind::UnexpectedEof
                | ErrorKind::TimedOut => found = found.or(Some(Transport::Lost)),
                _ => {}
            }
        }
        // io::Error::source() skips the error it wraps (tokio-rustls wraps rustls's errors in
        // io::Errors, sometimes twice): step into it instead.
        next = match io.and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    // Any other failure below HTTP (a protocol error, say) is a failed connection too.
    Some(found.unwrap_or(Transport::Lost))
}

impl From<KubeError> for Diagnostics {
    fn from(e: KubeError) -> Diagnostics {
        let summary = match &e {
            KubeError::NotKnown { .. } => "Kubernetes connection not known yet",
            KubeError::NoSource | KubeError::Config { .. } => "Invalid Kubernetes connection",
            KubeError::Eks { .. } => "Cannot connect to the EKS cluster",
            KubeError::Unreachable { .. } => "Kubernetes API server unreachable",
            KubeError::ConnectionLost { .. } => "Connection to the Kubernetes API server lost",
            KubeError::Tls { .. } => "Kubernetes API server TLS failure",
            KubeError::Credentials { .. } | KubeError::Plugin { .. } => "No Kubernetes credentials",
            KubeError::Unauthorized { .. } => "Kubernetes credentials refused",
            KubeError::Forbidden { .. } => "Kubernetes permission denied",
            KubeError::TimedOut { .. } => "Kubernetes call timed out",
            KubeError::Cancelled { .. } => "Kubernetes call cancelled",
            KubeError::Api { .. } | KubeError::Other { .. } => "Kubernetes request failed",
        };
        Diagnostics::error(summary, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str) -> KubeError {
        let status = Status::failure("m", reason).with_code(code).boxed();
        KubeError::from_kube("https://h", &Call::new("get", "secrets"), kube::Error::Api(status))
    }

    #[test]
    fn calls_are_named_as_kubectl_and_rbac_name_them() {
        let call = Call::on("patch", &ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()))
            .namespace("argocd")
            .name("cluster-shard-2");
        assert_eq!(call.to_string(), "patch secrets/cluster-shard-2 in namespace argocd");
        assert_eq!(
            call.rbac_rule(),
            "verbs [\"patch\"] on resources [\"secrets\"] in apiGroups [\"\"], in a Role in namespace argocd"
        );
        let rollout = Call::new("patch", "rollouts.argoproj.io").namespace("app").name("api").status();
        assert_eq!(rollout.to_string(), "patch rollouts.argoproj.io/api/status in namespace app");
        assert!(rollout.rbac_rule().contains("[\"rollouts/status\"] in apiGroups [\"argoproj.io\"]"));
    }

    #[test]
    fn status_codes_classify_and_decide_retries() {
        assert!(matches!(api(403, "Forbidden"), KubeError::Forbidden { .. }));
        assert!(matches!(api(401, "Unauthorized"), KubeError::Unauthorized { .. }));
        assert!(api(403, "Forbidden").to_string().contains("Grant it verbs [\"get\"] on resources [\"secrets\"]"));
        for code in [429, 500, 502, 503, 504] {
            assert!(api(code, "x").is_transient(), "{code}");
        }
        assert!(!api(404, "NotFound").is_transient());
        assert!(api(404, "NotFound").is_not_found() && !api(404, "NotFound").is_missing_type());
        assert!(api(404, "Failed to parse error data").is_missing_type());
        // A 409 only when the call says so.
        assert!(!api(409, "Conflict").is_transient());
        let status = Status::failure("m", "Conflict").with_code(409).boxed();
        let retrying =
            KubeError::from_kube("h", &Call::new("patch", "secrets").retry_conflicts(), kube::Error::Api(status));
        assert!(retrying.is_transient());
    }

    #[test]
    fn a_failed_credential_plugin_is_not_a_network_failure() {
        // As kube's auth layer reports it: inside the client's service error.
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let auth = kube::Error::Service(Box::new(kube::client::AuthError::AuthExecStart(missing)));
        let e = KubeError::from_kube("https://h", &Call::new("get", "secrets"), auth);
        assert!(matches!(e, KubeError::Credentials { .. }) && !e.is_transient(), "{e:?}");
        // A plugin that fails after printing a token: the token goes nowhere.
        let output = std::process::Output {
            status: std::process::ExitStatus::default(),
            stdout: br#"{"status":{"token":"canary-7c1d-secret"}}"#.to_vec(),
            stderr: b"canary-7c1d-secret in stderr".to_vec(),
        };
        let run = kube::client::AuthError::AuthExecRun {
            cmd: "argocd-k8s-auth aws --cluster-name shard-2".into(),
            out: Box::new(output),
        };
        let e = KubeError::from_kube("https://h", &Call::new("get", "secrets"), kube::Error::Service(Box::new(run)));
        let text = crate::framework::Diagnostics::from(e.clone()).to_string();
        assert!(matches!(e, KubeError::Credentials { .. }), "{e:?}");
        assert!(!text.contains("canary-7c1d-secret") && text.contains("argocd-k8s-auth exited with"), "{text}");
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let e =
            KubeError::from_kube("https://h", &Call::new("get", "secrets"), kube::Error::Service(Box::new(refused)));
        assert!(matches!(e, KubeError::Unreachable { .. }) && e.is_transient(), "{e:?}");
        // An untrusted certificate, as hyper-util reports it through tokio-rustls: two io::Errors deep.
        let rustls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped = std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, rustls));
        let e = KubeError::from_kube(
            "https://h",
            &Call::new("list", "namespaces"),
            kube::Error::Service(Box::new(wrapped)),
        );
        assert!(matches!(e, KubeError::Tls { .. }) && !e.is_transient(), "{e:?}");
    }
}
