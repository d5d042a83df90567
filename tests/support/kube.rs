//! A real Kubernetes API server for tests: kube-apiserver 1.20 + etcd from `.bench/bin`, started by
//! `scripts/kube-cluster.sh` with the Argo CRDs (tests/fixtures/crds/) and the `limited` user's RBAC
//! (tests/fixtures/kube/) installed. There is no controller-manager: namespaces never finish
//! deleting, nothing garbage-collects, and no Argo controller acts; tests write status themselves.
//!
//! `make test` starts one instance for the whole run (`kube-cluster.sh run`, which sets
//! `SHARD_TEST_KUBE_DIR`); without that variable each test process starts its own (≈4 s, ≈300 MB),
//! shared by the tests running in it, and stops it when the last of them is done.

use base64::Engine;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, Config};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::project_root;

/// `DIR/connection.json`, written by `kube-cluster.sh start DIR`.
#[derive(Clone, Deserialize)]
pub struct Connection {
    /// `https://127.0.0.1:PORT`
    pub host: String,
    /// PEM file with the API server's self-signed certificate and its CA.
    pub ca_file: PathBuf,
    /// A `system:masters` user.
    pub admin_token: String,
    /// User `limited`: may only get/list/watch Secrets in namespace `limited-ns`.
    pub limited_token: String,
    /// The API server's audit log: one JSON event per request (metadata only).
    #[serde(default)]
    pub audit_log: PathBuf,
    /// The EKS cluster name whose tokens the API server accepts (through STS, like EKS).
    #[serde(default)]
    pub eks_cluster_id: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("host", &self.host).field("ca_file", &self.ca_file).finish_non_exhaustive()
    }
}

impl Connection {
    /// `DIR/connection.json` of an instance `kube-cluster.sh start DIR` started.
    pub fn read(dir: &Path) -> Result<Connection, String> {
        let file = dir.join("connection.json");
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("{} unreadable ({e}); was the instance started?", file.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))
    }

    /// A `kube::Config` for `token` at this host, trusting only its CA.
    pub fn config(&self, token: &str) -> Result<Config, String> {
        let mut config = Config::new(self.host.parse().map_err(|e| format!("{}: {e}", self.host))?);
        let ca = std::fs::read_to_string(&self.ca_file).map_err(|e| format!("{}: {e}", self.ca_file.display()))?;
        config.root_cert = Some(pem_certificates(&ca));
        config.auth_info =
            serde_json::from_value(serde_json::json!({ "token": token })).map_err(|e| format!("auth info: {e}"))?;
        config.connect_timeout = Some(std::time::Duration::from_secs(10));
        config.read_timeout = Some(std::time::Duration::from_secs(60));
        Ok(config)
    }

    /// A client as `system:masters`. Call inside a Tokio runtime.
    pub fn admin_client(&self) -> Result<Client, String> {
        Client::try_from(self.config(&self.admin_token)?).map_err(|e| format!("client for {}: {e}", self.host))
    }
}

/// `bash scripts/kube-cluster.sh ACTION DIR` (`start`, which takes an owner pid after, or `stop`),
/// not yet run.
pub fn kube_cluster(action: &str, dir: &Path) -> Command {
    let mut c = Command::new("bash");
    c.arg(project_root().join("scripts/kube-cluster.sh")).arg(action).arg(dir);
    c
}

/// Namespace of the `limited` user's permissions.
pub const LIMITED_NAMESPACE: &str = "limited-ns";

struct Instance {
    conn: Connection,
    dir: PathBuf,
    /// Started by this process, so stopped (and its directory removed) by it.
    owned: bool,
    failed: AtomicBool,
}

impl Instance {
    fn from_dir(dir: PathBuf, owned: bool) -> Instance {
        let conn = Connection::read(&dir).unwrap_or_else(|e| panic!("{e}"));
        Instance { conn, dir, owned, failed: AtomicBool::new(false) }
    }

    fn start_private() -> Instance {
        let dir = tempfile::Builder::new().prefix("shard-kube").tempdir().expect("tempdir").keep();
        let out = kube_cluster("start", &dir)
            .arg(std::process::id().to_string())
            .output()
            .expect("run scripts/kube-cluster.sh");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "kube-cluster.sh start {} failed:\n{said}", dir.display());
        eprint!("{said}");
        Instance::from_dir(dir, true)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        let _ = kube_cluster("stop", &self.dir).status();
        if self.failed.load(Ordering::SeqCst) {
            eprintln!("kube bench: a test failed; logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// One test's handle on the bench's API server.
pub struct KubeBench {
    inner: Arc<Instance>,
}

impl KubeBench {
    /// The run's instance (`SHARD_TEST_KUBE_DIR`), or this process's private one, started on first
    /// use and stopped when the last handle is dropped.
    pub fn shared() -> KubeBench {
        static SHARED: Mutex<Weak<Instance>> = Mutex::new(Weak::new());
        let mut slot = SHARED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(inner) = slot.upgrade() {
            return KubeBench { inner };
        }
        let instance = match std::env::var_os("SHARD_TEST_KUBE_DIR") {
            Some(dir) if !dir.is_empty() => Instance::from_dir(PathBuf::from(dir), false),
            _ => Instance::start_private(),
        };
        let inner = Arc::new(instance);
        *slot = Arc::downgrade(&inner);
        KubeBench { inner }
    }

    pub fn connection(&self) -> &Connection {
        &self.inner.conn
    }

    pub fn host(&self) -> &str {
        &self.inner.conn.host
    }

    /// The API server's CA bundle (PEM), as a provider's `cluster_ca_certificate` takes it.
    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(&self.inner.conn.ca_file).expect("read the bench CA file")
    }

    /// A kubeconfig with context `bench` (admin, current) and `bench-limited`.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.inner.dir.join("kubeconfig")
    }

    /// Where the instance keeps its logs (apiserver.log, etcd.log).
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// A `kube::Config` for `token` at the bench's host, trusting only its CA.
    pub fn config(&self, token: &str) -> Config {
        self.inner.conn.config(token).unwrap_or_else(|e| panic!("bench client config: {e}"))
    }

    /// A client as `system:masters`. Call inside a Tokio runtime.
    pub fn admin_client(&self) -> Client {
        self.inner.conn.admin_client().unwrap_or_else(|e| panic!("admin client: {e}"))
    }

    /// A client as user `limited`. Call inside a Tokio runtime.
    pub fn limited_client(&self) -> Client {
        Client::try_from(self.config(&self.inner.conn.limited_token)).expect("limited client")
    }

    /// Creates a fresh namespace `PREFIX-xxxxxxxx` for one test (never deleted: without a
    /// controller-manager a deleted namespace stays Terminating anyway).
    pub async fn namespace(&self, prefix: &str) -> String {
        let prefix: String = prefix
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(40)
            .collect();
        let name = format!("{}-{:08x}", prefix.trim_matches('-'), rand::random::<u32>());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([("shard-test".to_string(), "true".to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(self.admin_client())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
        name
    }

    /// Audit events (one per request, stage ResponseComplete) about objects in `namespace`,
    /// oldest first: what the API server really received.
    pub fn audit(&self, namespace: &str) -> Vec<AuditEvent> {
        let text = std::fs::read_to_string(&self.inner.conn.audit_log).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["stage"] == "ResponseComplete" && e["objectRef"]["namespace"] == namespace)
            .map(|e| AuditEvent {
                verb: e["verb"].as_str().unwrap_or_default().to_string(),
                resource: e["objectRef"]["resource"].as_str().unwrap_or_default().to_string(),
                name: e["objectRef"]["name"].as_str().unwrap_or_default().to_string(),
                user: e["user"]["username"].as_str().unwrap_or_default().to_string(),
                user_agent: e["userAgent"].as_str().unwrap_or_default().to_string(),
                code: e["responseStatus"]["code"].as_i64().unwrap_or_default(),
                uri: e["requestURI"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }

    /// Writes (create, update, patch, delete) to `resource` in `namespace`, as audited.
    pub fn writes(&self, namespace: &str, resource: &str) -> Vec<AuditEvent> {
        self.audit(namespace)
            .into_iter()
            .filter(|e| e.resource == resource && matches!(e.verb.as_str(), "create" | "update" | "patch" | "delete"))
            .collect()
    }

    /// The last lines of the API server's log, for failure messages.
    pub fn apiserver_log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.inner.dir.join("apiserver.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for KubeBench {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.inner.failed.store(true, Ordering::SeqCst);
        }
    }
}

/// One request as the API server's audit log recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub verb: String,
    pub resource: String,
    pub name: String,
    pub user: String,
    pub user_agent: String,
    pub code: i64,
    pub uri: String,
}

/// DER certificates from PEM text.
pub fn pem_certificates(pem: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        if line == "-----BEGIN CERTIFICATE-----" {
            body = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            let b64 = body.take().expect("END without BEGIN");
            out.push(base64::engine::general_purpose::STANDARD.decode(b64).expect("PEM base64"));
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    assert!(!out.is_empty(), "no certificate in the PEM text");
    out
}

/// tests/fixtures/kube_fault_proxy.py in front of the bench's API server: plain HTTP on loopback,
/// making requests that match its rules fail with a Kubernetes `Status` (429, 5xx, 409, 410)
/// instead of forwarding them. Watches pass through event by event; rules may cut them
/// mid-stream, end them with an in-stream 410 Expired, or delay them (see the fixture).
pub struct KubeFaultProxy {
    child: std::process::Child,
    dir: PathBuf,
    pub host: String,
}

impl KubeFaultProxy {
    pub fn start(kube: &KubeBench) -> KubeFaultProxy {
        let dir = tempfile::Builder::new().prefix("kube-fault-proxy").tempdir().expect("tempdir").keep();
        let port = super::free_port();
        std::fs::write(dir.join("rules.json"), "[]").expect("rules");
        let child = Command::new(project_root().join(".bench/venv/bin/python3"))
            .arg(project_root().join("tests/fixtures/kube_fault_proxy.py"))
            .arg(port.to_string())
            .arg(kube.host())
            .arg(&kube.connection().ca_file)
            .arg(dir.join("rules.json"))
            .arg(dir.join("requests.log"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("proxy.err")).expect("proxy log"))
            .spawn()
            .expect("start the kube fault proxy");
        let mut proxy = KubeFaultProxy { child, dir, host: format!("http://127.0.0.1:{port}") };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("kube fault proxy exited ({status}):\n{}", super::read(&proxy.dir.join("proxy.err")));
            }
            assert!(std::time::Instant::now() < deadline, "kube fault proxy did not start");
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        proxy
    }

    /// Replaces the rules, e.g. `[{"method": "PATCH", "path": "/secrets/", "status": 503, "times": 2}]`.
    pub fn set_rules(&self, rules: serde_json::Value) {
        let tmp = self.dir.join("rules.json.tmp");
        std::fs::write(&tmp, rules.to_string()).expect("write rules");
        std::fs::rename(tmp, self.dir.join("rules.json")).expect("install rules");
    }

    /// The proxy's working directory (rules, request log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The request log's lines: `METHOD PATH STATUS [injected [WHAT]] [events=N]`.
    pub fn requests_raw(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("requests.log")).unwrap_or_default().lines().map(String::from).collect()
    }

    /// Requests seen so far: (method, path, status, injected).
    pub fn requests(&self) -> Vec<(String, String, u16, bool)> {
        std::fs::read_to_string(self.dir.join("requests.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut it = l.split(' ');
                let (m, p, s) = (it.next()?, it.next()?, it.next()?.parse().ok()?);
                Some((m.to_string(), p.to_string(), s, it.next() == Some("injected")))
            })
            .collect()
    }
}

impl Drop for KubeFaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
