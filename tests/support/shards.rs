//! Shared pieces of the `shard_weight` acceptance tests: an ingress stack made by the fixture,
//! reading weights back from moto, and the resource's HCL.

use super::Moto;
use serde_json::Value as Json;

pub struct Ingress {
    pub listener: String,
    pub rule: Option<String>,
    pub tgs: Vec<String>,
    pub vpc: String,
}

pub fn ingress(moto: &Moto, opts: &[&str]) -> Ingress {
    let mut args = vec!["topology"];
    args.extend_from_slice(opts);
    let t = moto.fixture(&args);
    Ingress {
        listener: t["listener"].as_str().unwrap().into(),
        rule: t["rule"].as_str().map(str::to_string),
        tgs: serde_json::from_value(t["target_groups"].clone()).unwrap(),
        vpc: t["vpc"].as_str().unwrap().into(),
    }
}

/// (target group, weight) of the forward action of a listener or rule, in order.
pub fn weights(moto: &Moto, owner: &str) -> Vec<(String, i64)> {
    let actions = moto.fixture(&["actions", owner]);
    forward_weights(&actions).unwrap_or_else(|| panic!("no well-formed forward action in {actions:#}"))
}

/// (target group, weight) of the forward action among `actions` (the fixture's `actions` answer),
/// in order; None without one.
pub fn forward_weights(actions: &Json) -> Option<Vec<(String, i64)>> {
    let fwd = actions.as_array()?.iter().find(|a| a["Type"] == "forward")?;
    fwd["ForwardConfig"]["TargetGroups"]
        .as_array()?
        .iter()
        .map(|t| Some((t["TargetGroupArn"].as_str()?.to_string(), t["Weight"].as_i64()?)))
        .collect()
}

pub fn weight_of(moto: &Moto, owner: &str, tg: &str) -> Option<i64> {
    weights(moto, owner).into_iter().find(|(a, _)| a == tg).map(|(_, w)| w)
}

/// Whether the listener holds a lock rule (priority 50000) right now.
pub fn lock_held(moto: &Moto, listener: &str) -> bool {
    let rules = moto.fixture(&["rules", listener]);
    rules.as_array().unwrap().iter().any(|r| r["Priority"] == "50000")
}

pub fn no_lock_left(moto: &Moto, listener: &str) {
    assert!(!lock_held(moto, listener), "a lock rule was left behind: {:#}", moto.fixture(&["rules", listener]));
}

pub fn shard(listener: &str, tg: &str, weight: i64, extra: &str) -> String {
    format!(
        "resource \"shard_weight\" \"this\" {{\n  listener_arn     = \"{listener}\"\n  target_group_arn = \"{tg}\"\n  weight           = {weight}\n{extra}\n}}\n"
    )
}

pub const NO_GATE: &str = "  min_healthy_targets = 0";
