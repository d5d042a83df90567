//! Terraform 1.14+ list resources and actions with the real CLI against moto: `terraform query
//! -generate-config-out` adopts a running fleet's weights (import blocks and configuration that
//! plan nothing but the imports), and `terraform apply -invoke` drains and restores a shard now,
//! with the fleet guard, leaving the drift for the owning `shard_weight`'s next plan.

mod support;
use support::shards::{NO_GATE, ingress, no_lock_left, shard, weight_of, weights};
use support::{Moto, Workspace, terraform_at_least};

fn skip_before_1_14() -> bool {
    if terraform_at_least(1, 14) {
        return false;
    }
    eprintln!("skipped: list resources and actions need Terraform 1.14 or later");
    true
}

#[test]
fn query_generates_import_blocks_and_configuration_for_every_entry_of_a_listener() {
    if skip_before_1_14() {
        return;
    }
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=30,70,0", "rule=5:6:7"]);
    let ws = Workspace::new(&moto);
    ws.write(&moto, "");
    let query = |body: &str| std::fs::write(ws.path("fleet.tfquery.hcl"), body).expect("write query");
    query(&format!(
        "list \"shard_weight\" \"fleet\" {{\n  provider = shard\n  config {{\n    listener_arn = \"{}\"\n  }}\n}}\n",
        ing.listener
    ));
    ws.init();
    let listed = ws.ok(&["query", "-no-color"]);
    // Every entry of the default action and of the rule, each named after its target group.
    assert_eq!(listed.stdout.matches("list.shard_weight.fleet").count(), 6, "{}", listed.stdout);
    let tg_name = |arn: &str| arn.split(":targetgroup/").nth(1).unwrap().split('/').next().unwrap().to_string();
    assert!(listed.stdout.contains(&format!("{} in listener/", tg_name(&ing.tgs[1]))), "{}", listed.stdout);
    assert!(listed.stdout.contains(&format!("{} in rule/", tg_name(&ing.tgs[2]))), "{}", listed.stdout);

    // The same entries through the load balancer (every listener of it).
    let lb = ing.listener.replacen(":listener/", ":loadbalancer/", 1);
    let lb = lb.rsplit_once('/').unwrap().0.to_string();
    query(&format!(
        "list \"shard_weight\" \"fleet\" {{\n  provider = shard\n  config {{\n    load_balancer_arn = \"{lb}\"\n  }}\n}}\n"
    ));
    let by_lb = ws.ok(&["query", "-no-color"]);
    assert_eq!(by_lb.stdout.matches("list.shard_weight.fleet").count(), 6, "{}", by_lb.stdout);
    // Both or neither: refused at validation, on the attribute.
    query(&format!(
        "list \"shard_weight\" \"fleet\" {{\n  provider = shard\n  config {{\n    load_balancer_arn = \"{lb}\"\n    listener_arn = \"{}\"\n  }}\n}}\n",
        ing.listener
    ));
    ws.fails(&["query", "-no-color"], &["Conflicting list configuration", "load_balancer_arn"]);

    // One shard directory adopts only its own entries.
    query(&format!(
        "list \"shard_weight\" \"mine\" {{\n  provider = shard\n  include_resource = true\n  config {{\n    listener_arn = \"{}\"\n    target_group_arns = [\"{}\"]\n  }}\n}}\n",
        ing.listener, ing.tgs[1]
    ));
    ws.ok(&["query", "-no-color", "-generate-config-out=generated.tf"]);
    let generated = support::read(&ws.path("generated.tf"));
    assert_eq!(generated.matches("import {").count(), 2, "{generated}");
    assert_eq!(generated.matches("resource \"shard_weight\"").count(), 2, "{generated}");
    assert!(generated.contains("weight           = 70") || generated.contains("weight = 70"), "{generated}");
    assert!(generated.contains("weight           = 6") || generated.contains("weight = 6"), "{generated}");
    assert!(!generated.contains("traffic_share"), "computed values are not configuration:\n{generated}");
    assert!(!generated.contains("drain_delay"), "defaults stay out of the configuration:\n{generated}");
    std::fs::remove_file(ws.path("fleet.tfquery.hcl")).expect("remove query");

    // The plan of the generated configuration imports and changes nothing.
    let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
    assert!(plan.stdout.contains("2 to import, 0 to add, 0 to change, 0 to destroy"), "{}", plan.stdout);
    let before = weights(&moto, &ing.listener);
    let applied = ws.apply();
    assert!(applied.stdout.contains("2 imported"), "{}", applied.stdout);
    assert_eq!(weights(&moto, &ing.listener), before, "adoption wrote to the listener");
    // The adopted weights are managed now.
    let edited = support::read(&ws.path("generated.tf")).replacen("= 70", "= 65", 1);
    std::fs::write(ws.path("generated.tf"), edited).expect("edit generated");
    ws.apply();
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[1]), Some(65));
    no_lock_left(&moto, &ing.listener);
}

/// The operator's directory: actions only, no resources (nothing else to refresh).
fn ops_actions(listener: &str, tg: &str, drain_extra: &str, restore_extra: &str) -> String {
    format!(
        "action \"shard_drain\" \"this\" {{\n  config {{\n    listener_arn = \"{listener}\"\n    target_group_arn = \"{tg}\"\n{drain_extra}\n  }}\n}}\n\
         action \"shard_restore\" \"this\" {{\n  config {{\n    listener_arn = \"{listener}\"\n    target_group_arn = \"{tg}\"\n    weight = 70\n{restore_extra}\n  }}\n}}\n"
    )
}

#[test]
fn drain_and_restore_actions_move_the_weight_now_and_the_owner_plans_the_drift() {
    if skip_before_1_14() {
        return;
    }
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=30,70,50"]);
    for tg in &ing.tgs {
        moto.fixture(&["register", tg, "1"]);
    }
    let owner = Workspace::new(&moto);
    owner.write(&moto, &shard(&ing.listener, &ing.tgs[1], 70, NO_GATE));
    owner.init();
    owner.apply();

    let ops = Workspace::new(&moto);
    ops.write(
        &moto,
        &ops_actions(
            &ing.listener,
            &ing.tgs[1],
            "    drain_delay = \"1s\"\n    fleet_guard {\n      max_drained = 1\n      contact = \"oncall\"\n    }",
            "    ramp {\n      step = 35\n      interval = \"1s\"\n    }",
        ),
    );
    ops.init();
    let drained = ops.ok(&["apply", "-auto-approve", "-no-color", "-invoke=action.shard_drain.this"]);
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[1]), Some(0));
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(30), "another shard's weight moved");
    // Progress is streamed as the action runs.
    assert!(drained.stdout.contains("weight 70 -> 0"), "{}", drained.stdout);
    assert!(drained.stdout.contains("is at weight 0"), "{}", drained.stdout);
    no_lock_left(&moto, &ing.listener);

    // The owner's next plan shows what the action did, as drift to repair.
    let plan = owner.plan();
    assert_eq!(plan.code, 2, "the drain is not in the owner's plan:\n{}", plan.text());
    assert!(plan.stdout.contains("0 -> 70"), "{}", plan.stdout);

    // A second drain (of another shard) would leave two shards out: refused before any write,
    // naming who drained the first.
    let other = Workspace::new(&moto);
    other.write(&moto, &ops_actions(&ing.listener, &ing.tgs[0], "    fleet_guard {\n      max_drained = 1\n    }", ""));
    other.init();
    other.fails(
        &["apply", "-auto-approve", "-no-color", "-invoke=action.shard_drain.this"],
        &["fleet_guard", "max_drained", "oncall"],
    );
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(30), "a refused drain wrote");

    let restored = ops.ok(&["apply", "-auto-approve", "-no-color", "-invoke=action.shard_restore.this"]);
    assert!(restored.stdout.contains("weight 0 -> 70"), "{}", restored.stdout);
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[1]), Some(70));
    owner.assert_plan_empty();
    no_lock_left(&moto, &ing.listener);
}

#[test]
fn an_action_on_a_target_group_outside_the_action_fails_at_plan_and_writes_nothing() {
    if skip_before_1_14() {
        return;
    }
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=50,50"]);
    let stray = moto.fixture(&["target-group", &format!("vpc={}", ing.vpc)]);
    let stray = stray["arn"].as_str().unwrap().to_string();
    let ops = Workspace::new(&moto);
    ops.write(&moto, &ops_actions(&ing.listener, &stray, "", ""));
    ops.init();
    let before = weights(&moto, &ing.listener);
    ops.fails(
        &["apply", "-auto-approve", "-no-color", "-invoke=action.shard_restore.this"],
        &["Target group not in the action", &stray],
    );
    assert_eq!(weights(&moto, &ing.listener), before);
    // Bad input is refused at validation, on the attribute.
    ops.write(&moto, &ops_actions(&ing.listener, "not-an-arn", "", ""));
    ops.fails(&["validate", "-no-color"], &["target_group_arn", "is not a target group ARN"]);
}

#[test]
fn ctrl_c_and_the_timeout_stop_an_action_where_it_is() {
    if skip_before_1_14() {
        return;
    }
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=30,70"]);
    moto.fixture(&["register", &ing.tgs[1], "1"]);
    let ops = Workspace::new(&moto);
    ops.write(&moto, &ops_actions(&ing.listener, &ing.tgs[0], "    drain_delay = \"10m\"", ""));
    ops.init();
    // Ctrl-C during the drain delay: the weight is 0 already, the action stops at once.
    let child = ops.spawn(&["apply", "-auto-approve", "-no-color", "-invoke=action.shard_drain.this"]);
    support::wait_until(std::time::Duration::from_secs(60), "the drain's write", || {
        weight_of(&moto, &ing.listener, &ing.tgs[0]) == Some(0)
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let asked = std::time::Instant::now();
    support::interrupt(&child);
    let (ok, text) = support::finish(child);
    assert!(!ok, "an interrupted action must not report success: {text}");
    assert!(asked.elapsed() < std::time::Duration::from_secs(30), "Ctrl-C took {:?}", asked.elapsed());
    assert!(text.contains("Drain delay cancelled") || text.contains("cancelled"), "{text}");
    no_lock_left(&moto, &ing.listener);

    // A timeout shorter than the health gate's wait: the action fails at its deadline, saying
    // what it waited for.
    ops.write(&moto, &ops_actions(&ing.listener, &ing.tgs[0], "", "    timeout = \"3s\"\n    min_healthy_targets = 1"));
    let started = std::time::Instant::now();
    ops.fails(
        &["apply", "-auto-approve", "-no-color", "-invoke=action.shard_restore.this"],
        &["Target group not healthy", "needs 1", "raise the timeout"],
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(0), "a timed-out restore raised the weight");
}
