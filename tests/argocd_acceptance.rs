//! `shard_argocd_cluster_registration`, `shard_eks_cluster` and `shard_eks_token` with the real
//! Terraform CLI, moto (EKS as AWS describes it: tests/fixtures/eks_moto.py) and the bench's real
//! kube-apiserver as the Argo CD hub. No Argo controller runs: the test plays Argo CD
//! (support::argocd), generating the Applications an ApplicationSet would and writing their
//! status. Requests the API server received are counted from its audit log.

mod support;

use serde_json::{Value as Json, json};
use std::path::Path;
use std::time::{Duration, Instant};
use support::argocd::{Argo, Dest, b64};
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

    // Create: one DescribeCluster and one server-side apply, nothing else.
    let log_from = log_len(&ws);
    let ws = blocking(move || {
        ws.ok(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        ws
    })
    .await;
    let requests = hub.kube.audit(&hub.ns);
    assert_eq!(requests.len(), 1, "one request for a registration without waiting: {requests:#?}");
    assert_eq!((requests[0].verb.as_str(), requests[0].resource.as_str()), ("patch", "secrets"));
    assert!(requests[0].uri.contains("fieldManager=terraform-provider-shard"), "{}", requests[0].uri);
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
    let state = blocking({
        let ws_dir = ws.dir.clone();
        move || ws_dir
    })
    .await;
    let _ = state;
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

    // Destroy: the Secret goes (no Application targets the cluster, so no wait).
    rewrite(&ws, &moto, &hub, &body("staging"));
    blocking(move || ws.destroy()).await;
    assert!(hub.argo.secret("cluster-shard-2").await.is_none());
}

#[allow(dead_code)]
fn unused(_: &Path, _: Instant, _: Duration, _: Json, _: Dest) {}
