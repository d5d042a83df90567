//! `shard_weight` where real ELBv2 differs from moto: every test here talks to the provider through
//! tests/fixtures/fault_proxy.py with its AWS realism on (unused targets of unreferenced target
//! groups, rule quota, paging) and, where a test says so, injected delays.

mod support;

use std::time::{Duration, Instant};
use support::shards::{NO_GATE, ingress, no_lock_left, shard, weight_of};
use support::{FaultProxy, Moto, Workspace};

/// A target group in the ingress VPC, not in any action, with `count` registered targets.
fn new_target_group(moto: &Moto, vpc: &str, count: u32) -> String {
    let tg = moto.fixture(&["target-group", &format!("vpc={vpc}")])["arn"].as_str().unwrap().to_string();
    moto.fixture(&["register", &tg, &count.to_string()]);
    tg
}

#[test]
fn a_new_shard_with_the_default_gate_joins_at_zero_then_takes_traffic_once_healthy() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=50"]);
    let tg = new_target_group(&moto, &ing.vpc, 2);
    // Targets of a group no action references report `unused` (as on AWS); after it joins the
    // action they are `initial` for 2 s, then healthy.
    let proxy = FaultProxy::start(&moto, "initial=2");
    let ws = Workspace::new(&moto);
    ws.write_via(&proxy.endpoint, &shard(&ing.listener, &tg, 30, "  timeouts {\n    create = \"60s\"\n  }"));
    ws.init();
    let started = Instant::now();
    ws.ok(&["apply", "-auto-approve", "-no-color"]);
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2), "the gate did not wait for the targets to become healthy ({took:?})");
    assert!(took < Duration::from_secs(45), "the gate waited out its timeout ({took:?})");
    assert_eq!(weight_of(&moto, &ing.listener, &tg), Some(30));
    // Two writes: the join at 0 and the raise; each under its own lock.
    assert_eq!(proxy.calls("ModifyListener"), 2);
    assert_eq!(proxy.calls("CreateRule"), 2);
    no_lock_left(&moto, &ing.listener);
    ws.assert_plan_empty();
}

#[test]
fn a_gate_that_fails_after_joining_removes_the_entry_and_names_each_targets_state() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=50"]);
    // Registered but never healthy within the timeout: `initial` for longer than it.
    let tg = new_target_group(&moto, &ing.vpc, 1);
    let proxy = FaultProxy::start(&moto, "initial=600");
    let ws = Workspace::new(&moto);
    ws.write_via(&proxy.endpoint, &shard(&ing.listener, &tg, 30, "  timeouts {\n    create = \"5s\"\n  }"));
    ws.init();
    ws.fails(
        &["apply", "-auto-approve", "-no-color"],
        &["Target group not healthy", "0 healthy target(s) (1 not healthy:", "initial (Elb.RegistrationInProgress)"],
    );
    assert_eq!(weight_of(&moto, &ing.listener, &tg), None, "the joined entry was removed again");
    no_lock_left(&moto, &ing.listener);
    // Nothing was created: the next plan wants to create it again.
    assert_eq!(ws.plan().code, 2);
}

#[test]
fn a_lambda_target_group_without_health_checks_is_explained() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=50"]);
    let tg = moto.fixture(&["target-group", "type=lambda"])["arn"].as_str().unwrap().to_string();
    moto.fixture(&["register-lambda", &tg]);
    let proxy = FaultProxy::start(&moto, "");
    let ws = Workspace::new(&moto);
    ws.write_via(&proxy.endpoint, &shard(&ing.listener, &tg, 10, "  timeouts {\n    create = \"3s\"\n  }"));
    ws.init();
    ws.fails(
        &["apply", "-auto-approve", "-no-color"],
        &["Target.HealthCheckDisabled", "only with min_healthy_targets = 0"],
    );
}

#[test]
fn a_holder_whose_calls_stall_past_their_budget_writes_nothing() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=5,5"]);
    let proxy = FaultProxy::start(&moto, "");
    let ws = Workspace::new(&moto);
    ws.write_via(&proxy.endpoint, &shard(&ing.listener, &ing.tgs[0], 7, NO_GATE));
    ws.init();
    ws.apply();
    // Every DescribeListeners now stalls 12 s; the one under the lock may take 10 s at most.
    proxy.set_rules("DescribeListeners=delay:12");
    ws.write_via(&proxy.endpoint, &shard(&ing.listener, &ing.tgs[0], 8, NO_GATE));
    let modifies = proxy.calls("ModifyListener");
    ws.fails(
        &["apply", "-auto-approve", "-no-color", "-refresh=false"],
        &["Listener lock ran out of time", "DescribeListeners"],
    );
    assert_eq!(proxy.calls("ModifyListener"), modifies, "no write after the budget ran out");
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(7));
    no_lock_left(&moto, &ing.listener);
}

#[test]
fn at_the_rule_quota_the_lock_says_it_needs_a_free_slot() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=5,5", "rule=1"]);
    // The load balancer already has 1 rule and the quota is 1: the lock cannot be a rule.
    let proxy = FaultProxy::start(&moto, "max_rules=1");
    let ws = Workspace::new(&moto);
    ws.write_via(&proxy.endpoint, &shard(&ing.listener, &ing.tgs[0], 9, NO_GATE));
    ws.init();
    ws.fails(&["apply", "-auto-approve", "-no-color"], &["No listener rule slot for the lock", "needs one free slot"]);
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(5));
}

#[test]
fn a_stale_lock_on_a_later_page_of_rules_is_found_and_broken() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=5,5"]);
    // Six rules ahead of the lock at 50000; pages of 2 put the lock on the fourth page.
    moto.fixture(&["fill-rules", &ing.listener, "6"]);
    moto.fixture(&["stale-lock", &ing.listener, "-60"]);
    let proxy = FaultProxy::start(&moto, "page=2");
    let ws = Workspace::new(&moto);
    ws.write_via(&proxy.endpoint, &shard(&ing.listener, &ing.tgs[0], 12, NO_GATE));
    ws.init();
    ws.apply();
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(12));
    assert!(proxy.calls("DescribeRules") >= 4, "the inspection read past the first page");
    no_lock_left(&moto, &ing.listener);
}

#[test]
fn a_lock_priority_set_by_the_provider_is_used() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=5,5"]);
    // Someone's rule sits at 50000; the shards use 49000 instead.
    moto.fixture(&["foreign-rule", &ing.listener, "50000"]);
    let proxy = FaultProxy::start(&moto, "");
    let ws = Workspace::new(&moto);
    ws.write_with(
        &support::ProviderHcl::new(&proxy.endpoint).line("lock_priority = 49000"),
        &shard(&ing.listener, &ing.tgs[0], 14, NO_GATE),
    );
    ws.init();
    ws.apply();
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(14));
    let rules = moto.fixture(&["rules", &ing.listener]);
    assert!(!rules.as_array().unwrap().iter().any(|r| r["Priority"] == "49000"), "lock released");
}

#[test]
fn a_retried_create_rule_that_had_succeeded_is_recognised_as_the_holders_own_lock() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=5,5"]);
    // The first CreateRule (the lock) is carried out, but its answer is lost; the SDK retries it
    // and gets PriorityInUse from the holder's own rule.
    let proxy = FaultProxy::start(&moto, "CreateRule=lost:1");
    let ws = Workspace::new(&moto);
    ws.write_via(&proxy.endpoint, &shard(&ing.listener, &ing.tgs[0], 15, NO_GATE));
    ws.init();
    let started = Instant::now();
    ws.ok(&["apply", "-auto-approve", "-no-color"]);
    // Waiting for its own lock to expire would take the TTL plus the grace (70 s).
    assert!(started.elapsed() < Duration::from_secs(40), "waited for its own lock: {:?}", started.elapsed());
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(15));
    assert_eq!(proxy.calls("CreateRule"), 2, "the lost answer was retried once");
    no_lock_left(&moto, &ing.listener);
}
