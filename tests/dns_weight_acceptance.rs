//! `shard_dns_weight` and `data "shard_dns_records"` against moto's Route 53 with the real
//! Terraform CLI, behind tests/fixtures/route53_proxy.py (Route 53's batch validation, PENDING
//! changes, 5 requests a second): ownership per shard directory, drift, import, the drain's TTL
//! wait, the fleet guard, other routing policies, and racing applies on one name.

mod support;
use serde_json::Value as Json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{Moto, ProviderHcl, Workspace, free_port, project_root, read};

const NAME: &str = "api.example.com";

/// tests/fixtures/route53_proxy.py in front of moto; stopped when dropped.
struct Route53Proxy {
    child: Child,
    endpoint: String,
}

impl Route53Proxy {
    fn start(moto: &Moto, rules: &str) -> Route53Proxy {
        let err = std::env::temp_dir().join(format!("route53-proxy-{}.err", free_port()));
        let port = free_port();
        let mut child = Command::new(project_root().join(".bench/venv/bin/python3"))
            .arg(project_root().join("tests/fixtures/route53_proxy.py"))
            .args([&port.to_string(), &moto.raw_endpoint, rules])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).expect("proxy log"))
            .spawn()
            .expect("start route53 proxy");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("route53 proxy exited ({status}):\n{}", read(&err));
            }
            assert!(Instant::now() < deadline, "route53 proxy did not start:\n{}", read(&err));
            std::thread::sleep(Duration::from_millis(25));
        }
        Route53Proxy { child, endpoint: format!("http://127.0.0.1:{port}") }
    }

    /// GET /__faults.
    fn seen(&self) -> Json {
        let addr = self.endpoint.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(addr).expect("connect to route53 proxy");
        use std::io::{Read, Write};
        write!(stream, "GET /__faults HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("ask proxy");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read proxy");
        serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap_or("{}")).expect("proxy JSON")
    }
}

impl Drop for Route53Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// tests/fixtures/route53_fixture.py against moto itself.
fn r53(moto: &Moto, args: &[&str]) -> Json {
    let out = Command::new(project_root().join(".bench/venv/bin/python3"))
        .arg(project_root().join("tests/fixtures/route53_fixture.py"))
        .args(args)
        .env("MOTO_ENDPOINT", &moto.raw_endpoint)
        .output()
        .expect("run route53 fixture");
    assert!(out.status.success(), "route53 fixture {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("fixture JSON")
}

fn zone(moto: &Moto) -> String {
    r53(moto, &["zone", "example.com"])["zone_id"].as_str().expect("zone id").to_string()
}

fn weights(moto: &Moto, zone: &str) -> Json {
    r53(moto, &["weights", zone, NAME, "A"])
}

/// main.tf: the provider (every endpoint at moto's realism proxy, Route 53 at `route53`), then `body`.
fn write(ws: &Workspace, moto: &Moto, route53: &str, body: &str) {
    let provider = ProviderHcl::new(&moto.endpoint).render();
    let cw = format!("    cloudwatch = \"{}\"\n", moto.endpoint);
    let provider = provider.replacen(&cw, &format!("{cw}    route53 = \"{route53}\"\n"), 1);
    assert!(provider.contains("route53 = "), "{provider}");
    std::fs::write(ws.path("main.tf"), format!("{provider}\n{body}\n")).expect("write main.tf");
}

/// One shard's record: plain values with a short TTL, quick drains.
fn shard(zone: &str, set_id: &str, weight: i64, extra: &str) -> String {
    format!(
        r#"resource "shard_dns_weight" "this" {{
  zone_id        = "{zone}"
  name           = "{NAME}"
  type           = "A"
  set_identifier = "{set_id}"
  weight         = {weight}
  records        = ["10.0.0.{n}"]
  ttl            = 1
  drain_delay    = "0s"
{extra}
}}
"#,
        n = set_id.trim_start_matches("shard-")
    )
}

fn dir(moto: &Moto, proxy: &Route53Proxy, body: &str) -> Workspace {
    let ws = Workspace::new(moto);
    write(&ws, moto, &proxy.endpoint, body);
    ws.init();
    ws
}

#[test]
fn each_shard_owns_its_record_with_drift_import_shares_and_destroy() {
    let moto = Moto::start();
    let proxy = Route53Proxy::start(&moto, "");
    let z = zone(&moto);
    // Another shard's record, made by its own stack.
    r53(&moto, &["upsert", &z, NAME, "A", "shard-1", "10", "10.0.0.1", "1"]);

    let a = dir(&moto, &proxy, &shard(&z, "shard-2", 30, ""));
    a.apply();
    assert_eq!(weights(&moto, &z), serde_json::json!({"shard-1": 10, "shard-2": 30}));
    let s = a.state_of("shard_dns_weight.this");
    assert_eq!(s["traffic_share"], "75%");
    assert_eq!(s["id"], format!("{z}/{NAME}/A/shard-2"));
    // Changes are waited for until INSYNC: the proxy answered PENDING first.
    assert!(proxy.seen()["GetChange"].as_u64().unwrap_or(0) >= 1, "{}", proxy.seen());

    // The plan shows the share after a change.
    write(&a, &moto, &proxy.endpoint, &shard(&z, "shard-2", 10, ""));
    let plan = a.ok(&["plan", "-no-color", "-input=false"]);
    assert!(plan.flat().contains(r#"traffic_share = "75%" -> "50%""#), "{}", plan.text());
    a.apply();
    assert_eq!(weights(&moto, &z), serde_json::json!({"shard-1": 10, "shard-2": 10}));

    // Drift: a console edit of this shard's weight is put back; the other shard's is not ours.
    r53(&moto, &["upsert", &z, NAME, "A", "shard-2", "77", "10.0.0.2", "1"]);
    r53(&moto, &["upsert", &z, NAME, "A", "shard-1", "40", "10.0.0.1", "1"]);
    let changes = a.planned_changes();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(changes[0].1.contains(&"weight".to_string()), "{changes:?}");
    a.apply();
    assert_eq!(weights(&moto, &z), serde_json::json!({"shard-1": 40, "shard-2": 10}));
    // Gone behind Terraform's back: planned for creation again.
    r53(&moto, &["delete", &z, NAME, "A", "shard-2"]);
    let p = a.plan();
    assert_eq!(p.code, 2, "{}", p.text());
    assert!(p.flat().contains("will be created"), "{}", p.text());
    a.apply();

    // Import the other shard's record by zone_id/name/type/set_identifier into its own directory.
    // (drain_delay at its default: an import cannot know a configured one.)
    let b = dir(&moto, &proxy, &shard(&z, "shard-1", 40, "").replace("  drain_delay    = \"0s\"\n", ""));
    b.ok(&["import", "-no-color", "-input=false", "shard_dns_weight.this", &format!("{z}/{NAME}/A/shard-1")]);
    b.assert_plan_empty();
    b.fails(
        &["import", "-no-color", "-input=false", "shard_dns_weight.this", &format!("{z}/{NAME}/A")],
        &["Invalid import id", "<zone_id>/<name>/<type>/<set_identifier>"],
    );

    // The data source lists every weighted record with its share.
    let d = dir(
        &moto,
        &proxy,
        &format!(
            "data \"shard_dns_records\" \"api\" {{\n  zone_id = \"{z}\"\n  name = \"{NAME}\"\n  type = \"A\"\n}}\n"
        ),
    );
    d.apply();
    let data = d.state_of("data.shard_dns_records.api");
    let mut got: Vec<(String, i64, String)> = data["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["set_identifier"].as_str().unwrap().to_string(),
                r["weight"].as_i64().unwrap(),
                r["traffic_share"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, vec![("shard-1".into(), 40, "80%".into()), ("shard-2".into(), 10, "20%".into())]);
    assert_eq!(data["total_weight"], 50);

    a.destroy();
    assert_eq!(weights(&moto, &z), serde_json::json!({"shard-1": 40}));
    b.assert_plan_empty();
    assert_eq!(r53(&moto, &["list", &z, &format!("_shard-lock.{NAME}")]), serde_json::json!([]), "no lock left");
}

#[test]
fn a_drain_waits_the_ttl_and_the_guards_refuse_leaving_nothing_serving() {
    let moto = Moto::start();
    let proxy = Route53Proxy::start(&moto, "");
    let z = zone(&moto);
    let guard = "  fleet_guard {\n    min_serving = 1\n  }\n";
    let one = dir(&moto, &proxy, &shard(&z, "shard-1", 50, guard));
    let two = dir(&moto, &proxy, &shard(&z, "shard-2", 50, guard));
    one.apply();
    two.apply();

    // Drain shard-1 with a 3 s TTL and 2 s of drain_delay: the apply returns after both.
    let slow = |weight: i64| {
        shard(&z, "shard-1", weight, guard).replace("ttl            = 1", "ttl = 3").replace("\"0s\"", "\"2s\"")
    };
    write(&one, &moto, &proxy.endpoint, &slow(50));
    one.apply(); // the TTL change alone
    write(&one, &moto, &proxy.endpoint, &slow(0));
    let started = Instant::now();
    one.ok(&["apply", "-auto-approve", "-no-color", "-input=false"]);
    let took = started.elapsed();
    one.assert_plan_empty();
    assert_eq!(weights(&moto, &z), serde_json::json!({"shard-1": 0, "shard-2": 50}));
    assert!(took >= Duration::from_secs(5), "the drain returned after {took:?}, before TTL + drain_delay (5 s)");

    // Draining shard-2 now would leave no shard serving: refused at plan, nothing written.
    write(&two, &moto, &proxy.endpoint, &shard(&z, "shard-2", 0, guard));
    two.fails(&["plan", "-no-color", "-input=false"], &["Drain refused by the fleet guard", "min_serving"]);
    // Without the fleet guard the all-zero rule still refuses it.
    write(&two, &moto, &proxy.endpoint, &shard(&z, "shard-2", 0, ""));
    two.fails(
        &["apply", "-auto-approve", "-no-color", "-input=false"],
        &["every record at weight 0", "allow_all_zero"],
    );
    assert_eq!(weights(&moto, &z), serde_json::json!({"shard-1": 0, "shard-2": 50}));

    // Restore shard-1, then shard-2 may drain.
    write(&one, &moto, &proxy.endpoint, &slow(50));
    one.apply();
    write(&two, &moto, &proxy.endpoint, &shard(&z, "shard-2", 0, guard));
    two.apply();
    assert_eq!(weights(&moto, &z), serde_json::json!({"shard-1": 50, "shard-2": 0}));
}

#[test]
fn records_that_are_not_weighted_are_refused_clearly() {
    let moto = Moto::start();
    let proxy = Route53Proxy::start(&moto, "");
    let z = zone(&moto);
    r53(&moto, &["simple", &z, NAME, "A", "10.9.9.9", "60"]);
    let ws = dir(&moto, &proxy, &shard(&z, "shard-1", 10, ""));
    ws.fails(&["plan", "-no-color", "-input=false"], &["Not a weighted record", "is a simple record"]);

    let other = "failover.example.com";
    r53(&moto, &["failover", &z, other, "A", "primary", "10.9.9.8", "60"]);
    write(&ws, &moto, &proxy.endpoint, &shard(&z, "shard-1", 10, "").replace(NAME, other));
    ws.fails(&["plan", "-no-color", "-input=false"], &["Not a weighted record", "uses failover routing"]);
    ws.fails(
        &["import", "-no-color", "-input=false", "shard_dns_weight.this", &format!("{z}/{other}/A/shard-9")],
        &["uses failover routing"],
    );

    // Two resources of one configuration for one record set would fight on every apply: the
    // plan refuses the second, on its set_identifier, before anything is written.
    let twice =
        format!("{}{}", shard(&z, "shard-3", 10, ""), shard(&z, "shard-3", 20, "").replace("\"this\"", "\"again\""));
    write(&ws, &moto, &proxy.endpoint, &twice);
    ws.fails(&["plan", "-no-color", "-input=false"], &["Duplicate shard_dns_weight", "set_identifier"]);
    assert!(weights(&moto, &z).get("shard-3").is_none(), "a refused plan wrote");
}

#[test]
fn racing_applies_from_four_directories_lose_nothing() {
    let moto = Moto::start();
    // Route 53's rate limit on, one change in the run whose answer is lost.
    let proxy = Route53Proxy::start(&moto, "rate=5,lost=1");
    let z = zone(&moto);
    let dirs: Vec<Workspace> = (1..=4).map(|i| dir(&moto, &proxy, &shard(&z, &format!("shard-{i}"), 1, ""))).collect();
    for round in 0..2 {
        let weight = |i: usize| (round * 100 + i * 7 + 3) as i64;
        for (i, ws) in dirs.iter().enumerate() {
            write(ws, &moto, &proxy.endpoint, &shard(&z, &format!("shard-{}", i + 1), weight(i), ""));
        }
        let children: Vec<Child> =
            dirs.iter().map(|ws| ws.spawn(&["apply", "-auto-approve", "-no-color", "-input=false"])).collect();
        for (i, c) in children.into_iter().enumerate() {
            let (ok, out) = support::finish(c);
            assert!(ok, "round {round}, shard-{}: {out}\n{}", i + 1, dirs[i].log_tail());
        }
        let want: serde_json::Map<String, Json> =
            (0..4).map(|i| (format!("shard-{}", i + 1), Json::from(weight(i)))).collect();
        assert_eq!(weights(&moto, &z), Json::Object(want), "round {round}");
        for ws in &dirs {
            ws.assert_plan_empty();
        }
    }
    let seen = proxy.seen();
    eprintln!("route53 proxy: {seen}");
    assert_eq!(seen["lost"], 1, "the lost answer was exercised: {seen}");
    assert_eq!(r53(&moto, &["list", &z, &format!("_shard-lock.{NAME}")]), serde_json::json!([]), "no lock left");
}

#[test]
fn an_alias_record_is_raised_only_once_its_health_check_passes_and_ramps_in_steps() {
    let moto = Moto::start();
    let hc = r53(&moto, &["health-check"])["id"].as_str().expect("health check id").to_string();
    // The health check fails until the rules change.
    let proxy = Route53Proxy::start(&moto, &format!("unhealthy={hc}"));
    let z = zone(&moto);
    r53(&moto, &["upsert", &z, NAME, "A", "shard-1", "50", "10.0.0.1", "1"]);
    let alias = |weight: i64, extra: &str| {
        format!(
            r#"resource "shard_dns_weight" "this" {{
  zone_id         = "{z}"
  name            = "{NAME}"
  type            = "A"
  set_identifier  = "shard-2"
  weight          = {weight}
  health_check_id = "{hc}"
  alias {{
    dns_name = "Cell-2-123.us-east-1.elb.amazonaws.com"
    zone_id  = "Z35SXDOTRQ7X7K"
  }}
{extra}
  timeouts {{
    create = "8s"
  }}
}}
"#
        )
    };
    let ws = dir(&moto, &proxy, &alias(40, ""));
    // Unhealthy: the create waits for the health check until its timeout, and writes nothing.
    ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"], &["Health check not healthy", "0 of"]);
    assert_eq!(weights(&moto, &z), serde_json::json!({"shard-1": 50}));

    // Healthy: created at 0, then raised in steps of 20 with the health check re-read before each.
    let proxy_rules = |rules: &str| {
        let addr = proxy.endpoint.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(addr).expect("connect to route53 proxy");
        use std::io::{Read, Write};
        write!(stream, "POST /__rules HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{rules}", rules.len())
            .expect("set rules");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read proxy");
        assert!(response.contains(" 200 "), "{response}");
    };
    proxy_rules("");
    write(&ws, &moto, &proxy.endpoint, &alias(0, ""));
    ws.apply();
    write(&ws, &moto, &proxy.endpoint, &alias(40, "  ramp {\n    step     = 20\n    interval = \"1s\"\n  }\n"));
    ws.apply();
    assert_eq!(weights(&moto, &z), serde_json::json!({"shard-1": 50, "shard-2": 40}));
    let seen = proxy.seen();
    assert!(seen["ChangeResourceRecordSets"].as_u64().unwrap_or(0) >= 2 * 3, "two ramp steps, each locked: {seen}");
    assert!(seen["GetHealthCheckStatus"].as_u64().unwrap_or(0) >= 2, "checked before each step up: {seen}");
    // The alias as Route 53 returns it (lowercase, trailing dot) is the configured one: no drift.
    let s = ws.state_of("shard_dns_weight.this");
    assert_eq!(s["alias"]["dns_name"], "Cell-2-123.us-east-1.elb.amazonaws.com", "{s}");
    assert_eq!(s["traffic_share"], "44.4%");
}

#[test]
fn a_crashed_applys_lock_is_broken_after_its_expiry_and_a_foreign_txt_is_refused() {
    let moto = Moto::start();
    let proxy = Route53Proxy::start(&moto, "");
    let z = zone(&moto);
    let lock = format!("_shard-lock.{NAME}");
    // Left by an apply that crashed long ago (expired at unix time 1000).
    r53(&moto, &["txt", &z, &lock, "\"shard-lock owner=dead expires=1000 holder=ci-9:77\""]);
    let ws = dir(&moto, &proxy, &shard(&z, "shard-1", 10, ""));
    ws.apply();
    assert_eq!(weights(&moto, &z), serde_json::json!({"shard-1": 10}));
    assert_eq!(r53(&moto, &["list", &z, &lock]), serde_json::json!([]), "broken, then released");

    // A TXT record there that is not a lock: refused by name, nothing written.
    r53(&moto, &["txt", &z, &lock, "\"v=spf1 -all\""]);
    write(&ws, &moto, &proxy.endpoint, &shard(&z, "shard-1", 20, ""));
    ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"], &["is not a shard_dns_weight lock", &lock]);
    assert_eq!(weights(&moto, &z), serde_json::json!({"shard-1": 10}));
}
