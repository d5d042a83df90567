//! `shard_argocd_cluster_registration`, `shard_eks_cluster` and `shard_eks_token` with the real
//! Terraform CLI, moto (EKS as AWS describes it: tests/fixtures/eks_moto.py) and the bench's real
//! kube-apiserver as the Argo CD hub. No Argo controller runs: the test plays Argo CD
//! (support::argocd), generating the Applications an ApplicationSet would and writing their
//! status. Requests the API server received are counted from its audit log.

mod support;

use serde_json::{Value as Json, json};
use std::time::{Duration, Instant};
use support::argocd::{Argo, ArgoCdController, Dest, Workload, b64};
use support::kube::KubeBench;
use support::{Moto, ProviderHcl, Workspace};

const ROLE: &str = "arn:aws:iam::111122223333:role/argocd-shard-access";
const R: &str = "shard_argocd_cluster_registration.this";

/// The `hub { ... }` body for the bench's API server as admin, Argo CD in `namespace`.
fn hub(kube: &KubeBench, namespace: &str) -> String {
    hub_as(kube, namespace, &kube.connection().admin_token)
}

fn hub_as(kube: &KubeBench, namespace: &str, token: &str) -> String {
    format!(
        "    host = \"{}\"\n    cluster_ca_certificate = file(\"{}\")\n    token = \"{token}\"\n    argocd_namespace = \"{namespace}\"",
        kube.host(),
        kube.connection().ca_file.display()
    )
}

fn eks_client(moto: &Moto) -> aws_sdk_eks::Client {
    use aws_sdk_eks::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_eks::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .endpoint_url(&moto.endpoint)
        .build();
    aws_sdk_eks::Client::from_conf(config)
}

/// Creates an EKS cluster in moto; returns its (endpoint, CA PEM) as DescribeCluster gives them.
async fn eks_cluster(moto: &Moto, name: &str) -> (String, String) {
    let eks = eks_client(moto);
    eks.create_cluster()
        .name(name)
        .role_arn("arn:aws:iam::123456789012:role/eks")
        .resources_vpc_config(aws_sdk_eks::types::VpcConfigRequest::builder().subnet_ids("subnet-1").build())
        .send()
        .await
        .expect("CreateCluster");
    let c = eks.describe_cluster().name(name).send().await.expect("DescribeCluster").cluster.unwrap();
    let ca = c.certificate_authority.unwrap().data.unwrap();
    let pem = {
        use base64::Engine;
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(ca).expect("EKS CA is base64")).unwrap()
    };
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "the fixture describes a real CA: {pem}");
    (c.endpoint.unwrap(), pem)
}

/// Runs a blocking Terraform step from async code.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking step")
}

/// Lines of the workspace's Terraform log written since `from` bytes.
fn log_since(ws: &Workspace, from: usize) -> String {
    let log = support::read(&ws.path("terraform.log"));
    log.get(from..).unwrap_or_default().to_string()
}

fn log_len(ws: &Workspace) -> usize {
    support::read(&ws.path("terraform.log")).len()
}

fn registration(body: &str) -> String {
    format!("resource \"shard_argocd_cluster_registration\" \"this\" {{\n{body}\n}}\n")
}

struct Hub {
    kube: KubeBench,
    ns: String,
    argo: Argo,
}

async fn hub_namespace(prefix: &str) -> Hub {
    let kube = KubeBench::shared();
    let ns = kube.namespace(prefix).await;
    let argo = Argo::new(kube.admin_client(), &ns);
    Hub { kube, ns, argo }
}

fn workspace(moto: &Moto, hub: &Hub, body: &str) -> Workspace {
    let ws = Workspace::new(moto);
    ws.write_with(&ProviderHcl::new(&moto.endpoint).hub(&hub_body(hub)), body);
    ws
}

fn hub_body(h: &Hub) -> String {
    hub(&h.kube, &h.ns)
}

fn rewrite(ws: &Workspace, moto: &Moto, hub: &Hub, body: &str) {
    ws.write_with(&ProviderHcl::new(&moto.endpoint).hub(&hub_body(hub)), body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_registers_from_eks_and_stays_as_declared() {
    let moto = Moto::start_eks(&[]);
    let hub = hub_namespace("argocd-life").await;
    let (endpoint, ca) = eks_cluster(&moto, "shard-2").await;
    let body = |env: &str| {
        registration(&format!(
            "  name = \"shard-2\"\n  eks_cluster_name = \"shard-2\"\n  aws_auth {{ role_arn = \"{ROLE}\" }}\n  labels = {{ shard = \"2\", env = \"{env}\" }}"
        ))
    };
    let ws = workspace(&moto, &hub, &body("prod"));
    let ws = blocking(move || {
        ws.init();
        ws
    })
    .await;

    // Create: one DescribeCluster, one list of the cluster Secrets (another registration of the
    // same server or name?), one exclusive create (409 if another registration made it meanwhile)
    // and one server-side apply (which makes the fields this manager's `Apply`), nothing else.
    let log_from = log_len(&ws);
    let ws = blocking(move || {
        ws.ok(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        ws
    })
    .await;
    let requests = hub.kube.audit(&hub.ns);
    assert_eq!(requests.len(), 3, "three requests for a registration without waiting: {requests:#?}");
    assert_eq!((requests[0].verb.as_str(), requests[0].resource.as_str()), ("list", "secrets"));
    assert!(
        requests[0].uri.contains("labelSelector=argocd.argoproj.io%2Fsecret-type%3Dcluster"),
        "{}",
        requests[0].uri
    );
    assert_eq!((requests[1].verb.as_str(), requests[1].resource.as_str()), ("create", "secrets"));
    assert_eq!((requests[2].verb.as_str(), requests[2].resource.as_str()), ("patch", "secrets"));
    for r in &requests[1..] {
        assert!(r.uri.contains("fieldManager=terraform-provider-shard"), "{}", r.uri);
    }
    assert_eq!(log_since(&ws, log_from).matches("aws_call=DescribeCluster").count(), 1);

    // The Secret, field by field, as Argo CD reads it.
    let c = hub.argo.cluster("cluster-shard-2").await.expect("a cluster Secret");
    assert_eq!(c.name, "shard-2");
    assert_eq!(c.server, endpoint.trim_end_matches('/'));
    assert!(!c.server.ends_with('/') && c.server.starts_with("https://"));
    assert_eq!(
        c.config,
        json!({
            "tlsClientConfig": { "insecure": false, "caData": b64(&ca) },
            "awsAuthConfig": { "clusterName": "shard-2", "roleARN": ROLE }
        })
    );
    assert_eq!(c.data_keys, vec!["config", "name", "server"], "optional keys only when set");
    assert_eq!(c.labels["shard"], "2");
    assert_eq!(c.labels["env"], "prod");
    assert_eq!(c.labels["argocd.argoproj.io/secret-type"], "cluster");
    let ws = blocking(move || {
        ws.assert_plan_empty();
        let s = ws.state_of(R);
        assert_eq!(s["server"], endpoint.trim_end_matches('/'));
        assert_eq!(s["secret_name"], "cluster-shard-2");
        assert_eq!(s["applications"], json!([]));
        assert!(s["id"].as_str().unwrap().ends_with("/cluster-shard-2"));
        ws
    })
    .await;

    // Argo CD (or anyone) adds a label: it survives every later apply and is no diff.
    hub.argo
        .edit_secret(
            "cluster-shard-2",
            "argocd-application-controller",
            json!({ "metadata": { "labels": { "argocd.argoproj.io/kubernetes-version": "1.31" } } }),
        )
        .await;
    // A label change is an in-place update of labels only.
    rewrite(&ws, &moto, &hub, &body("staging"));
    let ws = blocking(move || {
        let changes = ws.planned_changes();
        assert_eq!(changes, vec![(R.to_string(), vec!["applications".to_string(), "labels".to_string()])]);
        ws.apply();
        ws
    })
    .await;
    let c = hub.argo.cluster("cluster-shard-2").await.unwrap();
    assert_eq!(c.labels["env"], "staging");
    assert_eq!(c.labels["argocd.argoproj.io/kubernetes-version"], "1.31", "another manager's label survives");

    // Drift in config and in a label, made with kubectl edit: shown in the plan, repaired.
    let mut tampered = c.config.clone();
    tampered["awsAuthConfig"]["roleARN"] = json!("arn:aws:iam::111122223333:role/someone-else");
    hub.argo.edit_config("cluster-shard-2", "kubectl-edit", &tampered).await;
    hub.argo
        .edit_secret("cluster-shard-2", "kubectl-edit", json!({ "metadata": { "labels": { "env": "oops" } } }))
        .await;
    let ws = blocking(move || {
        let plan = ws.plan();
        assert_eq!(plan.code, 2, "drift must show:\n{}", plan.text());
        let text = plan.flat();
        assert!(text.contains("someone-else") && text.contains("\"oops\" -> \"staging\""), "{text}");
        ws.apply();
        ws
    })
    .await;
    let c = hub.argo.cluster("cluster-shard-2").await.unwrap();
    assert_eq!(c.config["awsAuthConfig"]["roleARN"], ROLE);
    assert_eq!(c.labels["env"], "staging");
    assert_eq!(c.labels["argocd.argoproj.io/kubernetes-version"], "1.31");

    // A deleted Secret leaves the state: the plan creates it again.
    hub.argo.delete_secret("cluster-shard-2").await;
    let ws = blocking(move || {
        let plan = ws.plan();
        assert_eq!(plan.code, 2);
        assert!(plan.flat().contains("will be created"), "{}", plan.text());
        ws.apply();
        ws
    })
    .await;
    assert!(hub.argo.cluster("cluster-shard-2").await.is_some());

    // Import by id, then by identity: the plan is empty each time.
    let id = format!("{}/cluster-shard-2", hub.ns);
    let ns = hub.ns.clone();
    let ws = blocking(move || {
        ws.ok(&["state", "rm", R]);
        ws.ok(&["import", "-no-color", "-input=false", R, &id]);
        ws.assert_plan_empty();
        ws.ok(&["state", "rm", R]);
        ws
    })
    .await;
    rewrite(
        &ws,
        &moto,
        &hub,
        &format!(
            "{}\nimport {{\n  to = {R}\n  identity = {{\n    namespace = \"{ns}\"\n    secret_name = \"cluster-shard-2\"\n  }}\n}}\n",
            body("staging")
        ),
    );
    let ws = blocking(move || {
        let r = ws.apply();
        assert!(r.flat().contains("1 imported, 0 added, 0 changed, 0 destroyed"), "{}", r.text());
        ws
    })
    .await;

    // Renaming the cluster is an in-place update; the Secret keeps its name.
    rewrite(&ws, &moto, &hub, &body("staging").replace("  name = \"shard-2\"\n", "  name = \"shard-2b\"\n"));
    let ws = blocking(move || {
        let plan = ws.plan();
        let text = plan.flat();
        assert!(text.contains("updated in-place") && !text.contains("must be replaced"), "{text}");
        ws.apply();
        ws
    })
    .await;
    let c = hub.argo.cluster("cluster-shard-2").await.unwrap();
    assert_eq!((c.name.as_str(), c.config["awsAuthConfig"]["clusterName"].as_str()), ("shard-2b", Some("shard-2")));

    // Destroy: the Secret goes (no Application targets the cluster, so no wait).
    blocking(move || ws.destroy()).await;
    assert!(hub.argo.secret("cluster-shard-2").await.is_none());
}

/// A background Terraform whose output lines are timestamped as they arrive.
struct Running {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<(Instant, String)>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start(ws: &Workspace, args: &[&str]) -> Running {
        let mut child = ws.spawn(args);
        let stdout = child.stdout.take().expect("stdout");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push((Instant::now(), line));
            }
        });
        Running { child, lines, reader: Some(reader) }
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// When the first line containing `needle` arrived.
    fn seen(&self, needle: &str) -> Option<Instant> {
        self.lines.lock().unwrap().iter().find(|(_, l)| l.contains(needle)).map(|(t, _)| *t)
    }

    /// Waits for the end: (success, when it ended, stdout + stderr).
    fn finish(mut self) -> (bool, Instant, String) {
        let status = self.child.wait().expect("wait");
        let ended = Instant::now();
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            use std::io::Read;
            e.read_to_string(&mut err).unwrap();
        }
        let out: Vec<String> = self.lines.lock().unwrap().iter().map(|(_, l)| l.clone()).collect();
        (status.success(), ended, support::flatten(&format!("{}\n{err}", out.join("\n"))))
    }
}

async fn wait_for_secret(argo: &Argo, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while argo.cluster(name).await.is_none() {
        assert!(Instant::now() < deadline, "the cluster Secret {name} was not written");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn weight_of(moto: &Moto, listener: &str, tg: &str) -> Option<i64> {
    let actions = moto.fixture(&["actions", listener]);
    let fwd = actions.as_array().unwrap().iter().find(|a| a["Type"] == "forward").cloned().unwrap();
    fwd["ForwardConfig"]["TargetGroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["TargetGroupArn"] == tg)
        .and_then(|t| t["Weight"].as_i64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_waits_for_the_generated_applications_to_be_synced_and_healthy() {
    let moto = Moto::start();
    let hub = hub_namespace("argocd-sync").await;
    // One listener, a second target group not in its forward action yet: shard-4's.
    let topo = moto.fixture(&["topology", "weights=50", "groups=2"]);
    let listener = topo["listener"].as_str().unwrap().to_string();
    let tg = topo["target_groups"][1].as_str().unwrap().to_string();
    let server = "https://shard-4.example.com";
    let body = format!(
        "{}\nresource \"shard_weight\" \"this\" {{\n  listener_arn = \"{listener}\"\n  target_group_arn = \"{tg}\"\n  weight = 10\n  min_healthy_targets = 0\n  depends_on = [{R}]\n}}\n",
        registration(&format!(
            "  name = \"shard-4\"\n  server = \"{server}\"\n  exec {{\n    command = \"argocd-k8s-auth\"\n    args = [\"aws\", \"--cluster-name\", \"shard-4\"]\n  }}\n  wait_for_sync {{\n    min_applications = 2\n    timeout = \"3m\"\n  }}"
        ))
    );
    let ws = workspace(&moto, &hub, &body);
    let ws = blocking(move || {
        ws.init();
        ws
    })
    .await;
    let mut apply = Running::start(&ws, &["apply", "-auto-approve", "-no-color", "-input=false"]);
    wait_for_secret(&hub.argo, "cluster-shard-4").await;

    // The ApplicationSet generates two Applications for the new cluster (one by server, one by
    // name); a third belongs to another cluster.
    hub.argo.generate("web-shard-4", Dest::Server(server.into()), false).await;
    hub.argo.generate("metrics-shard-4", Dest::Name("shard-4".into()), false).await;
    hub.argo.generate("web-shard-9", Dest::Server("https://shard-9.example.com".into()), false).await;
    hub.argo.status("web-shard-9", "OutOfSync", "Degraded", "not ours").await;
    for app in ["web-shard-4", "metrics-shard-4"] {
        hub.argo.status(app, "OutOfSync", "Progressing", "syncing").await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(apply.running(), "the apply must wait for the Applications");
    assert_eq!(weight_of(&moto, &listener, &tg), None, "no traffic before the workload is synced");
    hub.argo.status("web-shard-4", "Synced", "Healthy", "").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(apply.running(), "one Application is still progressing");
    assert_eq!(weight_of(&moto, &listener, &tg), None);
    let healthy_at = Instant::now();
    hub.argo.status("metrics-shard-4", "Synced", "Healthy", "").await;
    let registered_at = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(t) = apply.seen(&format!("{R}: Creation complete")) {
                break t;
            }
            assert!(Instant::now() < deadline, "the registration did not complete");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (ok, _, text) = blocking(move || apply.finish()).await;
    assert!(ok, "{text}");
    let latency = registered_at.saturating_duration_since(healthy_at);
    eprintln!(
        "wait_for_sync: registration complete {} ms after the last Application turned Healthy",
        latency.as_millis()
    );
    // The weight was written only after the registration completed.
    let weight_started = text.find("shard_weight.this: Creating...").expect("weight created");
    let registered = text.find(&format!("{R}: Creation complete")).unwrap();
    assert!(registered < weight_started, "{text}");
    assert_eq!(weight_of(&moto, &listener, &tg), Some(10));
    // The wait was one list and one watch of Applications (the test's own writes aside).
    let audit = hub.kube.audit(&hub.ns);
    let reads: Vec<&str> = audit
        .iter()
        .filter(|e| e.resource == "applications" && matches!(e.verb.as_str(), "list" | "watch" | "get"))
        .map(|e| e.verb.as_str())
        .collect();
    assert_eq!(reads, vec!["list", "watch"], "{audit:#?}");

    let ws = blocking(move || {
        ws.assert_plan_empty();
        let s = ws.state_of(R);
        assert_eq!(
            s["applications"],
            json!([
                { "name": "metrics-shard-4", "sync_status": "Synced", "health_status": "Healthy" },
                { "name": "web-shard-4", "sync_status": "Synced", "health_status": "Healthy" }
            ])
        );
        ws
    })
    .await;
    drop(ws);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_times_out_names_the_laggards_and_can_be_resumed() {
    let moto = Moto::start();
    let hub = hub_namespace("argocd-laggard").await;
    let server = "https://shard-5.example.com";
    let body = |wait: &str| {
        registration(&format!(
            "  name = \"shard-5\"\n  server = \"{server}\"\n  aws_auth {{\n    cluster_name = \"shard-5\"\n  }}\n{wait}"
        ))
    };
    // Fewer Applications than expected.
    let ws = workspace(&moto, &hub, &body("  wait_for_sync {\n    min_applications = 1\n    timeout = \"3s\"\n  }"));
    let ws = blocking(move || {
        ws.init();
        ws.fails(
            &["apply", "-auto-approve", "-no-color", "-input=false"],
            &["Applications not Synced and Healthy", "0 Applications target shard-5, at least 1 expected", "untaint"],
        );
        ws
    })
    .await;
    assert!(hub.argo.cluster("cluster-shard-5").await.is_some(), "the Secret stays: Argo CD keeps syncing");

    // One that is not healthy: named with its status and message.
    hub.argo.generate("web-shard-5", Dest::Server(server.into()), false).await;
    hub.argo.status("web-shard-5", "Synced", "Degraded", "Deployment web has 0/3 ready replicas").await;
    let started = Instant::now();
    let ws = blocking(move || {
        ws.ok(&["untaint", R]);
        ws.fails(
            &["apply", "-auto-approve", "-no-color", "-input=false"],
            &["web-shard-5: sync Synced, health Degraded (Deployment web has 0/3 ready replicas)"],
        );
        ws
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(60));

    // Healthy now: after untaint, the next apply waits again (no replacement) and succeeds.
    hub.argo.status("web-shard-5", "Synced", "Healthy", "").await;
    // (A failed update is not tainted: the state without the wait is what makes it wait again.)
    let ws = blocking(move || {
        let changes = ws.planned_changes();
        assert_eq!(changes.len(), 1);
        assert!(changes[0].1.contains(&"wait_for_sync".to_string()), "{changes:?}");
        ws.apply();
        ws
    })
    .await;

    // A fresh registration whose Application turns Healthy while the apply waits: how long after
    // that the apply returns.
    let ws2 = workspace(
        &moto,
        &hub,
        &registration(
            "  name = \"shard-6\"\n  server = \"https://shard-6.example.com\"\n  aws_auth {\n    cluster_name = \"shard-6\"\n  }\n  wait_for_sync {}",
        ),
    );
    let ws2 = blocking(move || {
        ws2.init();
        ws2
    })
    .await;
    let apply = Running::start(&ws2, &["apply", "-auto-approve", "-no-color", "-input=false"]);
    wait_for_secret(&hub.argo, "cluster-shard-6").await;
    hub.argo.generate("web-shard-6", Dest::Name("shard-6".into()), false).await;
    hub.argo.status("web-shard-6", "Synced", "Progressing", "").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let healthy_at = Instant::now();
    hub.argo.status("web-shard-6", "Synced", "Healthy", "").await;
    let (ok, ended, text) = blocking(move || apply.finish()).await;
    assert!(ok, "{text}");
    let latency = ended.saturating_duration_since(healthy_at);
    eprintln!("wait_for_sync: apply returned {} ms after the last Application turned Healthy", latency.as_millis());
    drop((ws, ws2));
}

/// What Argo CD synced to and pruned from the shards, as the stand-in's application controller
/// reports it.
#[derive(Default)]
struct Recorder {
    synced: std::sync::Mutex<Vec<String>>,
    pruned: std::sync::Mutex<Vec<String>>,
    /// The health every Application reports (None: Healthy).
    health: std::sync::Mutex<Option<(String, String)>>,
    /// Applications whose name starts with this are Degraded.
    degraded_prefix: std::sync::Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl Workload for Recorder {
    async fn sync(&self, app: &Json) -> Result<(), String> {
        self.synced.lock().unwrap().push(app["metadata"]["name"].as_str().unwrap_or_default().into());
        Ok(())
    }
    async fn prune(&self, app: &Json) -> Result<(), String> {
        self.pruned.lock().unwrap().push(app["metadata"]["name"].as_str().unwrap_or_default().into());
        Ok(())
    }
    async fn health(&self, app: &Json) -> Option<(String, String)> {
        let name = app["metadata"]["name"].as_str().unwrap_or_default();
        if let Some(prefix) = self.degraded_prefix.lock().unwrap().as_deref()
            && name.starts_with(prefix)
        {
            return Some(("Degraded".into(), "Job failed".into()));
        }
        self.health.lock().unwrap().clone()
    }
}

/// Waits (up to 30 s) until the Application `name` satisfies `check`; returns it.
async fn app_when(hub: &Hub, name: &str, check: impl Fn(&Json) -> bool) -> Json {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let app = hub.argo.app_opt(name).await;
        if let Some(app) = app.filter(|a| check(a)) {
            return app;
        }
        assert!(Instant::now() < deadline, "Application {name} never got there: {:?}", hub.argo.app_opt(name).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Recorder {
    async fn wait_synced(&self, app: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.synced.lock().unwrap().iter().any(|a| a == app) {
            assert!(Instant::now() < deadline, "Application {app} was not synced");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// An ApplicationSet with a cluster generator selecting `selector`, one Application per cluster.
async fn application_set(hub: &Hub, name: &str, selector: Json, sync_policy: Json) {
    let destination = json!({ "server": "{{server}}", "namespace": name });
    application_set_with(hub, name, selector, sync_policy, destination, Json::Null).await;
}

/// The same with the template's destination and the Applications' labels given.
async fn application_set_with(
    hub: &Hub,
    name: &str,
    selector: Json,
    sync_policy: Json,
    destination: Json,
    labels: Json,
) {
    let resource = kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
        "argoproj.io",
        "v1alpha1",
        "ApplicationSet",
    ));
    let api: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(hub.kube.admin_client(), &hub.ns, &resource);
    let set: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": { "name": name },
        "spec": {
            "generators": [{ "clusters": { "selector": selector } }],
            "syncPolicy": sync_policy,
            "template": {
                "metadata": { "name": format!("{name}-{{{{name}}}}"), "labels": labels },
                "spec": { "project": "default", "destination": destination,
                          "source": { "repoURL": "https://example.com/web.git", "path": name } }
            }
        }
    }))
    .unwrap();
    api.create(&Default::default(), &set).await.expect("create ApplicationSet");
}

/// Destroy takes the cluster out of its ApplicationSet's generator while it is still registered,
/// so Argo CD deletes the Applications *with* their resources (the resources finalizer runs on a
/// registered cluster), and deletes the Secret only then. The stand-in plays upstream's order:
/// a Secret deleted first makes the ApplicationSet controller drop the finalizer
/// (`removeFinalizerOnInvalidDestination`) and the workload is orphaned, which is what the
/// provider did before (this test failed on it: `web-shard-8` orphaned, never pruned).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_lets_argo_cd_delete_the_workload_before_the_cluster_leaves() {
    let moto = Moto::start();
    let hub = hub_namespace("argocd-removal").await;
    let recorder = std::sync::Arc::new(Recorder::default());
    let argo_cd = ArgoCdController::start(
        hub.kube.admin_client(),
        &hub.ns,
        Duration::from_millis(200),
        Some(recorder.clone() as std::sync::Arc<dyn Workload>),
    );
    application_set(&hub, "web", json!({ "matchLabels": { "fleet": "shards" } }), Json::Null).await;
    let server = "https://shard-8.example.com";
    let ws = workspace(
        &moto,
        &hub,
        &registration(&format!(
            "  name = \"shard-8\"\n  server = \"{server}\"\n  labels = {{ fleet = \"shards\" }}\n  aws_auth {{\n    cluster_name = \"shard-8\"\n  }}"
        )),
    );
    let ws = blocking(move || {
        ws.init();
        ws.apply();
        ws
    })
    .await;
    recorder.wait_synced("web-shard-8").await;
    // Another cluster's Application, made by hand: untouched.
    hub.argo.generate("web-shard-1", Dest::Server("https://shard-1.example.com".into()), false).await;

    let ws = blocking(move || {
        ws.destroy();
        ws
    })
    .await;
    assert_eq!(*recorder.pruned.lock().unwrap(), vec!["web-shard-8"], "Argo CD deleted the workload on the shard");
    assert!(argo_cd.orphaned().is_empty(), "orphaned: {:?}", argo_cd.orphaned());
    assert!(hub.argo.secret("cluster-shard-8").await.is_none(), "the Secret goes last");
    assert_eq!(hub.argo.app_names().await, vec!["web-shard-1"], "other clusters' Applications are untouched");

    // A finalizer that cannot finish: the destroy fails at its timeout naming the Application,
    // the Secret is kept (so Argo CD can still finish) and the resource stays in state.
    rewrite(
        &ws,
        &moto,
        &hub,
        &registration(
            "  name = \"shard-10\"\n  server = \"https://shard-10.example.com\"\n  labels = { fleet = \"shards\" }\n  aws_auth {\n    cluster_name = \"shard-10\"\n  }\n  timeouts {\n    delete = \"4s\"\n  }",
        ),
    );
    let ws = blocking(move || {
        ws.apply();
        ws
    })
    .await;
    recorder.wait_synced("web-shard-10").await;
    hub.argo.edit_app_finalizers("web-shard-10", &["resources-finalizer.argocd.argoproj.io", "example.com/hold"]).await;
    let ws = blocking(move || {
        ws.fails(
            &["destroy", "-auto-approve", "-no-color", "-input=false"],
            &["Applications still target the cluster", "web-shard-10 (deleting since", "example.com/hold", "is kept"],
        );
        let list = ws.ok(&["state", "list"]);
        assert!(list.stdout.contains(R), "{}", list.stdout);
        ws
    })
    .await;
    assert!(hub.argo.secret("cluster-shard-10").await.is_some(), "never deleted while an Application targets it");
    hub.argo.edit_app_finalizers("web-shard-10", &[]).await;
    blocking(move || ws.destroy()).await;
    assert!(hub.argo.secret("cluster-shard-10").await.is_none());
    assert!(argo_cd.errors().is_empty(), "{:?}", argo_cd.errors());
}

/// `wait_for_sync` judges as `argocd app wait` does (cmd/argocd/commands/app.go), against the
/// stand-in's application controller, which writes what argo-cd's does (`comparedTo`,
/// `operation`/`operationState` Running → Succeeded, `reconciledAt`, `ComparisonError`): a sync
/// under way is not a result; a status computed for the server before an in-place change is
/// not either; a paused Rollout's `Suspended` is accepted only when asked; a `ComparisonError`
/// after the write fails at once with Argo CD's message. (With the provider's operation check
/// taken out, the first part fails: the apply returns while the operation is Running.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_sync_judges_applications_as_argocd_app_wait_does() {
    let moto = Moto::start();
    let hub = hub_namespace("argocd-judge").await;
    let recorder = std::sync::Arc::new(Recorder::default());
    let argo_cd = ArgoCdController::start(
        hub.kube.admin_client(),
        &hub.ns,
        Duration::from_secs(3),
        Some(recorder.clone() as std::sync::Arc<dyn Workload>),
    );
    application_set(&hub, "web", json!({ "matchLabels": { "fleet": "shards" } }), Json::Null).await;
    let body = |server: &str, args: &str, wait: &str| {
        registration(&format!(
            "  name = \"shard-5\"\n  server = \"{server}\"\n  labels = {{ fleet = \"shards\" }}\n  exec {{\n    command = \"argocd-k8s-auth\"\n    args = [{args}]\n  }}\n{wait}"
        ))
    };
    let server = "https://shard-5.example.com";
    let wait = "  wait_for_sync {\n    min_applications = 1\n  }";
    let ws = workspace(&moto, &hub, &body(server, "", wait));
    let ws = blocking(move || {
        ws.init();
        ws
    })
    .await;

    // The ApplicationSet generates web-shard-5; Argo CD compares (OutOfSync), starts an automated
    // sync (operation Running) and finishes it 3 s after the Application appeared.
    let mut apply = Running::start(&ws, &["apply", "-auto-approve", "-no-color", "-input=false"]);
    let running = app_when(&hub, "web-shard-5", |a| a["status"]["operationState"]["phase"] == "Running").await;
    assert_eq!(running["status"]["sync"]["status"], "OutOfSync");
    assert_eq!(running["status"]["sync"]["comparedTo"]["destination"]["server"], server);
    assert!(running["operation"]["sync"].is_object(), "{running}");
    // Resources applied, Synced and Healthy, while the operation still runs its PostSync hook.
    let hook = app_when(&hub, "web-shard-5", |a| {
        a["status"]["sync"]["status"] == "Synced" && a["status"]["operationState"]["phase"] == "Running"
    })
    .await;
    assert_eq!(hook["status"]["health"]["status"], "Healthy");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(apply.running(), "a sync under way is not a result");
    let (ok, ended, text) = blocking(move || apply.finish()).await;
    assert!(ok, "{text}");
    let done = hub.argo.app("web-shard-5").await;
    let st = &done["status"];
    assert_eq!(
        (st["sync"]["status"].as_str(), st["operationState"]["phase"].as_str()),
        (Some("Synced"), Some("Succeeded"))
    );
    assert!(done["operation"].is_null() && st["reconciledAt"].as_str() >= st["operationState"]["finishedAt"].as_str());
    let _ = ended;

    // `server` changed in place (the EKS cluster recreated): the ApplicationSet rewrites the
    // destination, and the old verdict (compared with the old server) does not end the wait; the
    // apply returns once Argo CD has synced to the new server.
    let new_server = "https://shard-5b.example.com";
    rewrite(&ws, &moto, &hub, &body(new_server, "", wait));
    let ws = blocking(move || {
        ws.apply();
        ws
    })
    .await;
    let app = hub.argo.app("web-shard-5").await;
    assert_eq!(app["status"]["sync"]["comparedTo"]["destination"]["server"], new_server, "{app}");
    assert_eq!(app["status"]["sync"]["status"], "Synced");
    assert_eq!(recorder.synced.lock().unwrap().len(), 2, "synced again, to the new server");

    // Suspended (a paused canary): waits unless accepted.
    *recorder.health.lock().unwrap() = Some(("Suspended".into(), "Rollout is paused".into()));
    app_when(&hub, "web-shard-5", |a| a["status"]["health"]["status"] == "Suspended").await;
    let short = "  wait_for_sync {\n    min_applications = 1\n    timeout = \"3s\"\n  }";
    rewrite(&ws, &moto, &hub, &body(new_server, "\"a\"", short));
    let ws = blocking(move || {
        ws.fails(
            &["apply", "-auto-approve", "-no-color", "-input=false"],
            &["Applications not Synced and Healthy", "web-shard-5: sync Synced, health Suspended (Rollout is paused)"],
        );
        ws
    })
    .await;
    let accept = "  wait_for_sync {\n    min_applications = 1\n    accept_suspended = true\n  }";
    rewrite(&ws, &moto, &hub, &body(new_server, "\"a\"", accept));
    let ws = blocking(move || {
        ws.apply();
        ws
    })
    .await;
    *recorder.health.lock().unwrap() = None;

    // Argo CD cannot get into the cluster any more: the write (new exec args) makes it compare
    // again, and the wait fails at once with its ComparisonError.
    let error = "the server has asked for the client to provide credentials";
    argo_cd.cluster_fails(new_server, error);
    let long = "  wait_for_sync {\n    min_applications = 1\n    timeout = \"10m\"\n  }";
    rewrite(&ws, &moto, &hub, &body(new_server, "\"b\"", long));
    let started = Instant::now();
    let run = blocking(move || ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"], &[])).await;
    let text = run.flat();
    for needle in [
        "Argo CD cannot sync the cluster",
        "web-shard-5: ComparisonError: Failed to load target state: failed to get cluster version for cluster",
        error,
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert!(started.elapsed() < Duration::from_secs(60), "at once, not at the 10m timeout");
    assert!(argo_cd.errors().is_empty(), "{:?}", argo_cd.errors());
}

/// An Application that targets the cluster by `destination.name` records only the name in
/// `comparedTo` (argo-cd `CompareAppState`), so after `server` changes in place (the EKS cluster
/// recreated under the same name) its old Synced/Healthy verdict looks current by the spec. It
/// is judged against the server this registration wrote instead: a comparison older than that
/// write is the old cluster's. The new cluster refuses Argo CD at first: the wait must fail with
/// the ComparisonError, not succeed on the old verdict (as it did before: the apply returned at
/// once), and once Argo CD gets in, the apply returns after it synced to the new server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_by_name_is_judged_against_the_server_written() {
    let moto = Moto::start();
    let hub = hub_namespace("argocd-byname").await;
    let recorder = std::sync::Arc::new(Recorder::default());
    let argo_cd = ArgoCdController::start(
        hub.kube.admin_client(),
        &hub.ns,
        Duration::from_secs(3),
        Some(recorder.clone() as std::sync::Arc<dyn Workload>),
    );
    application_set_with(
        &hub,
        "web",
        json!({ "matchLabels": { "fleet": "shards" } }),
        Json::Null,
        json!({ "name": "{{name}}", "namespace": "web" }),
        Json::Null,
    )
    .await;
    let body = |server: &str| {
        registration(&format!(
            "  name = \"shard-13\"\n  server = \"{server}\"\n  labels = {{ fleet = \"shards\" }}\n  exec {{\n    command = \"argocd-k8s-auth\"\n  }}\n  wait_for_sync {{\n    min_applications = 1\n    timeout = \"5m\"\n  }}"
        ))
    };
    let ws = workspace(&moto, &hub, &body("https://old.shard-13.example.com"));
    let ws = blocking(move || {
        ws.init();
        ws.apply();
        ws
    })
    .await;
    let app = hub.argo.app("web-shard-13").await;
    assert_eq!(app["status"]["sync"]["comparedTo"]["destination"], json!({ "name": "shard-13", "namespace": "web" }));

    let new_server = "https://new.shard-13.example.com";
    argo_cd.cluster_fails(new_server, "Unauthorized");
    rewrite(&ws, &moto, &hub, &body(new_server));
    let started = Instant::now();
    let ws = blocking(move || {
        ws.fails(
            &["apply", "-auto-approve", "-no-color", "-input=false"],
            &["Argo CD cannot sync the cluster", "web-shard-13: ComparisonError", new_server, "Unauthorized"],
        );
        ws
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(60), "at once, not at the timeout");

    argo_cd.cluster_recovers(new_server);
    let ws = blocking(move || {
        ws.apply();
        ws.assert_plan_empty();
        ws
    })
    .await;
    let app = hub.argo.app("web-shard-13").await;
    assert_eq!(app["status"]["sync"]["status"], "Synced");
    assert_eq!(recorder.synced.lock().unwrap().len(), 2, "synced again, to the new cluster");
    assert!(argo_cd.errors().is_empty(), "{:?}", argo_cd.errors());
    drop(ws);
}

/// What to wait for: `application_sets` holds the wait until each named ApplicationSet has
/// generated an Application for the cluster and it is ready (after a second ApplicationSet
/// starts selecting the cluster, say); `application_selector` (a label selector, as
/// `argocd app wait -l`) narrows the wait to the Applications it selects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wait_covers_the_application_sets_and_labels_named() {
    let moto = Moto::start();
    let hub = hub_namespace("argocd-what").await;
    let recorder = std::sync::Arc::new(Recorder::default());
    *recorder.degraded_prefix.lock().unwrap() = Some("batch-".into());
    let argo_cd = ArgoCdController::start(
        hub.kube.admin_client(),
        &hub.ns,
        Duration::from_millis(600),
        Some(recorder.clone() as std::sync::Arc<dyn Workload>),
    );
    let selector = json!({ "matchLabels": { "fleet": "shards" } });
    let server = json!({ "server": "{{server}}", "namespace": "web" });
    application_set_with(&hub, "web", selector.clone(), Json::Null, server.clone(), json!({ "tier": "web" })).await;
    let body = |wait: &str| {
        registration(&format!(
            "  name = \"shard-14\"\n  server = \"https://shard-14.example.com\"\n  labels = {{ fleet = \"shards\" }}\n  exec {{\n    command = \"argocd-k8s-auth\"\n  }}\n{wait}"
        ))
    };
    let ws = workspace(
        &moto,
        &hub,
        &body("  wait_for_sync {\n    min_applications = 1\n    application_sets = [\"web\", \"api\"]\n  }"),
    );
    let ws = blocking(move || {
        ws.init();
        ws
    })
    .await;
    let mut apply = Running::start(&ws, &["apply", "-auto-approve", "-no-color", "-input=false"]);
    app_when(&hub, "web-shard-14", |a| a["status"]["sync"]["status"] == "Synced").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(apply.running(), "ApplicationSet api has generated nothing for the cluster yet");
    application_set_with(&hub, "api", selector.clone(), Json::Null, server.clone(), json!({ "tier": "web" })).await;
    let (ok, _, text) = blocking(move || apply.finish()).await;
    assert!(ok, "{text}");
    let api = hub.argo.app("api-shard-14").await;
    assert_eq!(api["status"]["sync"]["status"], "Synced", "the apply returned once api-shard-14 was ready: {api}");

    // A third ApplicationSet whose Application never gets healthy: outside the selector, it
    // does not hold the wait; without the selector it does.
    application_set_with(&hub, "batch", selector, Json::Null, server, json!({ "tier": "batch" })).await;
    app_when(&hub, "batch-shard-14", |a| a["status"]["health"]["status"] == "Degraded").await;
    rewrite(
        &ws,
        &moto,
        &hub,
        &body(
            "  wait_for_sync {\n    min_applications = 2\n    application_selector = \"tier in (web), fleet!=other\"\n  }",
        ),
    );
    let ws = blocking(move || {
        ws.apply();
        let apps = ws.state_of(R)["applications"].clone();
        let names: Vec<&str> = apps.as_array().unwrap().iter().filter_map(|a| a["name"].as_str()).collect();
        assert_eq!(names, vec!["api-shard-14", "web-shard-14"], "the selected Applications");
        ws
    })
    .await;
    rewrite(
        &ws,
        &moto,
        &hub,
        &body(
            "  wait_for_sync {\n    min_applications = 3\n    application_selector = \"tier=web\"\n    timeout = \"2s\"\n  }",
        ),
    );
    let ws = blocking(move || {
        ws.fails(
            &["apply", "-auto-approve", "-no-color", "-input=false"],
            &["2 Applications matching \"tier=web\" target shard-14, at least 3 expected"],
        );
        ws
    })
    .await;
    rewrite(&ws, &moto, &hub, &body("  wait_for_sync {\n    min_applications = 1\n    timeout = \"2s\"\n  }"));
    blocking(move || {
        ws.fails(
            &["apply", "-auto-approve", "-no-color", "-input=false"],
            &["batch-shard-14: sync Synced, health Degraded"],
        );
    })
    .await;
    assert!(argo_cd.errors().is_empty(), "{:?}", argo_cd.errors());
}

/// Destroy takes this resource's labels off with a server-side apply under its field manager:
/// a label another manager also holds (a fleet operator applying `fleet = shards`) is left to
/// that manager, so a generator that selects on it keeps the cluster, and destroy says so at
/// once, changing nothing. Before, a JSON merge patch deleted the label from under the other
/// manager and the destroy went ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_leaves_labels_other_managers_hold() {
    let moto = Moto::start();
    let hub = hub_namespace("argocd-colabel").await;
    let recorder = std::sync::Arc::new(Recorder::default());
    let argo_cd = ArgoCdController::start(
        hub.kube.admin_client(),
        &hub.ns,
        Duration::from_millis(200),
        Some(recorder.clone() as std::sync::Arc<dyn Workload>),
    );
    application_set(&hub, "web", json!({ "matchLabels": { "fleet": "shards" } }), Json::Null).await;
    let ws = workspace(
        &moto,
        &hub,
        &registration(
            "  name = \"shard-15\"\n  server = \"https://shard-15.example.com\"\n  labels = { fleet = \"shards\", env = \"prod\" }\n  exec {\n    command = \"argocd-k8s-auth\"\n  }",
        ),
    );
    let ws = blocking(move || {
        ws.init();
        ws.apply();
        ws
    })
    .await;
    recorder.wait_synced("web-shard-15").await;
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(hub.kube.admin_client(), &hub.ns);
    let fleet_operator = |labels: Json| {
        let secrets = secrets.clone();
        async move {
            let body = json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "cluster-shard-15", "labels": labels } });
            secrets
                .patch(
                    "cluster-shard-15",
                    &kube::api::PatchParams::apply("fleet-operator"),
                    &kube::api::Patch::Apply(&body),
                )
                .await
                .expect("the fleet operator's apply");
        }
    };
    fleet_operator(json!({ "fleet": "shards", "owner": "platform" })).await;
    let started = Instant::now();
    let ws = blocking(move || {
        ws.fails(
            &["destroy", "-auto-approve", "-no-color", "-input=false"],
            &[
                "Applications would stay on the cluster",
                "ApplicationSet web still selects the cluster",
                "Nothing was changed",
            ],
        );
        ws
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(30), "at once");
    let c = hub.argo.cluster("cluster-shard-15").await.expect("the Secret stays");
    assert_eq!((c.labels["fleet"].as_str(), c.labels["env"].as_str()), ("shards", "prod"), "{:?}", c.labels);
    assert!(argo_cd.orphaned().is_empty());

    // The operator lets go of `fleet` (keeps `owner`): destroy takes the cluster out of the
    // generator, Argo CD deletes the workload, then the Secret goes.
    fleet_operator(json!({ "owner": "platform" })).await;
    blocking(move || ws.destroy()).await;
    assert_eq!(*recorder.pruned.lock().unwrap(), vec!["web-shard-15"]);
    assert!(hub.argo.secret("cluster-shard-15").await.is_none());
    assert!(argo_cd.orphaned().is_empty() && argo_cd.errors().is_empty(), "{:?}", argo_cd.errors());
}

/// The exclusive create's answer is lost (the connection drops after the API server stored the
/// Secret): the call is retried and meets its own Secret (409 AlreadyExists). That Secret holds
/// exactly what was sent and only this create wrote it, so it is this registration's: the apply
/// goes on. Before, it failed with "The cluster is registered in Argo CD already".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_is_lost_is_not_a_rival() {
    let moto = Moto::start();
    let hub = hub_namespace("argocd-lostcreate").await;
    let proxy = support::kube::KubeFaultProxy::start(&hub.kube);
    let provider = ProviderHcl::new(&moto.endpoint).hub(&format!(
        "    host = \"{}\"\n    token = \"{}\"\n    argocd_namespace = \"{}\"",
        proxy.host,
        hub.kube.connection().admin_token,
        hub.ns
    ));
    proxy.set_rules(json!([{ "method": "POST", "path": "/secrets", "drop_after_forward": true, "times": 1 }]));
    let ws = Workspace::new(&moto);
    ws.write_with(
        &provider,
        &registration(
            "  name = \"shard-lost\"\n  server = \"https://shard-lost.example.com\"\n  labels = { fleet = \"shards\" }\n  exec {\n    command = \"argocd-k8s-auth\"\n  }\n  wait_for_removal = false",
        ),
    );
    let ws = blocking(move || {
        ws.init();
        ws.apply();
        ws.assert_plan_empty();
        ws
    })
    .await;
    let writes: Vec<(String, u16, bool)> = proxy
        .requests()
        .into_iter()
        .filter(|(m, p, ..)| m != "GET" && p.contains("/secrets"))
        .map(|(m, _, s, i)| (m, s, i))
        .collect();
    assert_eq!(
        writes,
        vec![("POST".into(), 201, true), ("POST".into(), 409, false), ("PATCH".into(), 200, false)],
        "the create landed, its answer was lost, the retry met it, then the apply: {:?}",
        proxy.requests_raw()
    );
    let c = hub.argo.cluster("cluster-shard-lost").await.expect("the Secret");
    assert_eq!(c.labels["fleet"], "shards");
    blocking(move || ws.destroy()).await;
    assert!(hub.argo.secret("cluster-shard-lost").await.is_none());
}

/// A second registration of a cluster Argo CD knows already (the CLI's `cluster-<host>-<hash>`
/// Secret) is refused before anything is written; renaming a cluster warns that templates using
/// `{{name}}` redeploy it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_registered_twice_is_refused_and_a_rename_warns() {
    let moto = Moto::start();
    let hub = hub_namespace("argocd-twice").await;
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(hub.kube.admin_client(), &hub.ns);
    let cli: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": { "name": "cluster-shard-6.example.com-1417440521", "labels": { "argocd.argoproj.io/secret-type": "cluster" } },
        "type": "Opaque",
        "data": { "name": b64("shard-6.example.com"), "server": b64("https://shard-6.example.com"), "config": b64("{}") }
    }))
    .unwrap();
    secrets.create(&Default::default(), &cli).await.expect("the CLI's Secret");
    let body = |name: &str, server: &str| {
        registration(&format!(
            "  name = \"{name}\"\n  server = \"{server}\"\n  exec {{\n    command = \"argocd-k8s-auth\"\n  }}"
        ))
    };
    let ws = workspace(&moto, &hub, &body("shard-6", "https://shard-6.example.com/"));
    let ws = blocking(move || {
        ws.init();
        ws.fails(
            &["apply", "-auto-approve", "-no-color", "-input=false"],
            &[
                "The cluster is registered in Argo CD already",
                "cluster-shard-6.example.com-1417440521 registers the same server https://shard-6.example.com",
            ],
        );
        ws
    })
    .await;
    assert!(hub.argo.secret("cluster-shard-6").await.is_none(), "nothing written");

    rewrite(&ws, &moto, &hub, &body("shard-7", "https://shard-7.example.com"));
    let ws = blocking(move || {
        ws.apply();
        ws
    })
    .await;
    rewrite(&ws, &moto, &hub, &body("shard-7b", "https://shard-7.example.com"));
    blocking(move || {
        let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
        let text = plan.flat();
        assert!(
            text.contains("Renaming the cluster redeploys its Applications") && text.contains("{{name}}"),
            "{text}"
        );
    })
    .await;
}

/// Settings of `config` others own (a proxy, the TLS server name, compression, keys Argo CD adds
/// later) are left as they are: not drift, and kept when the registration writes `config`
/// again. Before, they were reported as unmanaged drift and removed by the next apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_others_own_in_the_config_are_left_alone() {
    let moto = Moto::start();
    let hub = hub_namespace("argocd-foreign").await;
    let body = |env: &str| {
        registration(&format!(
            "  name = \"shard-9\"\n  server = \"https://shard-9.example.com\"\n  labels = {{ env = \"{env}\" }}\n  exec {{\n    command = \"argocd-k8s-auth\"\n    api_version = \"client.authentication.k8s.io/v1beta1\"\n  }}"
        ))
    };
    let ws = workspace(&moto, &hub, &body("a"));
    let ws = blocking(move || {
        ws.init();
        ws.apply();
        ws
    })
    .await;
    let mut config = hub.argo.cluster("cluster-shard-9").await.unwrap().config;
    config["proxyUrl"] = json!("http://proxy.internal:3128");
    config["disableCompression"] = json!(true);
    config["tlsClientConfig"]["serverName"] = json!("kubernetes.internal");
    hub.argo.edit_config("cluster-shard-9", "platform-team", &config).await;
    rewrite(&ws, &moto, &hub, &body("b"));
    blocking(move || {
        let run = ws.ok(&["plan", "-no-color", "-input=false"]);
        assert!(!run.flat().contains("changed outside Terraform"), "{}", run.text());
        ws.apply();
    })
    .await;
    let c = hub.argo.cluster("cluster-shard-9").await.unwrap();
    assert_eq!(c.labels["env"], "b", "the update was written");
    assert_eq!(c.config["proxyUrl"], "http://proxy.internal:3128");
    assert_eq!(c.config["disableCompression"], true);
    assert_eq!(c.config["tlsClientConfig"]["serverName"], "kubernetes.internal");
    assert_eq!(c.config["execProviderConfig"]["command"], "argocd-k8s-auth");
}

/// The ApplicationSet controller's own policy (`argocd-cmd-params-cm`
/// `applicationsetcontroller.policy`) wins over an ApplicationSet that says nothing: with
/// `create-only` the Applications would stay, so destroy refuses at once, changing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_honours_the_application_set_controllers_own_policy() {
    let moto = Moto::start();
    let hub = hub_namespace("argocd-ctlpolicy").await;
    let configmaps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(hub.kube.admin_client(), &hub.ns);
    let params: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(json!({
        "metadata": { "name": "argocd-cmd-params-cm" },
        "data": { "applicationsetcontroller.policy": "create-only" }
    }))
    .unwrap();
    configmaps.create(&Default::default(), &params).await.expect("argocd-cmd-params-cm");
    let recorder = std::sync::Arc::new(Recorder::default());
    let argo_cd = ArgoCdController::start(
        hub.kube.admin_client(),
        &hub.ns,
        Duration::from_millis(200),
        Some(recorder.clone() as std::sync::Arc<dyn Workload>),
    );
    application_set(&hub, "web", json!({ "matchLabels": { "fleet": "shards" } }), Json::Null).await;
    let ws = workspace(
        &moto,
        &hub,
        &registration(
            "  name = \"shard-12\"\n  server = \"https://shard-12.example.com\"\n  labels = { fleet = \"shards\" }\n  aws_auth {\n    cluster_name = \"shard-12\"\n  }",
        ),
    );
    let ws = blocking(move || {
        ws.init();
        ws.apply();
        ws
    })
    .await;
    recorder.wait_synced("web-shard-12").await;
    blocking(move || {
        ws.fails(
            &["destroy", "-auto-approve", "-no-color", "-input=false"],
            &[
                "Applications would stay on the cluster",
                "policy create-only, from the ApplicationSet controller's policy (argocd-cmd-params-cm)",
                "Nothing was changed",
            ],
        );
    })
    .await;
    let c = hub.argo.cluster("cluster-shard-12").await.expect("the Secret stays");
    assert_eq!(c.labels.get("fleet").map(String::as_str), Some("shards"));
    assert!(argo_cd.errors().is_empty(), "{:?}", argo_cd.errors());
}

/// Applications Argo CD would keep (a create-only ApplicationSet, one made by hand) fail the
/// destroy at once, changing nothing; `wait_for_removal = false` is the explicit way out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_refuses_at_once_when_argo_cd_would_keep_the_applications() {
    let moto = Moto::start();
    let hub = hub_namespace("argocd-keep").await;
    let recorder = std::sync::Arc::new(Recorder::default());
    let _argo_cd = ArgoCdController::start(
        hub.kube.admin_client(),
        &hub.ns,
        Duration::from_millis(200),
        Some(recorder.clone() as std::sync::Arc<dyn Workload>),
    );
    application_set(
        &hub,
        "keep",
        json!({ "matchLabels": { "fleet": "kept" } }),
        json!({ "applicationsSync": "create-only" }),
    )
    .await;
    let body = |wait: bool| {
        registration(&format!(
            "  name = \"shard-4\"\n  server = \"https://shard-4.example.com\"\n  labels = {{ fleet = \"kept\" }}\n  aws_auth {{\n    cluster_name = \"shard-4\"\n  }}\n  wait_for_removal = {wait}"
        ))
    };
    let ws = workspace(&moto, &hub, &body(true));
    let ws = blocking(move || {
        ws.init();
        ws.apply();
        ws
    })
    .await;
    recorder.wait_synced("keep-shard-4").await;
    hub.argo.generate("by-hand-shard-4", Dest::Name("shard-4".into()), false).await;
    let started = Instant::now();
    let ws = blocking(move || {
        ws.fails(
            &["destroy", "-auto-approve", "-no-color", "-input=false"],
            &[
                "Applications would stay on the cluster",
                "ApplicationSet keep keeps the Applications it no longer generates (policy create-only, from its syncPolicy.applicationsSync)",
                "by-hand-shard-4 was not generated by an ApplicationSet",
                "Nothing was changed",
            ],
        );
        ws
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(30), "at once, not at the timeout");
    let c = hub.argo.cluster("cluster-shard-4").await.expect("the Secret stays");
    assert_eq!(c.labels.get("fleet").map(String::as_str), Some("kept"), "its labels too");
    rewrite(&ws, &moto, &hub, &body(false));
    blocking(move || {
        ws.apply();
        ws.destroy();
    })
    .await;
    assert!(hub.argo.secret("cluster-shard-4").await.is_none(), "deleted on explicit opt-out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_token_is_write_only_and_an_edited_token_is_drift() {
    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.shard-3-token-never-stored";
    const ROTATED: &str = "eyJhbGciOiJSUzI1NiJ9.shard-3-rotated-never-stored";
    let moto = Moto::start();
    let hub = hub_namespace("argocd-token").await;
    let pem = rcgen::generate_simple_self_signed(vec!["shard-3.example.com".into()]).unwrap().cert.pem();
    // The token comes in as it would in a real stack: an ephemeral, sensitive variable (here from
    // a tfvars file; in CI from the environment or a secrets manager).
    let body = |version: i64| {
        format!(
            "variable \"shard_token\" {{\n  type      = string\n  sensitive = true\n  ephemeral = true\n}}\n\n{}",
            registration(&format!(
                "  name = \"shard-3\"\n  server = \"https://shard-3.example.com:6443/\"\n  ca_data = \"{}\"\n  bearer_token = var.shard_token\n  bearer_token_version = {version}",
                b64(&pem)
            ))
        )
    };
    let ws = Workspace::new(&moto).with_env("TF_LOG", "TRACE").with_env("TF_LOG_PROVIDER", "TRACE");
    let set_token = |ws: &Workspace, token: &str| {
        std::fs::write(ws.path("token.auto.tfvars"), format!("shard_token = \"{token}\"\n")).unwrap();
    };
    set_token(&ws, TOKEN);
    rewrite(&ws, &moto, &hub, &body(1));
    let ws = blocking(move || {
        ws.init();
        ws.apply();
        ws
    })
    .await;
    let c = hub.argo.cluster("cluster-shard-3").await.unwrap();
    assert_eq!(c.server, "https://shard-3.example.com:6443");
    assert_eq!(
        c.config,
        json!({ "bearerToken": TOKEN, "tlsClientConfig": { "insecure": false, "caData": b64(&format!("{}\n", pem.trim_end())) } })
    );
    // Nowhere but in the Secret: not in state, plan, show, or TRACE logs.
    let ws = blocking(move || {
        ws.ok(&["plan", "-no-color", "-input=false", "-out=tfplan"]);
        let plan_json = ws.ok(&["show", "-json", "-no-color", "tfplan"]).stdout;
        let show = ws.ok(&["show", "-json", "-no-color"]).stdout;
        let state = support::read(&ws.path("terraform.tfstate"));
        let log = support::read(&ws.path("terraform.log"));
        assert!(log.contains("ApplyResourceChange"), "the TRACE log was written");
        for (what, text) in [("plan", &plan_json), ("show -json", &show), ("state", &state), ("TRACE log", &log)] {
            assert!(!text.contains(TOKEN), "the token is in the {what}");
            assert!(!text.contains(&b64(TOKEN)), "the token (base64) is in the {what}");
        }
        assert_eq!(ws.state_of(R)["bearer_token"], Json::Null);
        ws
    })
    .await;

    // Someone edits the token in the Secret: Terraform cannot see the token, but the hash of the
    // one it wrote (private state) no longer matches, so the plan writes it again.
    let mut edited = c.config.clone();
    edited["bearerToken"] = json!("some-other-token");
    hub.argo.edit_config("cluster-shard-3", "kubectl-edit", &edited).await;
    let ws = blocking(move || {
        let plan = ws.plan();
        assert_eq!(plan.code, 2, "{}", plan.text());
        let text = plan.flat();
        assert!(text.contains("bearer_token_version") && text.contains("not the one Terraform wrote"), "{text}");
        ws.apply();
        ws
    })
    .await;
    assert_eq!(hub.argo.cluster("cluster-shard-3").await.unwrap().config["bearerToken"], TOKEN);

    // Rotation: a new token with a new version.
    set_token(&ws, ROTATED);
    rewrite(&ws, &moto, &hub, &body(2));
    let ws = blocking(move || {
        ws.apply();
        ws
    })
    .await;
    assert_eq!(hub.argo.cluster("cluster-shard-3").await.unwrap().config["bearerToken"], ROTATED);
    let ws = blocking(move || {
        let log = support::read(&ws.path("terraform.log"));
        let state = support::read(&ws.path("terraform.tfstate"));
        assert!(!log.contains(ROTATED) && !state.contains(ROTATED));
        ws
    })
    .await;
    drop(ws);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_manager_403_and_an_unreachable_hub_are_explained() {
    let moto = Moto::start();
    let hub = hub_namespace("argocd-errors").await;

    // A cluster Secret the Argo CD CLI wrote (argocd-server's field manager) is not overwritten.
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(hub.kube.admin_client(), &hub.ns);
    let cli_config = json!({ "bearerToken": "cli-token", "tlsClientConfig": { "insecure": false } });
    let existing: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": { "name": "cluster-shard-7", "labels": { "argocd.argoproj.io/secret-type": "cluster" },
                      "annotations": { "managed-by": "argocd.argoproj.io" } },
        "type": "Opaque",
        "data": { "name": b64("shard-7"), "server": b64("https://shard-7.example.com"), "config": b64(&cli_config.to_string()) }
    }))
    .unwrap();
    let params = kube::api::PostParams { field_manager: Some("argocd-server".into()), ..Default::default() };
    secrets.create(&params, &existing).await.expect("the CLI's Secret");
    let body = |force: bool| {
        registration(&format!(
            "  name = \"shard-7\"\n  server = \"https://shard-7.example.com\"\n  exec {{\n    command = \"argocd-k8s-auth\"\n  }}\n  force_conflicts = {force}"
        ))
    };
    let ws = workspace(&moto, &hub, &body(false));
    let ws = blocking(move || {
        ws.init();
        ws.fails(
            &["apply", "-auto-approve", "-no-color", "-input=false"],
            &["is managed by someone else", "\"argocd-server\" owns .data.config", "force_conflicts"],
        );
        ws
    })
    .await;
    let c = hub.argo.cluster("cluster-shard-7").await.unwrap();
    assert_eq!(c.config, cli_config, "nothing was overwritten");
    // Explicit opt-in: the fields are taken over.
    rewrite(&ws, &moto, &hub, &body(true));
    let ws = blocking(move || {
        ws.apply();
        ws
    })
    .await;
    let c = hub.argo.cluster("cluster-shard-7").await.unwrap();
    assert_eq!(
        c.config,
        json!({
            // An exec without api_version gets the one client-go accepts (argo-cd passes it through).
            "execProviderConfig": { "command": "argocd-k8s-auth", "apiVersion": "client.authentication.k8s.io/v1beta1" },
            "tlsClientConfig": { "insecure": false }
        })
    );
    drop(ws);

    // 403: the `limited` user may read Secrets in limited-ns, not write them.
    let limited = Workspace::new(&moto);
    let hcl = ProviderHcl::new(&moto.endpoint).hub(&hub_as(
        &hub.kube,
        support::kube::LIMITED_NAMESPACE,
        &hub.kube.connection().limited_token,
    ));
    limited.write_with(
        &hcl,
        &registration(
            "  name = \"shard-403\"\n  server = \"https://shard-403.example.com\"\n  exec {\n    command = \"x\"\n  }",
        ),
    );
    let host = hub.kube.host().to_string();
    blocking(move || {
        limited.init();
        limited.fails(
            &["apply", "-auto-approve", "-no-color", "-input=false"],
            &["Kubernetes permission denied", &host, "create secrets/cluster-shard-403 in namespace limited-ns", "403"],
        );
    })
    .await;

    // Unreachable hub: named, after a few quick retries.
    let closed = format!("https://127.0.0.1:{}", support::free_port());
    let gone = Workspace::new(&moto);
    let hcl = ProviderHcl::new(&moto.endpoint).hub(&format!("    host = \"{closed}\"\n    token = \"x\""));
    gone.write_with(
        &hcl,
        &registration(
            "  name = \"shard-x\"\n  server = \"https://shard-x.example.com\"\n  exec {\n    command = \"x\"\n  }",
        ),
    );
    let started = Instant::now();
    blocking(move || {
        gone.init();
        gone.fails(
            &["apply", "-auto-approve", "-no-color", "-input=false"],
            &["Kubernetes API server unreachable", &format!("could not reach {closed}")],
        );
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// A hub that accepts connections and never answers: the registration's apply ends at its
/// create timeout and says it timed out, naming the call; before the one Kubernetes call
/// helper, the deadline was wrapped as a connection error and reported as "API server
/// unreachable".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_hub_times_out_at_the_deadline_and_says_so() {
    let moto = Moto::start();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn); // accepted, never answered
        }
    });
    let ws = Workspace::new(&moto);
    let hcl = ProviderHcl::new(&moto.endpoint).hub(&format!("    host = \"{hung}\"\n    token = \"x\""));
    ws.write_with(
        &hcl,
        &registration(
            "  name = \"shard-h\"\n  server = \"https://shard-h.example.com\"\n  exec {\n    command = \"x\"\n  }\n  timeouts {\n    create = \"4s\"\n  }",
        ),
    );
    let started = Instant::now();
    let run = blocking(move || {
        ws.init();
        ws.fails(
            &["apply", "-auto-approve", "-no-color", "-input=false"],
            &[
                "Kubernetes call timed out",
                "list secrets in namespace argocd",
                &format!("on {hung} timed out after 4s"),
            ],
        )
    })
    .await;
    assert!(!run.flat().contains("unreachable"), "{}", run.text());
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_fails_at_plan_and_writes_nothing() {
    let moto = Moto::start();
    let hub = hub_namespace("argocd-bad").await;
    let ok_auth = "  exec {\n    command = \"argocd-k8s-auth\"\n  }";
    let cases: Vec<(String, Vec<&str>)> = vec![
        (format!("  name = \"s\"\n{ok_auth}"), vec!["No server", "set server (the cluster's API URL) or eks_cluster_name"]),
        ("  name = \"s\"\n  server = \"https://s.example.com\"".into(), vec!["No credentials for Argo CD"]),
        (
            format!("  name = \"s\"\n  server = \"https://s.example.com\"\n{ok_auth}\n  aws_auth {{\n    cluster_name = \"s\"\n  }}"),
            vec!["Several credentials for Argo CD"],
        ),
        (
            "  name = \"s\"\n  server = \"https://s.example.com\"\n  bearer_token = \"t\"".into(),
            vec!["bearer_token_version is required with bearer_token"],
        ),
        (
            "  name = \"s\"\n  server = \"https://s.example.com\"\n  aws_auth {\n    role_arn = \"arn:aws:iam::111122223333:role/r\"\n  }".into(),
            vec!["No EKS cluster name for awsAuthConfig", "aws_auth.cluster_name"],
        ),
        (
            format!("  name = \"s\"\n  server = \"https://s.example.com\"\n{ok_auth}\n  labels = {{ \"-bad\" = \"x\" }}"),
            vec!["Invalid label key", "-bad"],
        ),
        (
            format!("  name = \"s\"\n  server = \"https://s.example.com\"\n{ok_auth}\n  labels = {{ env = \"has space\" }}"),
            vec!["Invalid label value", "has space"],
        ),
        (
            format!("  name = \"s\"\n  server = \"https://s.example.com\"\n{ok_auth}\n  labels = {{ \"argocd.argoproj.io/secret-type\" = \"x\" }}"),
            vec!["Reserved label"],
        ),
        (
            format!("  name = \"s\"\n  server = \"https://s.example.com\"\n{ok_auth}\n  ca_data = \"not a certificate\""),
            vec!["Invalid value for ca_data", "-----BEGIN CERTIFICATE-----"],
        ),
        (
            format!("  name = \"s\"\n  server = \"https://s.example.com\"\n{ok_auth}\n  secret_name = \"Cluster_S\""),
            vec!["Invalid value for secret_name", "not a valid Kubernetes object name"],
        ),
        (
            format!("  name = \"s\"\n  server = \"https://s.example.com\"\n{ok_auth}\n  namespace = \"Argo CD\""),
            vec!["Invalid value for namespace"],
        ),
        (format!("  name = \"s\"\n  server = \"s.example.com\"\n{ok_auth}"), vec!["Invalid value for server", "\"s.example.com\" is not a URL"]),
        // What Argo CD (client-go) would refuse later.
        (
            format!("  name = \"s\"\n  server = \"https://s.example.com\"\n{ok_auth}\n  insecure = true\n  ca_data = \"not a certificate\""),
            vec!["insecure excludes ca_data"],
        ),
        (
            format!("  name = \"s\"\n  server = \"https://s.example.com\"\n{ok_auth}\n  cluster_resources = true"),
            vec!["cluster_resources needs namespaces"],
        ),
        (
            "  name = \"s\"\n  server = \"https://s.example.com\"\n  aws_auth {\n    cluster_name = \"s\"\n    role_arn = \"argocd\"\n  }".into(),
            vec!["Invalid value for role_arn", "is not an IAM role ARN"],
        ),
        (
            format!("  name = \"s\"\n  server = \"https://s.example.com\"\n{ok_auth}\n  project = \"Team A\""),
            vec!["Invalid value for project"],
        ),
        (
            format!("  name = \"s\"\n  server = \"https://s.example.com\"\n{ok_auth}\n  wait_for_sync {{\n    min_applications = -1\n  }}"),
            vec!["Invalid value for min_applications", "between 0 and 100000"],
        ),
        (
            format!("  name = \"s\"\n  server = \"https://s.example.com\"\n{ok_auth}\n  wait_for_sync {{\n    timeout = \"soon\"\n  }}"),
            vec!["Invalid value for timeout"],
        ),
        (
            format!("  name = \"s\"\n  server = \"https://s.example.com\"\n{ok_auth}\n  wait_for_sync {{\n    application_selector = \"tier in (web\"\n  }}"),
            vec!["Invalid value for application_selector", "unbalanced '('"],
        ),
        (
            format!("  name = \"s\"\n  server = \"https://s.example.com\"\n{ok_auth}\n  namespaces = [\"web\", \"Bad_NS\"]"),
            vec!["Invalid namespace", "Bad_NS"],
        ),
    ];
    let ws = workspace(&moto, &hub, &registration(&cases[0].0));
    let ws = blocking(move || {
        ws.init();
        ws
    })
    .await;
    let ws = blocking(move || {
        for (body, needles) in &cases {
            std::fs::write(
                ws.path("main.tf"),
                support::read(&ws.path("main.tf")).split("resource \"shard_argocd").next().unwrap().to_string()
                    + &registration(body),
            )
            .unwrap();
            ws.fails(&["plan", "-no-color", "-input=false"], needles);
        }
        ws
    })
    .await;
    assert!(hub.kube.writes(&hub.ns, "secrets").is_empty(), "a Secret was written");
    assert!(hub.kube.audit(&hub.ns).is_empty(), "nothing reached the API server: {:#?}", hub.kube.audit(&hub.ns));
    drop(ws);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ephemeral_eks_token_configures_a_second_provider() {
    let kube = KubeBench::shared();
    let ns = kube.namespace("argocd-eks").await;
    let argo = Argo::new(kube.admin_client(), &ns);
    let cluster = kube.connection().eks_cluster_id.clone();
    // EKS describes cluster `bench` as the bench's API server, which takes EKS tokens for it.
    let moto = Moto::start_eks(&[(cluster.as_str(), kube.host(), kube.connection().ca_file.as_path())]);
    let (endpoint, ca) = eks_cluster(&moto, &cluster).await;
    assert_eq!(endpoint, kube.host());
    let m = &moto.endpoint;
    let body = |token_for: &str| {
        format!(
            r#"
data "shard_eks_cluster" "hub" {{
  name = "{cluster}"
}}

ephemeral "shard_eks_token" "hub" {{
  cluster_name = "{token_for}"
}}

provider "shard" {{
  alias  = "via_token"
  region = "us-east-1"
  endpoints {{
    elbv2 = "{m}"
    eks   = "{m}"
    sts   = "{m}"
  }}
  hub {{
    host                   = data.shard_eks_cluster.hub.endpoint
    cluster_ca_certificate = data.shard_eks_cluster.hub.ca_data
    token                  = ephemeral.shard_eks_token.hub.token
    argocd_namespace       = "{ns}"
  }}
}}

resource "shard_argocd_cluster_registration" "via_token" {{
  provider = shard.via_token
  name     = "shard-11"
  server   = "https://shard-11.example.com"
  aws_auth {{
    cluster_name = "shard-11"
  }}
}}

resource "shard_argocd_cluster_registration" "via_eks" {{
  name   = "shard-12"
  server = "https://shard-12.example.com"
  aws_auth {{
    cluster_name = "shard-12"
  }}
}}
"#
        )
    };
    // The default provider reaches the hub by EKS cluster name (DescribeCluster + in-process token).
    let hcl =
        ProviderHcl::new(m).hub(&format!("    eks_cluster_name = \"{cluster}\"\n    argocd_namespace = \"{ns}\""));
    let ws = Workspace::new(&moto);
    ws.write_with(&hcl, &body(&cluster));
    let ws = blocking(move || {
        ws.init();
        ws.apply();
        ws
    })
    .await;
    assert!(argo.cluster("cluster-shard-11").await.is_some());
    assert!(argo.cluster("cluster-shard-12").await.is_some());
    // Written as the IAM identity STS confirmed for the token, not as a static user.
    let writers: Vec<String> = kube.writes(&ns, "secrets").into_iter().map(|e| e.user).collect();
    assert_eq!(writers.len(), 4, "a create and an apply per registration: {writers:?}");
    assert!(writers.iter().all(|u| u.starts_with("aws:arn:aws:")), "{writers:?}");

    let (ws, data) = blocking(move || {
        let show = ws.ok(&["show", "-json", "-no-color"]).stdout;
        let state = support::read(&ws.path("terraform.tfstate"));
        let log = support::read(&ws.path("terraform.log"));
        for text in [&show, &state, &log] {
            assert!(!text.contains("k8s-aws-v1."), "an EKS token reached the state or the log");
        }
        let resources = serde_json::from_str::<Json>(&show).unwrap()["values"]["root_module"]["resources"].clone();
        let modes: Vec<&str> = resources.as_array().unwrap().iter().filter_map(|r| r["mode"].as_str()).collect();
        assert!(!modes.contains(&"ephemeral"), "ephemeral resources are not in state: {modes:?}");
        let data = ws.state_of("data.shard_eks_cluster.hub");
        (ws, data)
    })
    .await;
    assert_eq!(data["endpoint"], kube.host());
    assert_eq!(data["ca_data"].as_str().map(str::trim), Some(ca.trim()));
    assert_eq!(data["status"], "ACTIVE");
    assert!(data["version"].as_str().is_some_and(|v| !v.is_empty()));
    assert!(data["oidc_issuer_url"].as_str().is_some_and(|v| v.starts_with("https://oidc.eks.")), "{data}");
    assert!(data["arn"].as_str().is_some_and(|v| v.ends_with(&format!(":cluster/{cluster}"))));

    // A token signed for another cluster is refused by the hub (the signature binds the name).
    ws.write_with(&hcl, &body("some-other-cluster"));
    blocking(move || {
        ws.fails(&["plan", "-no-color", "-input=false"], &["Kubernetes credentials refused", "401"]);
    })
    .await;
}

/// An overloaded or restarting hub: 503, 429 and a plain 409 (no field-manager conflict) are
/// retried with backoff, so the apply succeeds; a hub that keeps failing is given up on after a
/// bounded number of attempts, with the status in the error. Faults come from
/// tests/fixtures/kube_fault_proxy.py in front of the API server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_hub_failures_are_retried_and_persistent_ones_reported() {
    let moto = Moto::start();
    let hub = hub_namespace("argocd-faults").await;
    let proxy = support::kube::KubeFaultProxy::start(&hub.kube);
    let provider = ProviderHcl::new(&moto.endpoint).hub(&format!(
        "    host = \"{}\"\n    token = \"{}\"\n    argocd_namespace = \"{}\"",
        proxy.host,
        hub.kube.connection().admin_token,
        hub.ns
    ));
    // No wait_for_* here: the proxy does not pass watches through.
    let body = |name: &str| {
        registration(&format!(
            "  name = \"{name}\"\n  server = \"https://{name}.example.com\"\n  exec {{\n    command = \"argocd-k8s-auth\"\n  }}\n  wait_for_removal = false"
        ))
    };
    let secret_patches = |p: &support::kube::KubeFaultProxy| -> Vec<(u16, bool)> {
        p.requests()
            .into_iter()
            .filter(|(m, path, ..)| m == "PATCH" && path.contains("/secrets/"))
            .map(|(_, _, s, i)| (s, i))
            .collect()
    };

    proxy.set_rules(json!([
        { "method": "PATCH", "path": "/secrets/", "status": 503, "times": 1 },
        { "method": "PATCH", "path": "/secrets/", "status": 429, "times": 1 },
        { "method": "PATCH", "path": "/secrets/", "status": 409, "times": 1 },
    ]));
    let ws = Workspace::new(&moto);
    ws.write_with(&provider, &body("shard-flaky"));
    let ws = blocking(move || {
        ws.init();
        ws.apply();
        ws
    })
    .await;
    assert_eq!(
        secret_patches(&proxy),
        vec![(503, true), (429, true), (409, true), (200, false)],
        "three transient failures, then the write (after the exclusive create: 200, not 201)"
    );
    assert_eq!(
        hub.argo.cluster("cluster-shard-flaky").await.expect("the Secret").server,
        "https://shard-flaky.example.com"
    );

    // Destroy through a failing DELETE.
    proxy.set_rules(json!([{ "method": "DELETE", "path": "/secrets/", "status": 500, "times": 1 }]));
    let ws = blocking(move || {
        ws.destroy();
        ws
    })
    .await;
    let deletes: Vec<u16> =
        proxy.requests().into_iter().filter(|(m, ..)| m == "DELETE").map(|(_, _, s, _)| s).collect();
    assert_eq!(deletes, vec![500, 200], "the failed DELETE was retried");
    assert!(hub.argo.cluster("cluster-shard-flaky").await.is_none(), "the Secret is gone");
    drop(ws);

    // A hub that keeps answering 503: a bounded number of attempts, then a clear error.
    proxy.set_rules(json!([{ "method": "PATCH", "path": "/secrets/", "status": 503, "times": 1000 }]));
    let before = secret_patches(&proxy).len();
    let ws = Workspace::new(&moto);
    ws.write_with(&provider, &body("shard-down"));
    let started = Instant::now();
    let host = proxy.host.clone();
    blocking(move || {
        ws.init();
        ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"], &[&host, "503"]);
    })
    .await;
    let attempts = secret_patches(&proxy).len() - before;
    assert_eq!(attempts, 5, "5 attempts of the write, then give up");
    assert!(started.elapsed() < Duration::from_secs(60), "gave up in {:?}", started.elapsed());
}

/// Issue 16: two shard directories register the same cluster at the same moment. The Secret is
/// created exclusively (a POST: 409 AlreadyExists for the second), so exactly one wins and the
/// other fails naming the Secret and when it was written, instead of a server-side apply by the
/// same field manager silently overwriting the first (last writer wins).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_registrations_of_one_cluster_let_exactly_one_win() {
    let moto = Moto::start();
    let hub = hub_namespace("argocd-race").await;
    let body = |who: &str| {
        registration(&format!(
            "  name = \"shard-race\"\n  server = \"https://shard-race.example.com\"\n  exec {{\n    command = \"argocd-k8s-auth\"\n  }}\n  labels = {{\n    dir = \"{who}\"\n  }}"
        ))
    };
    let a = workspace(&moto, &hub, &body("a"));
    let b = workspace(&moto, &hub, &body("b"));
    let (a, b, results) = blocking(move || {
        a.init();
        b.init();
        let runs = [&a, &b].map(|ws| ws.spawn(&["apply", "-auto-approve", "-no-color", "-input=false"]));
        let results = runs.map(support::finish);
        (a, b, results)
    })
    .await;
    let winners: Vec<usize> = (0..2).filter(|&i| results[i].0).collect();
    assert_eq!(winners.len(), 1, "exactly one registration wins: {results:#?}");
    let loser = 1 - winners[0];
    let text = &results[loser].1;
    for needle in ["The cluster is registered in Argo CD already", "cluster-shard-race", "Nothing was overwritten"] {
        assert!(text.contains(needle), "{needle:?} in the loser's error:\n{text}");
    }
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(hub.kube.admin_client(), &hub.ns);
    let live = secrets.get("cluster-shard-race").await.expect("the winner's Secret");
    let dir = live.metadata.labels.unwrap_or_default().get("dir").cloned();
    assert_eq!(dir.as_deref(), Some(["a", "b"][winners[0]]), "the Secret is the winner's, untouched by the loser");
    let first = winners[0];
    blocking(move || {
        let winner = if first == 0 { &a } else { &b };
        winner.assert_plan_empty();
    })
    .await;
}

/// Terraform 1.14+ `terraform query`: a hub with clusters registered outside this directory
/// (by hand and by another directory) is adopted through generated import blocks and
/// configuration whose plan holds nothing but the imports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_adopts_the_clusters_registered_on_the_hub() {
    if !support::terraform_at_least(1, 14) {
        eprintln!("skipped: list resources need Terraform 1.14 or later");
        return;
    }
    let moto = Moto::start_eks(&[]);
    let hub = hub_namespace("argocd-query").await;
    eks_cluster(&moto, "shard-7").await;
    let owner = workspace(
        &moto,
        &hub,
        &registration(&format!(
            "  name = \"shard-7\"\n  eks_cluster_name = \"shard-7\"\n  labels = {{ fleet = \"shards\" }}\n  aws_auth {{ role_arn = \"{ROLE}\" }}"
        )),
    );
    let owner = blocking(move || {
        owner.init();
        owner.apply();
        owner
    })
    .await;
    // Another cluster, registered by something else (with a label the query filters on), and a
    // Secret that is not a cluster Secret (never listed).
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(hub.kube.admin_client(), &hub.ns);
    for (name, fleet) in [("cluster-by-hand", "shards"), ("cluster-other-fleet", "tools")] {
        // The EKS cluster it registers, with the endpoint and CA EKS describes.
        let (server, ca) = eks_cluster(&moto, name).await;
        let config = json!({ "awsAuthConfig": { "clusterName": name },
                             "tlsClientConfig": { "insecure": false, "caData": b64(&ca) } });
        let secret = json!({
            "metadata": { "name": name, "labels": { "argocd.argoproj.io/secret-type": "cluster", "fleet": fleet } },
            "stringData": { "name": name, "server": server, "config": config.to_string() }
        });
        secrets
            .create(&kube::api::PostParams::default(), &serde_json::from_value(secret).unwrap())
            .await
            .expect("create a cluster Secret by hand");
    }
    let adopter = workspace(&moto, &hub, "");
    std::fs::write(
        adopter.path("hub.tfquery.hcl"),
        format!(
            "list \"shard_argocd_cluster_registration\" \"fleet\" {{\n  provider = shard\n  config {{\n    namespace = \"{}\"\n    label_selector = \"fleet=shards\"\n  }}\n}}\n",
            hub.ns
        ),
    )
    .unwrap();
    let adopter = blocking(move || {
        adopter.init();
        let listed = adopter.ok(&["query", "-no-color"]);
        assert!(listed.stdout.contains("shard-7 (https://"), "{}", listed.stdout);
        assert!(listed.stdout.contains("cluster-by-hand"), "{}", listed.stdout);
        assert!(!listed.stdout.contains("cluster-other-fleet"), "the selector was not applied:\n{}", listed.stdout);
        adopter.ok(&["query", "-no-color", "-generate-config-out=generated.tf"]);
        let generated = support::read(&adopter.path("generated.tf"));
        assert_eq!(generated.matches("import {").count(), 2, "{generated}");
        assert!(
            generated.contains("secret_name = \"cluster-shard-7\"") || generated.contains("cluster-shard-7"),
            "{generated}"
        );
        std::fs::remove_file(adopter.path("hub.tfquery.hcl")).unwrap();
        let plan = adopter.ok(&["plan", "-no-color", "-input=false"]);
        assert!(
            plan.stdout.contains("2 to import, 0 to add, 0 to change, 0 to destroy"),
            "{}\n{generated}",
            plan.stdout
        );
        adopter.apply();
        adopter
    })
    .await;
    assert!(hub.argo.cluster("cluster-by-hand").await.is_some());
    drop(adopter);
    drop(owner);
}
