//! Kubernetes faults during watches (issue 16, hardening): the provider's waits follow
//! kube-runtime watches, and tests/fixtures/kube_fault_proxy.py in front of the bench's API
//! server drops them mid-stream, ends them with an in-stream `ERROR` 410 Expired, answers them
//! with 410, 429 or 5xx, or delays their start. Each wait must end correctly: success when the
//! stand-in controller reaches the goal during the faults (and an empty plan after), a clear
//! error naming what was last seen otherwise, and never later than its timeout.
//!
//! Watches as the API server serves them, and 410 Gone: see
//! https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes and
//! https://kubernetes.io/docs/reference/using-api/api-concepts/#410-gone-responses

mod support;

use serde_json::{Value as Json, json};
use std::time::{Duration, Instant};
use support::argocd::{Argo, Dest};
use support::kube::{KubeBench, KubeFaultProxy};
use support::rollouts::{self, RolloutController};
use support::{ProviderHcl, Workspace};

/// These tests make no AWS call: the provider's AWS endpoints point at a closed port.
const NO_AWS: &str = "http://127.0.0.1:9";

/// Runs a blocking Terraform step from async code.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking step")
}

/// The proxy's log lines for watches of `resource`: (status, what was injected, if anything).
fn watches(proxy: &KubeFaultProxy, resource: &str) -> Vec<(u16, String)> {
    proxy
        .requests_raw()
        .into_iter()
        .filter(|l| l.starts_with("GET ") && l.contains(&format!("/{resource}?")) && l.contains("watch="))
        .map(|l| {
            let mut it = l.split(' ').skip(2);
            let status = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            let what =
                if it.next() == Some("injected") { it.next().unwrap_or("status").to_string() } else { String::new() };
            (status, what)
        })
        .collect()
}

/// Lists (not watches) of `resource` the proxy passed.
fn lists(proxy: &KubeFaultProxy, resource: &str) -> usize {
    proxy
        .requests()
        .into_iter()
        .filter(|(m, p, ..)| m == "GET" && p.contains(&format!("/{resource}")) && !p.contains("watch="))
        .count()
}

/// A registration of `name` on the hub behind `proxy`, with `wait`.
fn registration_workspace(proxy: &KubeFaultProxy, kube: &KubeBench, ns: &str, name: &str, wait: &str) -> Workspace {
    let provider = ProviderHcl::new(NO_AWS).hub(&format!(
        "    host = \"{}\"\n    token = \"{}\"\n    argocd_namespace = \"{ns}\"",
        proxy.host,
        kube.connection().admin_token
    ));
    let body = format!(
        "resource \"shard_argocd_cluster_registration\" \"this\" {{\n  name = \"{name}\"\n  server = \"https://{name}.example.com\"\n  exec {{\n    command = \"argocd-k8s-auth\"\n  }}\n  wait_for_removal = false\n{wait}\n}}\n"
    );
    let ws = Workspace::with_aws_endpoint(NO_AWS);
    ws.write_with(&provider, &body);
    ws.init();
    ws
}

/// `wait_for_sync` while the Applications watch is cut mid-stream three times, ended once with
/// an in-stream 410 Expired, answered once with an HTTP 410 and cut once more after a second:
/// the watcher resumes (and lists again after each 410) and the apply succeeds once the
/// stand-in makes the Application Synced and Healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_sync_survives_dropped_and_expired_watches() {
    let kube = KubeBench::shared();
    let ns = kube.namespace("watch-faults-sync").await;
    let argo = Argo::new(kube.admin_client(), &ns);
    let proxy = KubeFaultProxy::start(&kube);
    let name = "shard-w1";
    argo.generate("web-shard-w1", Dest::Server(format!("https://{name}.example.com")), false).await;
    argo.status("web-shard-w1", "OutOfSync", "Progressing", "step 0").await;
    let rules = json!([
        { "path": "/applications", "watch": true, "drop_after_events": 1, "times": 3 },
        { "path": "/applications", "watch": true, "gone_after_events": 1 },
        { "path": "/applications", "watch": true, "status": 410 },
        { "path": "/applications", "watch": true, "drop_after_seconds": 1 },
    ]);
    proxy.set_rules(rules);
    let wait = "  wait_for_sync {\n    min_applications = 1\n    timeout = \"40s\"\n  }";
    let ws = registration_workspace(&proxy, &kube, &ns, name, wait);
    let started = Instant::now();
    let apply = tokio::task::spawn_blocking(move || {
        let r = ws.run(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        (ws, r)
    });
    // The stand-in: the Application's status changes every 300 ms (events for the proxy to cut)
    // until every fault was injected, then it is Synced and Healthy.
    let injected = |p: &KubeFaultProxy| watches(p, "applications").iter().filter(|(_, w)| !w.is_empty()).count();
    let mut step = 0;
    while injected(&proxy) < 6 && started.elapsed() < Duration::from_secs(25) {
        step += 1;
        argo.status("web-shard-w1", "OutOfSync", "Progressing", &format!("step {step}")).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let healthy_at = Instant::now();
    argo.status("web-shard-w1", "Synced", "Healthy", "").await;
    let (ws, r) = apply.await.unwrap();
    let seen = watches(&proxy, "applications");
    assert_eq!(r.code, 0, "apply failed:\n{}\nwatches: {seen:?}", r.text());
    eprintln!(
        "wait_for_sync under watch faults: {} ms in all, returned {} ms after Healthy; watches {seen:?}",
        started.elapsed().as_millis(),
        healthy_at.elapsed().as_millis()
    );
    let kinds: Vec<&str> = seen.iter().map(|(_, w)| w.as_str()).filter(|w| !w.is_empty()).collect();
    assert_eq!(
        kinds,
        [
            "drop-after-1-events",
            "drop-after-1-events",
            "drop-after-1-events",
            "gone-after-1-events",
            "status",
            "drop-after-1s"
        ],
        "every fault was injected, in order: {seen:?}"
    );
    assert!(seen.iter().any(|(s, _)| *s == 410), "{seen:?}");
    // The initial list, and one more after the in-stream 410 (kube-runtime lists again on an
    // ERROR 410 event; a watch *start* answered 410 is retried from the same resourceVersion).
    assert!(lists(&proxy, "applications") >= 2, "{:?}", proxy.requests());
    assert!(started.elapsed() < Duration::from_secs(40), "took {:?}", started.elapsed());
    blocking(move || ws.assert_plan_empty()).await;
}

/// A kubeconfig reaching the bench's API server through `proxy` as admin.
fn proxy_kubeconfig(proxy: &KubeFaultProxy, kube: &KubeBench) -> std::path::PathBuf {
    let path = proxy.dir().join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: proxy\n  cluster:\n    server: {}\nusers:\n- name: admin\n  user:\n    token: {}\ncontexts:\n- name: proxy\n  context:\n    cluster: proxy\n    user: admin\ncurrent-context: proxy\n",
        proxy.host,
        kube.connection().admin_token
    );
    std::fs::write(&path, text).expect("write the proxy kubeconfig");
    path
}

/// The rollout gate's promote wait while its Rollout watch is refused with 429, then 503
/// twice, then starts 2 s late: the gate promotes the pause, sees the stand-in finish the step
/// through the resumed watch, and the apply succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_gate_promote_survives_refused_and_slow_watches() {
    let kube = KubeBench::shared();
    let ns = kube.namespace("watch-faults-gate").await;
    let client = kube.admin_client();
    let controller = RolloutController::start(client.clone(), &ns);
    let steps = json!([{ "setWeight": 10 }, { "pause": {} }, { "setWeight": 30 }, { "pause": {} }]);
    rollouts::create(&client, &ns, &rollouts::canary("api", steps, false)).await;
    let wait = |what: &'static str, pred: Box<dyn Fn(&Json) -> bool + Send>| {
        let (client, ns) = (client.clone(), ns.clone());
        async move { rollouts::wait_for(&client, &ns, "api", Duration::from_secs(30), what, pred).await }
    };
    wait("the first revision Healthy", Box::new(rollouts::healthy)).await.unwrap_or_else(|e| panic!("{e}"));
    rollouts::set_image(&client, &ns, "api", "registry.example/app:2").await;
    wait("the pause at step 1", Box::new(rollouts::paused_at(1)))
        .await
        .unwrap_or_else(|e| panic!("{e}; controller: {:?}", controller.errors()));

    let proxy = KubeFaultProxy::start(&kube);
    proxy.set_rules(json!([
        { "path": "/rollouts", "watch": true, "status": 429 },
        { "path": "/rollouts", "watch": true, "status": 503, "times": 2 },
        { "path": "/rollouts", "watch": true, "delay": 2 },
    ]));
    let config = proxy_kubeconfig(&proxy, &kube);
    let body = format!(
        "resource \"shard_rollout_gate\" \"api\" {{\n  namespace = \"{ns}\"\n  name      = \"api\"\n  cluster {{\n    config_path = \"{}\"\n  }}\n  promote_to_step = 2\n  timeouts {{\n    create = \"40s\"\n  }}\n}}\n",
        config.display()
    );
    let started = Instant::now();
    let ws = tokio::task::spawn_blocking(move || {
        let ws = Workspace::with_aws_endpoint(NO_AWS);
        ws.write_with(&ProviderHcl::new(NO_AWS), &body);
        ws.init();
        let r = ws.run(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        (ws, r)
    });
    let (ws, r) = ws.await.unwrap();
    // The last watch is logged when it ends: when the provider went away.
    let logged = Instant::now();
    while watches(&proxy, "rollouts").len() < 4 && logged.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = watches(&proxy, "rollouts");
    assert_eq!(r.code, 0, "apply failed:\n{}\nwatches: {seen:?}", r.text());
    eprintln!("rollout gate under watch faults: {} ms (with init); watches {seen:?}", started.elapsed().as_millis());
    let kinds: Vec<(u16, &str)> = seen.iter().map(|(s, w)| (*s, w.as_str())).take(4).collect();
    assert_eq!(kinds, [(429, "status"), (503, "status"), (503, "status"), (200, "delay")], "{seen:?}");
    let st = blocking(move || {
        ws.assert_plan_empty();
        ws.state_of("shard_rollout_gate.api")
    })
    .await;
    assert!(st["current_step"].as_i64().unwrap_or(0) >= 2, "{st:#}");
    assert!(started.elapsed() < Duration::from_secs(45), "took {:?}", started.elapsed());
    assert!(controller.errors().is_empty(), "{:?}", controller.errors());
}

/// Every watch answered 503: with a short `timeout` the wait ends at its timeout, naming the
/// Applications' state and the watch failure; with a long one it gives up after a bounded
/// number of failures in a row, naming the 503. Never a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_that_always_fails_ends_the_wait_clearly() {
    let kube = KubeBench::shared();
    let ns = kube.namespace("watch-faults-down").await;
    let argo = Argo::new(kube.admin_client(), &ns);
    let proxy = KubeFaultProxy::start(&kube);
    argo.generate("web-shard-w3", Dest::Server("https://shard-w3.example.com".into()), false).await;
    argo.status("web-shard-w3", "OutOfSync", "Progressing", "rolling out").await;
    proxy.set_rules(json!([{ "path": "/applications", "watch": true, "status": 503, "times": 1000 }]));

    let ws = registration_workspace(
        &proxy,
        &kube,
        &ns,
        "shard-w3",
        "  wait_for_sync {\n    min_applications = 1\n    timeout = \"5s\"\n  }",
    );
    let started = Instant::now();
    let ws = blocking(move || {
        ws.fails(
            &["apply", "-auto-approve", "-no-color", "-input=false"],
            &[
                "Applications not Synced and Healthy",
                "waited 5",
                "web-shard-w3: sync OutOfSync, health Progressing",
                "watch interrupted",
                "503",
            ],
        );
        ws
    })
    .await;
    let short = started.elapsed();
    eprintln!("every watch 503, timeout 5s: apply failed after {} ms", short.as_millis());
    assert!(short < Duration::from_secs(5 + 8), "the apply outlasted its 5s wait: {short:?}");
    assert!(watches(&proxy, "applications").len() >= 2, "the watch was retried");
    drop(ws);

    // A long timeout: kube-runtime's backoff between attempts, and after 5 failures in a row the
    // wait gives up with the status, long before its timeout.
    let ws = registration_workspace(
        &proxy,
        &kube,
        &ns,
        "shard-w3b",
        "  wait_for_sync {\n    min_applications = 1\n    timeout = \"5m\"\n  }",
    );
    let before = watches(&proxy, "applications").len();
    let started = Instant::now();
    let host = proxy.host.clone();
    blocking(move || {
        ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"], &[&host, "503", "watch"]);
    })
    .await;
    let long = started.elapsed();
    let attempts = watches(&proxy, "applications").len() - before;
    eprintln!("every watch 503, timeout 5m: apply failed after {} ms, {attempts} watch attempts", long.as_millis());
    assert_eq!(attempts, 5, "5 watch attempts in a row, then give up");
    assert!(long < Duration::from_secs(40), "gave up after {long:?}");
}

/// Every watch *start* answered with an HTTP 410: kube-runtime retries the watch from the same
/// (too old) resourceVersion rather than listing again, so it can never recover; the wait gives
/// up after 5 such answers in a row, naming the 410, instead of retrying until its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_start_always_answered_410_is_given_up_on_before_the_timeout() {
    let kube = KubeBench::shared();
    let ns = kube.namespace("watch-faults-gone").await;
    let argo = Argo::new(kube.admin_client(), &ns);
    let proxy = KubeFaultProxy::start(&kube);
    argo.generate("web-shard-w4", Dest::Server("https://shard-w4.example.com".into()), false).await;
    argo.status("web-shard-w4", "OutOfSync", "Progressing", "rolling out").await;
    proxy.set_rules(json!([{ "path": "/applications", "watch": true, "status": 410, "times": 1000 }]));
    let ws = registration_workspace(
        &proxy,
        &kube,
        &ns,
        "shard-w4",
        "  wait_for_sync {\n    min_applications = 1\n    timeout = \"60s\"\n  }",
    );
    let started = Instant::now();
    let host = proxy.host.clone();
    blocking(move || {
        ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"], &[&host, "410", "watch applications"]);
    })
    .await;
    let took = started.elapsed();
    let attempts = watches(&proxy, "applications").len();
    eprintln!(
        "every watch start 410, timeout 60s: apply failed after {} ms, {attempts} watch attempts",
        took.as_millis()
    );
    assert_eq!(attempts, 5, "5 watch attempts in a row, then give up");
    assert!(took < Duration::from_secs(40), "retried until the timeout: {took:?}");
}

/// Watches cut (no final chunk) every 0.5 s before any event, six times in a row: a cut is not a
/// failure (kube-runtime resumes the watch), so the wait still succeeds once the Application is
/// Healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_cut_before_any_event_do_not_count_as_failures() {
    let kube = KubeBench::shared();
    let ns = kube.namespace("watch-faults-idle").await;
    let argo = Argo::new(kube.admin_client(), &ns);
    let proxy = KubeFaultProxy::start(&kube);
    argo.generate("web-shard-w5", Dest::Server("https://shard-w5.example.com".into()), false).await;
    argo.status("web-shard-w5", "OutOfSync", "Progressing", "rolling out").await;
    proxy.set_rules(json!([{ "path": "/applications", "watch": true, "drop_after_seconds": 0.5, "times": 6 }]));
    let wait = "  wait_for_sync {\n    min_applications = 1\n    timeout = \"30s\"\n  }";
    let ws = registration_workspace(&proxy, &kube, &ns, "shard-w5", wait);
    let apply = tokio::task::spawn_blocking(move || {
        let r = ws.run(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        (ws, r)
    });
    let started = Instant::now();
    while watches(&proxy, "applications").len() < 6 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    argo.status("web-shard-w5", "Synced", "Healthy", "").await;
    let (ws, r) = apply.await.unwrap();
    let seen = watches(&proxy, "applications");
    assert_eq!(r.code, 0, "apply failed:\n{}\nwatches: {seen:?}", r.text());
    assert!(seen.iter().filter(|(_, w)| w == "drop-after-0.5s").count() >= 6, "{seen:?}");
    blocking(move || ws.assert_plan_empty()).await;
}
