//! Keeps `make sandbox` honest: the shared module examples/stacks/modules/shard-delivery and the
//! sandbox's shard stack examples/sandbox/shard, which calls it, are formatted, valid for the real
//! Terraform CLI with this provider's schema, and their variable validations refuse what they
//! should; the data plane (dataplane.rs: the ALB's stand-in, the shards' pods, the load) follows
//! the listener, fails requests sent to stopped pods and publishes the ALB's metrics that
//! shard_weight's metric guard reads; and the driver itself (the example next to this file,
//! tests/sandbox/sandbox.rs) serves every request of the whole story but the sick release's own
//! 500s, which the metric guard stops, while its variant that upgrades a shard's nodes before the
//! drain returned loses some; and after every stage each shard's weighted DNS record (moto's Route
//! 53, written by the provider through tests/fixtures/route53_proxy.py) has its listener weight.

#[path = "../support/mod.rs"]
mod support;

mod dataplane;

use dataplane::{Backend, Load, Proxy, Route, Tally, Versions};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{Moto, Workspace, copy_files, project_root};

/// A workspace holding copies of the module and the sandbox stack, laid out as in the repository
/// (`sandbox/shard` calls `../../stacks/modules/shard-delivery`).
fn workspace() -> Workspace {
    // No AWS call should happen; if one does, it fails fast on a closed port.
    let ws = Workspace::with_aws_endpoint("http://127.0.0.1:9");
    let root = project_root();
    for (from, to) in [
        ("examples/stacks/modules/shard-delivery", "stacks/modules/shard-delivery"),
        ("examples/sandbox/shard", "sandbox/shard"),
    ] {
        copy_files(&root.join(from), &ws.path(to), &[".tf"]).unwrap();
    }
    ws
}

#[test]
fn the_module_and_the_sandbox_stack_are_formatted_and_valid() {
    let ws = workspace();
    ws.ok(&["fmt", "-check", "-recursive", "-no-color", "."]);
    ws.ok(&["-chdir=stacks/modules/shard-delivery", "validate", "-no-color"]);
    ws.ok(&["-chdir=sandbox/shard", "init", "-input=false", "-no-color"]);
    ws.ok(&["-chdir=sandbox/shard", "validate", "-no-color"]);
}

#[test]
fn the_module_refuses_bad_input_before_touching_anything() {
    let ws = workspace();
    ws.ok(&["-chdir=sandbox/shard", "init", "-input=false", "-no-color"]);
    let vars = [
        "-var=aws_endpoint=http://127.0.0.1:9",
        "-var=route53_endpoint=http://127.0.0.1:9",
        "-var=dns_zone_id=Z0123456789ABCDEFGHIJ",
        "-var=dns_address=198.51.100.2",
        "-var=hub_cluster_name=hub",
        "-var=name=shard-2",
        "-var=listener_arn=arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/a/1/2",
        "-var=target_group_arn=arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/3",
    ];
    let plan = |extra: &[&str], needle: &str| {
        let mut args = vec!["-chdir=sandbox/shard", "plan", "-input=false", "-no-color"];
        args.extend_from_slice(&vars);
        args.extend_from_slice(extra);
        ws.fails(&args, &[needle]);
    };
    plan(&["-var=weight=1000"], "weight must be a whole number from 0 to 999");
    plan(
        &[r#"-var=rollouts={ api = { namespace = "app", name = "api", promote_to_step = 2, promote_full = true } }"#],
        "A rollout gate takes promote_to_step or promote_full, not both.",
    );
}

// ---------------------------------------------------------------------------------------------
// The data plane

fn static_credentials() {
    // SAFETY: set at the start of a test, before its runtime starts threads that read them; every
    // test sets the same values.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
}

fn free_addr() -> SocketAddr {
    format!("127.0.0.1:{}", support::free_port()).parse().unwrap()
}

fn weight_in(route: &Route, tg: &str) -> Option<i32> {
    match route {
        Route::Forward(tgs) => tgs.iter().find(|(t, _)| t == tg).map(|(_, w)| *w),
        _ => None,
    }
}

fn served(t: &Tally, shard: &str) -> u64 {
    t.served.get(shard).copied().unwrap_or(0)
}

/// The proxy routes by the listener's weights as moto has them, a shard at weight 0 gets no new
/// request, a drain played in the runbook's order loses nothing, and pods stopped while the
/// listener still sends them traffic make requests fail: the proxy does not save them.
#[test]
fn the_data_plane_follows_the_listener_and_fails_requests_sent_to_stopped_pods() {
    static_credentials();
    let moto = Moto::start();
    let ing = support::shards::ingress(&moto, &["weights=50,50"]);
    let (tg_a, tg_b) = (ing.tgs[0].clone(), ing.tgs[1].clone());
    let set_weights = |a: i32, b: i32| {
        moto.fixture(&["set-weights", &ing.listener, &format!("{tg_a}={a}"), &format!("{tg_b}={b}")]);
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let (addr_a, addr_b) = (free_addr(), free_addr());
        let v1 = Versions { stable: "1".into(), canary: None };
        let canary = Versions { stable: "1".into(), canary: Some(("2".into(), 50)) };
        let pods_a = Backend::start("a", addr_a, v1.clone()).await.unwrap();
        let pods_b = Backend::start("b", addr_b, canary.clone()).await.unwrap();
        let targets = BTreeMap::from([(tg_a.clone(), addr_a), (tg_b.clone(), addr_b)]);
        let elbv2 = dataplane::elbv2_at(&moto.raw_endpoint).await.unwrap();
        let proxy = Proxy::start(elbv2, &ing.listener, targets).await.unwrap();
        let load = Load::start(proxy.addr, 100, proxy.live());
        // The load starts once the proxy has read the listener (the first read builds the client).
        tokio::time::timeout(Duration::from_secs(10), proxy.live().wait_for(|v| *v)).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;

        let t1 = load.tally();
        assert_eq!(t1.failed, 0, "{}", t1.summary());
        assert!(served(&t1, "a") > 20 && served(&t1, "b") > 20, "both shards at 50 serve: {}", t1.summary());
        for version in ["1", "2"] {
            let n = t1.versions.get(&("b".to_string(), version.to_string())).copied().unwrap_or(0);
            assert!(n > 0, "b's canary at 50 %: version {version} serves too: {}", t1.summary());
        }

        // The runbook's order: weight 0, the drain delay, then the pods stop. Nothing fails.
        set_weights(50, 0);
        let written = Instant::now();
        proxy.wait_route(Duration::from_secs(3), |r| weight_in(r, &tg_b) == Some(0)).await.unwrap();
        let propagation = written.elapsed();
        // A poll interval, and a DescribeListeners + DescribeRules on a busy machine.
        assert!(propagation < dataplane::POLL_INTERVAL + Duration::from_secs(1), "{propagation:?}");
        // Requests routed to b before the change finish there…
        tokio::time::sleep(dataplane::SERVICE_TIME * 10).await;
        let b_drained = served(&load.tally(), "b");
        // …and no new one reaches it during the drain delay.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(served(&load.tally(), "b"), b_drained, "b at weight 0 got new requests");
        pods_b.stop().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t2 = load.tally().since(&t1);
        assert_eq!(t2.failed, 0, "a drain in the runbook's order lost requests: {}", t2.summary());
        assert!(served(&t2, "a") > 100, "{}", t2.summary());

        // Back at 50, then the pods stop while the listener still sends them traffic.
        let pods_b = Backend::start("b", addr_b, v1.clone()).await.unwrap();
        set_weights(50, 50);
        proxy.wait_route(Duration::from_secs(3), |r| weight_in(r, &tg_b) == Some(50)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let t3 = load.tally();
        assert!(served(&t3.since(&t2), "b") > 0 || served(&t3.since(&t1), "b") > 0);
        pods_b.stop().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t4 = load.tally().since(&t3);
        assert!(t4.failed > 20, "requests routed to stopped pods must fail: {}", t4.summary());
        assert_eq!(t4.failures.keys().collect::<Vec<_>>(), vec!["HTTP 502"], "{}", t4.summary());
        assert!(served(&t4, "a") > 20, "a keeps serving its share: {}", t4.summary());
        assert_eq!(served(&t4, "b"), 0, "{}", t4.summary());

        let total = load.stop().await;
        assert_eq!(total.requests, total.failed + total.served.values().sum::<u64>());
        proxy.stop().await;
        pods_a.stop().await;
    });
}

/// The ALB's metrics as the data plane publishes them are what shard_weight's metric guard reads
/// (the provider's own GetMetricData, through the realism proxy as in the sandbox): every request
/// routed to a target group counted once, its pods' 500s as target 5xx, response times as values
/// whose percentile is the service time, and targets whose pods are gone as unhealthy.
#[test]
fn the_data_plane_publishes_the_albs_metrics_that_the_metric_guard_reads() {
    use shard_provider::clients::aws::{AwsClients, AwsSettings, Endpoints};
    use shard_provider::clients::cloudwatch::target_group_sample;
    use shard_provider::clients::metric_guard::dimensions;
    static_credentials();
    let moto = Moto::start();
    let ing = support::shards::ingress(&moto, &["weights=50,50"]);
    let (tg_a, tg_b) = (ing.tgs[0].clone(), ing.tgs[1].clone());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let (addr_a, addr_b) = (free_addr(), free_addr());
        let v1 = Versions { stable: "1".into(), canary: None };
        let pods_a = Backend::start("a", addr_a, v1.clone()).await.unwrap();
        let pods_b = Backend::start("b", addr_b, v1.clone()).await.unwrap();
        pods_b.set_sick("1", 4);
        let targets = BTreeMap::from([(tg_a.clone(), addr_a), (tg_b.clone(), addr_b)]);
        let elbv2 = dataplane::elbv2_at(&moto.raw_endpoint).await.unwrap();
        let mut proxy = Proxy::start(elbv2, &ing.listener, targets).await.unwrap();
        let registered = dataplane::Registered::default();
        registered.lock().unwrap().extend([(tg_a.clone(), 2), (tg_b.clone(), 2)]);
        proxy.publish_metrics(dataplane::cloudwatch_at(&moto.endpoint).await.unwrap(), &ing.listener, registered);
        let load = Load::start(proxy.addr, 100, proxy.live());
        tokio::time::timeout(Duration::from_secs(10), proxy.live().wait_for(|v| *v)).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let tally = load.stop().await;
        // The last period's metrics are published within METRICS_PERIOD.
        tokio::time::sleep(dataplane::METRICS_PERIOD + Duration::from_millis(700)).await;

        let aws = AwsClients::new(AwsSettings {
            region: Some("us-east-1".into()),
            endpoints: Endpoints { cloudwatch: Some(moto.endpoint.clone()), ..Default::default() },
            ..Default::default()
        });
        let sample = |tg: String| {
            let (aws, listener) = (&aws, ing.listener.clone());
            async move {
                let (lb, tg) = dimensions(&listener, &tg).unwrap();
                target_group_sample(aws, (&lb, &tg), Duration::from_secs(60), "p99").await.unwrap()
            }
        };
        let (a, b) = (sample(tg_a.clone()).await, sample(tg_b.clone()).await);
        let sick_b = tally.answered_by.get(&("b".to_string(), "1".to_string())).copied().unwrap_or(0);
        assert_eq!(tally.failed, sick_b, "only b's own 500s fail: {}", tally.summary());
        assert!(sick_b > 10, "b answers every 4th request with a 500: {}", tally.summary());
        assert_eq!(a.requests, Some(served(&tally, "a") as f64), "{a:?} {}", tally.summary());
        assert_eq!(b.requests, Some((served(&tally, "b") + sick_b) as f64), "{b:?} {}", tally.summary());
        assert_eq!(a.target_5xx, None, "no 5xx: no data point, as ALB: {a:?}");
        assert_eq!(b.target_5xx, Some(sick_b as f64), "{b:?}");
        assert!(b.error_percent().unwrap() > 20.0 && b.error_percent().unwrap() < 30.0, "{b:?}");
        for s in [&a, &b] {
            let p99 = s.response_time.unwrap();
            assert!(p99 >= dataplane::SERVICE_TIME.as_secs_f64() && p99 < 1.0, "p99 {p99} s: {s:?}");
            assert_eq!(s.unhealthy_hosts, Some(0.0), "{s:?}");
        }

        // b's pods stop while its 2 targets stay registered: the health check fails them.
        pods_b.stop().await;
        tokio::time::sleep(dataplane::METRICS_PERIOD * 2 + Duration::from_millis(500)).await;
        let (lb, tg) = dimensions(&ing.listener, &tg_b).unwrap();
        let now = target_group_sample(&aws, (&lb, &tg), Duration::from_secs(2), "p99").await.unwrap();
        assert_eq!(now.unhealthy_hosts, Some(2.0), "{now:?}");
        let (published, failed, why) = proxy.publish_stats();
        assert!(published >= 4 && failed == 0, "{published} published, {failed} failed: {why:?}");
        proxy.stop().await;
        pods_a.stop().await;
    });
}

/// The rules an ALB evaluates before the default action: shard_weight's lock rule (a header no
/// request carries) never takes the load's requests; a catch-all path would.
#[test]
fn the_proxy_evaluates_rule_conditions_as_an_alb() {
    use aws_sdk_elasticloadbalancingv2::types::{HttpHeaderConditionConfig, PathPatternConditionConfig, RuleCondition};
    assert!(dataplane::glob("/api/*", "/api/v1", false));
    assert!(!dataplane::glob("/api/*", "/", false));
    assert!(dataplane::glob("*.SANDBOX", "service.sandbox", true));
    assert!(dataplane::glob("/?", "/a", false) && !dataplane::glob("/?", "/", false));
    let lock = RuleCondition::builder()
        .field("http-header")
        .http_header_config(
            HttpHeaderConditionConfig::builder()
                .http_header_name("x-shard-lock")
                .values("owner")
                .values("expires=1")
                .build(),
        )
        .build();
    assert!(!dataplane::request_meets(&lock));
    let all = RuleCondition::builder()
        .field("path-pattern")
        .path_pattern_config(PathPatternConditionConfig::builder().values("/*").build())
        .build();
    assert!(dataplane::request_meets(&all));
    let api = RuleCondition::builder().field("path-pattern").values("/api/*").build();
    assert!(!dataplane::request_meets(&api));
}

// ---------------------------------------------------------------------------------------------
// The driver: the whole story under load, and its variant that must fail

/// The sandbox driver, built for this test run.
fn driver() -> PathBuf {
    let provider = support::provider_binary();
    let exe = provider.parent().unwrap().join("examples/sandbox");
    // Under nextest Cargo has finished building when tests run: building the example is safe (and
    // takes seconds). `cargo test` holds the build lock while tests run, so it must have built the
    // example already (it does with --all-targets or without --test).
    if std::env::var_os("NEXTEST_RUN_ID").is_some() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", "sandbox", "--manifest-path"])
            .arg(project_root().join("Cargo.toml"))
            .status()
            .unwrap();
        assert!(status.success(), "cargo build --example sandbox failed");
    }
    let newest_source = std::fs::read_dir(project_root().join("tests/sandbox"))
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok()?.modified().ok())
        .max()
        .unwrap();
    let built = std::fs::metadata(&exe).and_then(|m| m.modified());
    assert!(
        built.is_ok_and(|b| b >= newest_source),
        "{} is missing or older than tests/sandbox/: build it (cargo build --example sandbox) or run with nextest",
        exe.display()
    );
    exe
}

/// Runs the driver with `extra` arguments; (succeeded, output, its `sandbox-load:` figures).
fn run_driver(extra: &[&str]) -> (bool, String, Json) {
    let provider = support::provider_binary();
    let out = Command::new(driver())
        .arg("--provider-dir")
        .arg(provider.parent().unwrap())
        .args(extra)
        .env_remove("SANDBOX_KEEP_WORK")
        .output()
        .unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let load = text
        .lines()
        .find_map(|l| l.strip_prefix("sandbox-load: "))
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap_or_else(|| panic!("no sandbox-load line in the driver's output:\n{text}"));
    (out.status.success(), text, load)
}

/// `make sandbox`'s zero is a result: the same driver, with shard-1's node upgrade started as its
/// drain apply starts instead of after it returned, loses requests (and says so, failing); the
/// story played in the runbook's order loses none but the sick release's own 500s, which the
/// metric guard stops (stage 7: it breaches at weight 25 and steps back to 0), every shard
/// serves, the canary's version serves its share, and the restore with the release fixed passes
/// the guard (stage 8).
#[test]
fn the_story_serves_every_request_and_an_upgrade_before_the_drain_loses_some() {
    let (ok, text, load) = run_driver(&["--upgrade-before-drain"]);
    assert!(!ok, "the variant must fail:\n{text}");
    eprintln!("--upgrade-before-drain: {}", load["total"]);
    // A failed run keeps its work directory for a post-mortem; this failure is the expected one.
    if let Some(dir) = text.lines().find_map(|l| l.split("logs kept in ").nth(1)) {
        let _ = std::fs::remove_dir_all(dir.trim());
    }
    assert!(text.contains("requests FAILED"), "{text}");
    assert!(load["total"]["failed"].as_u64().unwrap() > 0, "{load:#}");
    assert!(load["stages"]["3"]["failed"].as_u64().unwrap() > 0, "the failures are the drain stage's: {load:#}");
    assert_eq!(load["stages"]["1"]["failed"], 0, "the first deploy lost nothing: {load:#}");
    assert!(load["total"]["failures"]["HTTP 502"].as_u64().unwrap() > 0, "{load:#}");

    let (ok, text, load) = run_driver(&[]);
    assert!(ok, "the sandbox failed:\n{text}");
    eprintln!("the whole story: {}", load["total"]);
    let total = &load["total"];
    assert!(total["requests"].as_u64().unwrap() > 1000, "{load:#}");
    // Failures: the sick release's own 500s in stage 7, and nothing else anywhere.
    let sick = load["stages"]["7"]["failed_answered_by"]["shard-1 :3"].as_u64().unwrap_or(0);
    assert!(sick > 0, "the sick release answered no 500 before the guard stopped it: {load:#}");
    assert_eq!(load["stages"]["7"]["failed"], sick, "{load:#}");
    assert_eq!(load["stages"]["7"]["failures"], serde_json::json!({ "HTTP 500": sick }), "{load:#}");
    assert_eq!(total["failed"], sick, "a failure outside the sick release's stage: {load:#}");
    for (stage, t) in load["stages"].as_object().unwrap() {
        if stage != "7" {
            assert_eq!(t["failed"], 0, "stage {stage}: {load:#}");
            assert!(t["versions"]["3"].is_null(), "release :3 served outside stage 7 (stage {stage}): {load:#}");
        }
    }
    assert!(text.contains("every one in stage 7"), "the driver reports the sick release's failures apart:\n{text}");

    // The guard: the sick release breached at the first step and was stepped back to 0, in moto
    // too; the fixed release passed every evaluation, each on real traffic, up to 50.
    let guard: Json = text
        .lines()
        .find_map(|l| l.strip_prefix("sandbox-guard: "))
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap_or_else(|| panic!("no sandbox-guard line:\n{text}"));
    let breach = &guard["breach"];
    assert_eq!((breach["at"].as_i64(), breach["stepped_back_to"].as_i64()), (Some(25), Some(0)), "{guard:#}");
    assert_eq!(breach["weight_in_moto"], 0, "{guard:#}");
    assert!(breach["detail"].as_str().unwrap().contains("> max_5xx_percent 1"), "{guard:#}");
    let judged = breach["evaluations"].as_array().unwrap();
    assert_eq!(judged.len(), 1, "the first step's judgement is the breach: {guard:#}");
    assert_eq!(judged[0]["passed"], false, "{guard:#}");
    assert!(judged[0]["requests"].as_u64().unwrap() > 0, "{guard:#}");
    let pass = &guard["pass"];
    assert_eq!(pass["weight_in_moto"], 50, "{guard:#}");
    let passed = pass["evaluations"].as_array().unwrap();
    // After the first step, then through the bake time at the target (3 s, every second).
    assert!(passed.len() >= 4, "{guard:#}");
    for e in passed {
        assert_eq!(e["passed"], true, "{guard:#}");
        assert!(e["requests"].as_u64().unwrap() > 0, "an evaluation without traffic judges nothing: {guard:#}");
    }
    assert_eq!(
        load["stages"]["8"]["versions"],
        serde_json::json!({ "2": load["stages"]["8"]["requests"] }),
        "{load:#}"
    );
    assert!(load["stages"]["8"]["served"]["shard-1"].as_u64().unwrap_or(0) > 0, "{load:#}");
    for shard in ["shard-1", "shard-2", "shard-3"] {
        assert!(total["served"][shard].as_u64().unwrap_or(0) > 0, "{shard} served nothing: {load:#}");
    }
    // shard-1 serves nothing while it is drained and upgraded, and again once restored.
    for stage in ["4", "5", "6"] {
        assert!(load["stages"][stage]["served"]["shard-1"].is_null(), "{load:#}");
    }
    assert!(load["stages"]["9"]["served"]["shard-1"].as_u64().unwrap_or(0) > 0, "{load:#}");
    // The canary's version: a small share at step 1, more at step 3, all of shard-2's at the end.
    let v2 = |stage: &str| load["stages"][stage]["versions"]["2"].as_u64().unwrap_or(0);
    assert!(v2("4") + v2("5") > 0, "{load:#}");
    assert!(total["versions"]["1"].as_u64().unwrap() > 0 && v2("9") > 0, "{load:#}");

    // DNS: after every stage each shard's weighted record in Route 53 (moto) has the weight of its
    // listener entry, and none while the shard is out of the listener; the provider wrote them
    // through the Route 53 proxy, waiting for PENDING changes.
    let dns: Json = text
        .lines()
        .find_map(|l| l.strip_prefix("sandbox-dns: "))
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap_or_else(|| panic!("no sandbox-dns line:\n{text}"));
    let tables = dns["tables"].as_array().unwrap();
    let stages: Vec<u64> = tables.iter().map(|t| t["stage"].as_u64().unwrap()).collect();
    assert_eq!(stages, [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11], "one DNS read per table: {dns:#}");
    for t in tables {
        for (shard, s) in t["shards"].as_object().unwrap() {
            let (listener, record) = (s["listener"].as_i64(), s["dns"].as_i64());
            match record {
                Some(wt) => assert_eq!(listener, Some(wt), "stage {}, {shard}: {dns:#}", t["stage"]),
                // Before its first apply a shard is in the listener at 0 (ingress/ seeds 0), no record.
                None => assert!(listener.unwrap_or(0) == 0, "stage {}, {shard}: {dns:#}", t["stage"]),
            }
        }
    }
    let at = |stage: u64, shard: &str| {
        let t = tables.iter().find(|t| t["stage"] == stage).unwrap();
        t["shards"][shard]["dns"].as_i64()
    };
    // The story's weights, in DNS: both join, shard-1 drains, the guard's breach leaves it at 0
    // (the record follows shard_weight's result), the restore, shard-3's break-glass drain and removal.
    assert_eq!((at(1, "shard-1"), at(1, "shard-2")), (Some(50), Some(50)), "{dns:#}");
    assert_eq!((at(3, "shard-1"), at(7, "shard-1"), at(8, "shard-1")), (Some(0), Some(0), Some(50)), "{dns:#}");
    assert_eq!((at(9, "shard-3"), at(10, "shard-3"), at(11, "shard-3")), (Some(50), Some(0), None), "{dns:#}");
    let r53 = &dns["route53_proxy"];
    assert!(r53["ChangeResourceRecordSets"].as_u64().unwrap_or(0) > 0, "{dns:#}");
    assert!(r53["GetChange"].as_u64().unwrap_or(0) > 0, "changes were waited for until INSYNC: {dns:#}");
}
