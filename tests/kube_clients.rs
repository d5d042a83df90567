//! The provider's Kubernetes connections against the bench's real kube-apiserver: each source
//! (host + token, kubeconfig, exec plugin, EKS), one client per connection, and the messages for
//! 401, 403, TLS, DNS and unreachable servers. Also the framework's wait helper following a real
//! watch: met, deadline, StopProvider.
//!
//! No Argo controller runs here: the tests write Application status themselves, as Argo CD's
//! application controller would.

mod support;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use shard_provider::clients::aws::{AwsClients, AwsSettings};
use shard_provider::clients::eks_token;
use shard_provider::clients::kubernetes::{Call, Connection, DirectAuth, ExecBlock, KubeClients, KubeError, Source};
use shard_provider::framework::{Attr, Check, Ctx, WaitError};
use std::sync::Arc;
use std::time::Duration;
use support::kube::{KubeBench, LIMITED_NAMESPACE};
use tokio_util::sync::CancellationToken;

fn no_aws() -> AwsClients {
    AwsClients::new(AwsSettings { region: Some("us-east-1".into()), ..Default::default() })
}

fn direct(bench: &KubeBench, auth: DirectAuth) -> Source {
    Source::Direct { host: bench.host().to_string(), ca_pem: Some(bench.ca_pem()), insecure: false, auth }
}

fn admin(bench: &KubeBench) -> Source {
    direct(bench, DirectAuth::Token(bench.connection().admin_token.clone()))
}

fn ctx(limit: Duration) -> Ctx<()> {
    Ctx::new(Arc::new(()), CancellationToken::new(), limit)
}

/// Lists namespaces through the provider's client and call helper; the error as the provider
/// reports it.
async fn list_namespaces(clients: &KubeClients, source: &Source) -> Result<usize, KubeError> {
    let ctx = ctx(Duration::from_secs(60));
    let c = clients.connect(&ctx, &no_aws(), source).await?;
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(c.client.clone());
    let params = ListParams::default();
    c.call(&ctx, Call::new("list", "namespaces"), || api.list(&params)).await.map(|l| l.items.len())
}

#[tokio::test]
async fn host_ca_and_token_connect_and_the_client_is_built_once() {
    let bench = KubeBench::shared();
    let clients = KubeClients::default();
    let source = admin(&bench);
    assert!(list_namespaces(&clients, &source).await.expect("list namespaces") > 0);
    assert!(list_namespaces(&clients, &source).await.is_ok());
    assert_eq!(clients.built(), 1, "one client per connection per process");
    // Base64 of the PEM (as EKS outputs hand it out) is the same connection once resolved.
    let b64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bench.ca_pem())
    };
    let block = Connection {
        host: Attr::Known(bench.host().into()),
        cluster_ca_certificate: Attr::Known(b64),
        token: Attr::Known(bench.connection().admin_token.clone()),
        ..Default::default()
    };
    assert!(list_namespaces(&clients, &block.resolve().unwrap()).await.is_ok());
    assert_eq!(clients.built(), 1, "the normalised CA names the same connection");
}

#[tokio::test]
async fn a_kubeconfig_and_its_contexts() {
    let bench = KubeBench::shared();
    let clients = KubeClients::default();
    let path = bench.kubeconfig_path().display().to_string();
    let admin = Source::Kubeconfig { path: path.clone(), context: Some("bench".into()) };
    assert!(list_namespaces(&clients, &admin).await.is_ok());

    // The limited user: listing secrets outside its namespace is a 403 naming what was refused.
    let limited = Source::Kubeconfig { path: path.clone(), context: Some("bench-limited".into()) };
    let c = clients.client(&no_aws(), &limited).await.expect("limited client");
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(c.client.clone(), "default");
    let params = ListParams::default();
    let call = Call::new("list", "secrets").namespace("default");
    let err = c.call(&ctx(Duration::from_secs(30)), call, || secrets.list(&params)).await.expect_err("403");
    assert_eq!(err.status(), Some(403), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(bench.host()) && text.contains("list secrets in namespace default") && text.contains("403"),
        "{text}"
    );
    // The RBAC rule that is missing, in the terms a Role is written in.
    assert!(
        text.contains(
            "Grant it verbs [\"list\"] on resources [\"secrets\"] in apiGroups [\"\"], in a Role in namespace default"
        ),
        "{text}"
    );
    let allowed: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(c.client.clone(), LIMITED_NAMESPACE);
    assert!(allowed.list(&ListParams::default()).await.is_ok(), "its own namespace is allowed");

    let missing = Source::Kubeconfig { path: "/nonexistent/kubeconfig".into(), context: None };
    let err = clients.client(&no_aws(), &missing).await.err().expect("no such file");
    assert!(err.to_string().contains("/nonexistent/kubeconfig"), "{err}");
    let bad_context = Source::Kubeconfig { path, context: Some("nope".into()) };
    let err = clients.client(&no_aws(), &bad_context).await.err().expect("no such context");
    assert!(err.to_string().contains("nope"), "{err}");
}

#[tokio::test]
async fn an_exec_plugin_provides_the_token() {
    let bench = KubeBench::shared();
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("bench-auth");
    // A credential plugin as argocd-k8s-auth or aws-iam-authenticator would be: it prints an
    // ExecCredential; the token comes from the environment the block sets.
    std::fs::write(
        &plugin,
        "#!/bin/sh\nprintf '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s\"}}' \"$BENCH_TOKEN\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let exec = |token: &str| {
        direct(
            &bench,
            DirectAuth::Exec(ExecBlock {
                api_version: None,
                command: plugin.display().to_string(),
                args: Some(vec!["--cluster".into(), "bench".into()]),
                env: Some([("BENCH_TOKEN".to_string(), token.to_string())].into()),
            }),
        )
    };
    let clients = KubeClients::default();
    assert!(list_namespaces(&clients, &exec(&bench.connection().admin_token)).await.is_ok());
    let err = list_namespaces(&clients, &exec("not-a-token")).await.expect_err("401");
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(err.to_string().contains("refused the credentials"), "{err}");
}

/// Credential plugins that hang (a login prompt, a dead metadata service) never freeze the
/// provider: it runs them as child processes off its two async worker threads, with the
/// operation's deadline. kube-rs ran them with a blocking call on a worker: two of them stopped
/// every other call, deadline and Ctrl-C.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_credential_plugins_time_out_and_never_freeze_other_calls() {
    let bench = KubeBench::shared();
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("hangs");
    std::fs::write(&plugin, "#!/bin/sh\nexec sleep 600\n").unwrap();
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let clients = std::sync::Arc::new(KubeClients::default());
    let hung: Vec<_> = (0..2)
        .map(|i| {
            let clients = clients.clone();
            let source = direct(
                &bench,
                DirectAuth::Exec(ExecBlock {
                    api_version: None,
                    command: plugin.display().to_string(),
                    args: Some(vec![format!("--instance={i}")]),
                    env: None,
                }),
            );
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let r = clients.connect(&ctx(Duration::from_secs(4)), &no_aws(), &source).await.map(|_| ());
                (r, started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Both plugins hang; every worker thread is still free for other calls.
    let started = std::time::Instant::now();
    assert!(list_namespaces(&clients, &admin(&bench)).await.expect("list") > 0);
    assert!(started.elapsed() < Duration::from_secs(3), "another call waited {:?}", started.elapsed());
    for h in hung {
        let (r, took) = h.await.unwrap();
        let err = r.expect_err("the plugin never answers");
        assert!(matches!(err, KubeError::TimedOut { .. }), "{err:?}");
        assert!(took < Duration::from_secs(8), "ended at its deadline: {took:?}");
    }
}

#[tokio::test]
async fn unreachable_tls_and_dns_failures_name_the_host() {
    let bench = KubeBench::shared();
    let clients = KubeClients::default();
    let closed = format!("https://127.0.0.1:{}", support::free_port());
    let source = Source::Direct { host: closed.clone(), ca_pem: None, insecure: false, auth: DirectAuth::None };
    let err = list_namespaces(&clients, &source).await.expect_err("nothing listens");
    assert!(matches!(err, KubeError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains(&closed), "{err}");

    let dns = Source::Direct {
        host: "https://no-such-host.invalid:6443".into(),
        ca_pem: None,
        insecure: false,
        auth: DirectAuth::None,
    };
    let err = list_namespaces(&clients, &dns).await.expect_err("no such name");
    assert!(err.to_string().contains("DNS") && err.to_string().contains("no-such-host.invalid"), "{err}");

    // The right server with a CA that did not sign its certificate.
    let other_ca = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap().cert.pem();
    let wrong_ca = Source::Direct {
        host: bench.host().into(),
        ca_pem: Some(other_ca),
        insecure: false,
        auth: DirectAuth::Token(bench.connection().admin_token.clone()),
    };
    let err = list_namespaces(&clients, &wrong_ca).await.expect_err("untrusted certificate");
    assert!(matches!(err, KubeError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("cluster_ca_certificate"), "{err}");
}

/// A server that accepts connections and never answers (an API server stuck behind a load
/// balancer, a hung proxy): the call ends at the deadline and says so, and a stop is a stop.
/// Neither is an "unreachable" server (that was reported before the one call helper).
#[tokio::test]
async fn a_hung_server_is_a_timeout_or_a_stop_never_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn); // accepted, never read from or answered
        }
    });
    let clients = KubeClients::default();
    let source = Source::Direct { host: host.clone(), ca_pem: None, insecure: false, auth: DirectAuth::None };
    let c = clients.connect(&ctx(Duration::from_secs(5)), &no_aws(), &source).await.expect("client");
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(c.client.clone(), "argocd");
    let call = Call::new("get", "secrets").namespace("argocd").name("cluster-shard-2");

    let started = std::time::Instant::now();
    let err = c.call(&ctx(Duration::from_secs(2)), call.clone(), || api.get_opt("cluster-shard-2")).await.unwrap_err();
    assert!(matches!(err, KubeError::TimedOut { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("timed out after 2s") && text.contains(&host) && text.contains("get secrets/cluster-shard-2"),
        "{text}"
    );
    let diag = shard_provider::framework::Diagnostics::from(err).to_string();
    assert!(diag.contains("Kubernetes call timed out") && !diag.contains("unreachable"), "{diag}");
    assert!(started.elapsed() < Duration::from_secs(5), "ended at the deadline");

    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        stopper.cancel();
    });
    let stopping = Ctx::new(Arc::new(()), cancel, Duration::from_secs(600));
    let err = c.call(&stopping, call, || api.get_opt("cluster-shard-2")).await.unwrap_err();
    assert!(matches!(err, KubeError::Cancelled { .. }), "{err:?}");
    assert!(!shard_provider::framework::Diagnostics::from(err).to_string().contains("unreachable"));
}

/// moto stands in for EKS and STS: DescribeCluster works, but its certificateAuthority.data is
/// random text and its endpoint a fake host, so the client cannot be built; the token's shape is
/// checked against moto's STS instead.
#[tokio::test]
async fn eks_connections_describe_the_cluster_and_sign_tokens_sts_accepts() {
    let moto = support::Moto::start();
    let aws = moto.aws_clients();
    let clients = KubeClients::default();
    let err = clients.client(&aws, &Source::Eks { cluster: "shard-9".into() }).await.err().expect("no cluster");
    assert!(err.to_string().contains("EKS cluster shard-9") && err.to_string().contains("DescribeCluster"), "{err}");

    aws.eks()
        .await
        .unwrap()
        .create_cluster()
        .name("shard-2")
        .role_arn("arn:aws:iam::123456789012:role/eks")
        .resources_vpc_config(aws_sdk_eks::types::VpcConfigRequest::builder().subnet_ids("subnet-1").build())
        .send()
        .await
        .expect("moto CreateCluster");
    let err = clients.client(&aws, &Source::Eks { cluster: "shard-2".into() }).await.err().expect("moto's CA");
    assert!(err.to_string().contains("certificateAuthority.data is not usable"), "{err}");

    // The token: a presigned GetCallerIdentity that STS (moto here) answers.
    let sdk = aws.sdk().await.unwrap();
    let signer = eks_token::Signer {
        cluster: "shard-2".into(),
        region: "us-east-1".into(),
        sts_url: eks_token::sts_url(Some(&moto.endpoint), "us-east-1"),
        credentials: sdk.credentials_provider().unwrap(),
    };
    let token = signer.token().await.expect("sign");
    let url = {
        use base64::Engine;
        let b64 = token.strip_prefix(eks_token::TOKEN_PREFIX).expect("prefix");
        String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64).unwrap()).unwrap()
    };
    assert!(url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"), "{url}");
    let addr = moto.endpoint.trim_start_matches("http://").to_string();
    let path = url.trim_start_matches(&moto.endpoint).to_string();
    let response = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        // moto routes a request to a service by the credential scope of an Authorization header
        // (it checks no signature) and takes query-signed GETs for S3; repeat the URL's scope in
        // a header so the GET reaches its STS. The URL itself is sent as EKS would send it.
        let credential = path.split('&').find_map(|p| p.strip_prefix("X-Amz-Credential=")).unwrap().replace("%2F", "/");
        write!(
            s,
            "GET {path} HTTP/1.0\r\nHost: {addr}\r\nx-k8s-aws-id: shard-2\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host;x-k8s-aws-id, Signature=0\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("GetCallerIdentityResponse") && response.contains("<Arn>"), "{response}");
}

fn application() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"))
}

/// Synced and Healthy, from a watched Application.
fn synced(obj: &DynamicObject) -> Check<()> {
    let sync = obj.data["status"]["sync"]["status"].as_str().unwrap_or("none");
    let health = obj.data["status"]["health"]["status"].as_str().unwrap_or("none");
    if sync == "Synced" && health == "Healthy" {
        Check::Ready(())
    } else {
        Check::NotYet(format!("{}: sync {sync}, health {health}", obj.metadata.name.as_deref().unwrap_or("?")))
    }
}

async fn wait_for_app(
    api: &Api<DynamicObject>,
    name: &str,
    limit: Duration,
    cancel: CancellationToken,
) -> Result<(), WaitError<watcher::Error>> {
    let ctx = Ctx::new(Arc::new(()), cancel, limit);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let stream = kube::runtime::WatchStreamExt::applied_objects(watcher(api.clone(), config));
    ctx.watch(stream, |obj| synced(&obj)).await
}

#[tokio::test]
async fn the_wait_helper_follows_a_real_watch_until_met_deadline_or_stop() {
    let bench = KubeBench::shared();
    let ns = bench.namespace("wait").await;
    let api: Api<DynamicObject> = Api::namespaced_with(bench.admin_client(), &ns, &application());
    let app: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": { "name": "web-shard-2" },
        "spec": { "project": "default", "destination": { "name": "shard-2", "namespace": "web" },
                  "source": { "repoURL": "https://example.com/repo.git", "path": "web" } }
    }))
    .unwrap();
    api.create(&PostParams::default(), &app).await.expect("create Application");

    // Met: the "controller" (this test) reports Synced + Healthy a moment later.
    let writer = {
        let api = api.clone();
        tokio::spawn(async move {
            for (sync, health) in [("OutOfSync", "Progressing"), ("Synced", "Progressing"), ("Synced", "Healthy")] {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let patch = json!({ "status": { "sync": { "status": sync }, "health": { "status": health } } });
                api.patch("web-shard-2", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("status");
            }
        })
    };
    let started = std::time::Instant::now();
    wait_for_app(&api, "web-shard-2", Duration::from_secs(30), CancellationToken::new()).await.expect("met");
    assert!(started.elapsed() >= Duration::from_millis(800), "returned before the status was written");
    writer.await.unwrap();

    // Deadline: never healthy; the error carries the last state seen.
    let patch = json!({ "status": { "health": { "status": "Degraded" } } });
    api.patch("web-shard-2", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    match wait_for_app(&api, "web-shard-2", Duration::from_secs(2), CancellationToken::new()).await {
        Err(WaitError::TimedOut { last, .. }) => assert_eq!(last, "web-shard-2: sync Synced, health Degraded"),
        other => panic!("expected a timeout, got {other:?}"),
    }

    // StopProvider: cancelled promptly.
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        stopper.cancel();
    });
    let started = std::time::Instant::now();
    let r = wait_for_app(&api, "web-shard-2", Duration::from_secs(600), cancel).await;
    assert!(matches!(r, Err(WaitError::Cancelled)), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
