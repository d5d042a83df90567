//! `shard_listener` against moto with the real Terraform CLI.

mod support;
use support::{Moto, Workspace};

fn tg_list(ws: &Workspace) -> Vec<(String, i64, i64)> {
    let s = ws.state_of("data.shard_listener.l");
    s["target_groups"]
        .as_array()
        .expect("target_groups list")
        .iter()
        .map(|t| {
            (
                t["arn"].as_str().unwrap_or_default().to_string(),
                t["weight"].as_i64().unwrap_or(-1),
                t["healthy_targets"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

#[test]
fn two_weighted_target_groups_in_action_order() {
    let moto = Moto::start();
    let topo = moto.fixture(&["topology", "weights=70,30", "stickiness=120"]);
    let tgs: Vec<String> = serde_json::from_value(topo["target_groups"].clone()).unwrap();
    moto.fixture(&["register", &tgs[0], "2"]);
    let ws = Workspace::new(&moto);
    ws.write(
        &moto,
        &format!("data \"shard_listener\" \"l\" {{\n  listener_arn = \"{}\"\n}}\n", topo["listener"].as_str().unwrap()),
    );
    ws.init();
    ws.apply();
    assert_eq!(tg_list(&ws), vec![(tgs[0].clone(), 70, 2), (tgs[1].clone(), 30, 0)]);
    let s = ws.state_of("data.shard_listener.l");
    assert_eq!(s["total_weight"], 100);
    assert_eq!(s["stickiness"]["enabled"], true);
    assert_eq!(s["stickiness"]["duration_seconds"], 120);
    ws.destroy();
}

#[test]
fn three_weighted_target_groups_and_a_rule() {
    let moto = Moto::start();
    let topo = moto.fixture(&["topology", "weights=50,30,20", "rule=1:2:997"]);
    let tgs: Vec<String> = serde_json::from_value(topo["target_groups"].clone()).unwrap();
    let ws = Workspace::new(&moto);
    ws.write(
        &moto,
        &format!(
            "data \"shard_listener\" \"l\" {{\n  listener_arn = \"{}\"\n}}\n\
             data \"shard_listener\" \"r\" {{\n  listener_arn = \"{}\"\n  rule_arn = \"{}\"\n}}\n\
             output \"rule_weights\" {{ value = data.shard_listener.r.target_groups[*].weight }}\n",
            topo["listener"].as_str().unwrap(),
            topo["listener"].as_str().unwrap(),
            topo["rule"].as_str().unwrap()
        ),
    );
    ws.init();
    ws.apply();
    let weights: Vec<i64> = tg_list(&ws).iter().map(|t| t.1).collect();
    assert_eq!(weights, [50, 30, 20]);
    let r = ws.state_of("data.shard_listener.r");
    let rule: Vec<(String, i64)> = r["target_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["arn"].as_str().unwrap().to_string(), t["weight"].as_i64().unwrap()))
        .collect();
    assert_eq!(rule, vec![(tgs[0].clone(), 1), (tgs[1].clone(), 2), (tgs[2].clone(), 997)]);
    assert_eq!(r["total_weight"], 1000);
    let shares: Vec<&str> =
        r["target_groups"].as_array().unwrap().iter().map(|t| t["traffic_share"].as_str().unwrap()).collect();
    assert_eq!(shares, ["0.1%", "0.2%", "99.7%"], "each shard's share of the rule's traffic");
    ws.destroy();
}

#[test]
fn non_forward_listener_is_a_clear_error() {
    let moto = Moto::start();
    let topo = moto.fixture(&["topology", "redirect=1"]);
    let ws = Workspace::new(&moto);
    ws.write(
        &moto,
        &format!("data \"shard_listener\" \"l\" {{\n  listener_arn = \"{}\"\n}}\n", topo["listener"].as_str().unwrap()),
    );
    ws.init();
    ws.fails(&["plan", "-no-color"], &["Not a forward action", "is redirect, not forward", "listener_arn"]);
}

#[test]
fn malformed_arns_fail_at_plan_on_their_attribute() {
    let moto = Moto::start();
    let topo = moto.fixture(&["topology", "weights=1,1", "rule=1"]);
    let listener = topo["listener"].as_str().unwrap();
    let tg = topo["target_groups"][0].as_str().unwrap();
    let ws = Workspace::new(&moto);
    ws.init();
    // A target group ARN where a listener ARN belongs.
    ws.write(&moto, &format!("data \"shard_listener\" \"l\" {{\n  listener_arn = \"{tg}\"\n}}\n"));
    ws.fails(
        &["validate", "-no-color"],
        &["Invalid value for listener_arn", "is not a listener ARN", "this is a target group ARN", "listener_arn = "],
    );
    // Garbage.
    ws.write(&moto, "data \"shard_listener\" \"l\" {\n  listener_arn = \"listener-1\"\n}\n");
    ws.fails(&["plan", "-no-color"], &["Invalid value for listener_arn", "not an ARN"]);
    // A rule of another listener.
    let other = moto.fixture(&["topology", "weights=1", "rule=1"]);
    ws.write(
        &moto,
        &format!(
            "data \"shard_listener\" \"l\" {{\n  listener_arn = \"{listener}\"\n  rule_arn = \"{}\"\n}}\n",
            other["rule"].as_str().unwrap()
        ),
    );
    ws.fails(&["plan", "-no-color"], &["Rule of another listener", "rule_arn"]);
}

#[test]
fn unreachable_endpoint_names_the_endpoint() {
    let moto = Moto::start();
    let topo = moto.fixture(&["topology", "weights=1,1"]);
    let ws = Workspace::new(&moto);
    let dead = format!("http://127.0.0.1:{}", support::free_port());
    ws.write(
        &moto,
        &format!("data \"shard_listener\" \"l\" {{\n  listener_arn = \"{}\"\n}}\n", topo["listener"].as_str().unwrap()),
    );
    let main = std::fs::read_to_string(ws.path("main.tf"))
        .unwrap()
        .replace(&format!("elbv2 = \"{}\"", moto.endpoint), &format!("elbv2 = \"{dead}\""));
    std::fs::write(ws.path("main.tf"), main).unwrap();
    ws.init();
    let r = ws.fails(&["plan", "-no-color"], &["DescribeListeners failed", &format!("could not reach {dead}")]);
    assert!(!r.text().contains("panicked"), "{}", r.text());
}

#[test]
fn assume_role_goes_through_the_sts_endpoint() {
    let moto = Moto::start();
    let topo = moto.fixture(&["topology", "weights=3,4"]);
    let ws = Workspace::new(&moto);
    ws.write_with(
        &support::ProviderHcl::new(&moto.endpoint).assume_role(
            "arn:aws:iam::123456789012:role/shard-traffic",
            Some("acc"),
            Some("ext-123"),
        ),
        &format!("data \"shard_listener\" \"l\" {{\n  listener_arn = \"{}\"\n}}\n", topo["listener"].as_str().unwrap()),
    );
    ws.init();
    ws.apply();
    assert_eq!(ws.state_of("data.shard_listener.l")["total_weight"], 7);
    let log = support::read(&ws.path("terraform.log"));
    assert!(!log.contains("ext-123"), "the external id must not be logged");
    // The role really is assumed through the sts endpoint: with that endpoint dead, reading fails.
    let dead = format!("http://127.0.0.1:{}", support::free_port());
    let main = std::fs::read_to_string(ws.path("main.tf"))
        .unwrap()
        .replace(&format!("sts = \"{}\"", moto.endpoint), &format!("sts = \"{dead}\""));
    std::fs::write(ws.path("main.tf"), main).unwrap();
    ws.fails(&["plan", "-no-color"], &["DescribeListeners failed", "could not get AWS credentials"]);
}

#[test]
fn secrets_stay_out_of_logs_state_and_plan() {
    let moto = Moto::start();
    let topo = moto.fixture(&["topology", "weights=1,2"]);
    let ws = Workspace::new(&moto).with_env("TF_LOG", "TRACE").with_env("TF_LOG_PROVIDER", "TRACE");
    let token = "hub-token-7f3a9c1e5b";
    let external_id = "external-id-2d8e4f6a";
    ws.write_with(
        &support::ProviderHcl::new(&moto.endpoint)
            .assume_role("arn:aws:iam::123456789012:role/r", None, Some(external_id))
            .hub(&format!("    host = \"https://127.0.0.1:6443\"\n    token = \"{token}\"")),
        &format!("data \"shard_listener\" \"l\" {{\n  listener_arn = \"{}\"\n}}\n", topo["listener"].as_str().unwrap()),
    );
    ws.init();
    ws.ok(&["plan", "-no-color", "-out=tfplan"]);
    let mut plan: serde_json::Value =
        serde_json::from_str(&ws.ok(&["show", "-json", "-no-color", "tfplan"]).stdout).unwrap();
    // `configuration` echoes the HCL source, where these literals were written by hand; what we
    // check is every value Terraform planned or stored.
    plan.as_object_mut().unwrap().remove("configuration");
    let plan_json = plan.to_string();
    ws.apply();
    let log = support::read(&ws.path("terraform.log"));
    assert!(log.contains("provider.terraform-provider-shard"), "provider logs were captured");
    let state = support::read(&ws.path("terraform.tfstate"));
    for secret in [token, external_id] {
        assert!(!log.contains(secret), "{secret} appears in the TRACE log");
        assert!(!state.contains(secret), "{secret} appears in the state");
        assert!(!plan_json.contains(secret), "{secret} appears in the plan");
    }
}
