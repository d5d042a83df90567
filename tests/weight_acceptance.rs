//! `shard_weight` against moto with the real Terraform CLI: ownership across directories,
//! racing applies, the lock, drift, import, health gate, outage guard, ramps, rules, destroy
//! modes and the bad-input matrix.

mod support;
use serde_json::Value as Json;
use std::time::{Duration, Instant};
use support::shards::{Ingress, NO_GATE, ingress, lock_held, no_lock_left, shard, weight_of, weights};
use support::{Moto, Workspace};

/// An ingress, and one shard directory applied for its first target group (after registering
/// `healthy` targets there).
fn applied_shard(moto: &Moto, opts: &[&str], healthy: u32, weight: i64, extra: &str) -> (Ingress, Workspace) {
    let ing = ingress(moto, opts);
    if healthy > 0 {
        moto.fixture(&["register", &ing.tgs[0], &healthy.to_string()]);
    }
    let ws = Workspace::new(moto);
    ws.write(moto, &shard(&ing.listener, &ing.tgs[0], weight, extra));
    ws.init();
    ws.apply();
    (ing, ws)
}

#[test]
fn each_shard_directory_owns_only_its_entry() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=50,50,50", "stickiness=300"]);
    let before_sticky =
        moto.fixture(&["actions", &ing.listener])[0]["ForwardConfig"]["TargetGroupStickinessConfig"].clone();
    let a = Workspace::new(&moto);
    let b = Workspace::new(&moto);
    a.write(&moto, &shard(&ing.listener, &ing.tgs[0], 10, NO_GATE));
    b.write(&moto, &shard(&ing.listener, &ing.tgs[1], 20, NO_GATE));
    a.init();
    b.init();
    a.apply();
    b.apply();
    let expect = |w0, w1| vec![(ing.tgs[0].clone(), w0), (ing.tgs[1].clone(), w1), (ing.tgs[2].clone(), 50)];
    assert_eq!(weights(&moto, &ing.listener), expect(10, 20));

    a.write(&moto, &shard(&ing.listener, &ing.tgs[0], 35, NO_GATE));
    a.apply();
    assert_eq!(weights(&moto, &ing.listener), expect(35, 20));
    b.write(&moto, &shard(&ing.listener, &ing.tgs[1], 0, NO_GATE));
    b.apply();
    assert_eq!(weights(&moto, &ing.listener), expect(35, 0));
    // A's plan is still empty: B's change is not A's business.
    a.assert_plan_empty();

    a.destroy(); // on_destroy = "remove"
    assert_eq!(weights(&moto, &ing.listener), vec![(ing.tgs[1].clone(), 0), (ing.tgs[2].clone(), 50)]);
    b.assert_plan_empty();
    assert_eq!(
        moto.fixture(&["actions", &ing.listener])[0]["ForwardConfig"]["TargetGroupStickinessConfig"],
        before_sticky
    );
    no_lock_left(&moto, &ing.listener);
    b.destroy();
    assert_eq!(weights(&moto, &ing.listener), vec![(ing.tgs[2].clone(), 50)]);
}

#[test]
fn racing_applies_lose_no_update() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=1,1,1,1,1", "rule=1:1:1:1:1"]);
    let rule = ing.rule.clone().unwrap();
    // Ten shard directories: five on the default action, five on the rule, one listener lock.
    let dirs: Vec<(Workspace, String, Option<String>)> = (0..10)
        .map(|i| {
            let ws = Workspace::new(&moto);
            let owner = if i < 5 { None } else { Some(rule.clone()) };
            ws.init();
            (ws, ing.tgs[i % 5].clone(), owner)
        })
        .collect();
    for round in 0..2 {
        let weight_for = |i: usize| (round * 100 + i * 7 + 3) as i64;
        for (i, (ws, tg, owner)) in dirs.iter().enumerate() {
            let extra = match owner {
                Some(r) => format!("{NO_GATE}\n  rule_arn = \"{r}\""),
                None => NO_GATE.to_string(),
            };
            ws.write(&moto, &shard(&ing.listener, tg, weight_for(i), &extra));
        }
        let children: Vec<_> =
            dirs.iter().map(|(ws, _, _)| ws.spawn(&["apply", "-auto-approve", "-no-color", "-input=false"])).collect();
        for (child, (ws, _, _)) in children.into_iter().zip(&dirs) {
            let (ok, text) = support::finish(child);
            assert!(ok, "racing apply failed in {}:\n{text}", ws.dir.display());
        }
        let default: Vec<i64> = weights(&moto, &ing.listener).iter().map(|t| t.1).collect();
        let on_rule: Vec<i64> = weights(&moto, &rule).iter().map(|t| t.1).collect();
        assert_eq!(
            default,
            (0..5).map(weight_for).collect::<Vec<_>>(),
            "round {round}: lost update on the default action"
        );
        assert_eq!(on_rule, (5..10).map(weight_for).collect::<Vec<_>>(), "round {round}: lost update on the rule");
        no_lock_left(&moto, &ing.listener);
    }
    for (ws, _, _) in &dirs {
        ws.assert_plan_empty();
    }
    // Destroying all ten at once removes every entry but the last of each action (an action
    // keeps at least one target group), and loses nothing either.
    let children: Vec<_> = dirs.iter().map(|(ws, _, _)| ws.spawn(&["destroy", "-auto-approve", "-no-color"])).collect();
    let results: Vec<(bool, String)> = children.into_iter().map(support::finish).collect();
    let failed: Vec<&String> = results.iter().filter(|(ok, _)| !ok).map(|(_, t)| t).collect();
    assert_eq!(failed.len(), 2, "exactly the last entry of each action cannot be removed: {failed:?}");
    assert!(failed.iter().all(|t| t.contains("is the only target group")), "{failed:?}");
    assert_eq!(weights(&moto, &ing.listener).len(), 1);
    assert_eq!(weights(&moto, &rule).len(), 1);
    no_lock_left(&moto, &ing.listener);
}

#[test]
fn a_crashed_holders_lock_is_broken_after_its_ttl() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=5,5"]);
    let ws = Workspace::new(&moto);
    ws.init();
    // Expired already: broken at once.
    moto.fixture(&["stale-lock", &ing.listener, "-30"]);
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[0], 11, NO_GATE));
    ws.apply();
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(11));
    no_lock_left(&moto, &ing.listener);
    // Still valid for 4 more seconds: the apply waits it out, then breaks it.
    moto.fixture(&["stale-lock", &ing.listener, "4"]);
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[0], 12, NO_GATE));
    let started = Instant::now();
    ws.apply();
    assert!(started.elapsed() >= Duration::from_secs(3), "the live lock was not respected");
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(12));
    no_lock_left(&moto, &ing.listener);
    // A foreign rule at the reserved priority is reported, and nothing is written.
    moto.fixture(&["foreign-rule", &ing.listener, "50000"]);
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[0], 13, NO_GATE));
    ws.fails(&["apply", "-auto-approve", "-no-color"], &["priority reserved by shard_weight", "50000"]);
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(12));
}

#[test]
fn a_plan_that_moves_much_traffic_warns_with_the_fleets_effect() {
    let moto = Moto::start();
    // Three shards at 5: this one serves a third. min_healthy_targets 0: no health gate here.
    let (ing, ws) = applied_shard(&moto, &["weights=5,5,5"], 0, 5, "  min_healthy_targets = 0\n");
    assert_eq!(ws.state_of("shard_weight.this")["traffic_share"], "33.3%");
    // A drain moves 33.3 points: under the default of 50, no warning, the share is in the plan.
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[0], 0, "  min_healthy_targets = 0\n"));
    let plan = ws.plan();
    assert!(plan.flat().contains(r#"~ traffic_share = "33.3%" -> "0%""#), "{}", plan.text());
    assert!(!plan.text().contains("Large traffic shift"), "{}", plan.text());
    // With share_change_warning = 20 the same plan warns, naming the shares and the others.
    let strict = "  min_healthy_targets = 0\n  share_change_warning = 20\n";
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[0], 0, strict));
    let plan = ws.plan();
    assert_eq!(plan.code, 2, "a warning, not an error:\n{}", plan.text());
    let text = plan.flat();
    assert!(text.contains("Warning: Large traffic shift"), "{text}");
    assert!(text.contains("moves 33.3 percentage points") && text.contains("from 33.3% to 0%"), "{text}");
    assert!(text.contains("total weight 10"), "the other shards' weight: {text}");
    ws.apply();
    assert_eq!(ws.state_of("shard_weight.this")["traffic_share"], "0%");
}

#[test]
fn drift_is_a_diff_on_weight_and_its_traffic_share_and_apply_repairs_it() {
    let moto = Moto::start();
    let (ing, ws) = applied_shard(&moto, &["weights=5,5"], 0, 40, NO_GATE);
    assert_eq!(ws.state_of("shard_weight.this")["traffic_share"], "88.9%", "40 of 45");
    moto.fixture(&["set-weights", &ing.listener, &format!("{}=7", ing.tgs[0]), &format!("{}=5", ing.tgs[1])]);
    let plan = ws.plan();
    assert_eq!(plan.code, 2, "drift must show as a change:\n{}", plan.text());
    assert!(plan.stdout.contains("~ weight") && plan.stdout.contains("7 -> 40"), "{}", plan.stdout);
    // The fleet's effect in the plan: 7 of 12 now, 40 of 45 after.
    assert!(plan.flat().contains(r#"~ traffic_share = "58.3%" -> "88.9%""#), "{}", plan.stdout);
    assert_eq!(
        ws.planned_changes(),
        vec![("shard_weight.this".to_string(), vec!["traffic_share".to_string(), "weight".to_string()])]
    );
    ws.apply();
    assert_eq!(weights(&moto, &ing.listener), vec![(ing.tgs[0].clone(), 40), (ing.tgs[1].clone(), 5)]);
    // Removed out of band: the next plan recreates it.
    moto.fixture(&["set-weights", &ing.listener, &format!("{}=5", ing.tgs[1])]);
    let plan = ws.plan();
    assert_eq!(plan.code, 2);
    assert!(plan.stdout.contains("will be created"), "{}", plan.stdout);
    ws.apply();
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(40));
    ws.destroy();
    assert_eq!(weights(&moto, &ing.listener), vec![(ing.tgs[1].clone(), 5)]);
}

#[test]
fn import_round_trips_by_command_and_by_block() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=30,70"]);
    let id = format!("{},{}", ing.listener, ing.tgs[1]);
    let ws = Workspace::new(&moto);
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[1], 70, ""));
    ws.init();
    ws.ok(&["import", "-no-color", "shard_weight.this", &id]);
    ws.assert_plan_empty();
    assert_eq!(ws.state_of("shard_weight.this")["id"], id.as_str());
    // Changing only settings writes nothing to AWS (no lock, no Modify).
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[1], 70, "  on_destroy = \"retain\"\n  drain_delay = \"1s\""));
    let writes =
        |log: &str| log.matches("aws_call=ModifyListener").count() + log.matches("aws_call=CreateRule").count();
    let before = writes(&support::read(&ws.path("terraform.log")));
    ws.apply();
    assert_eq!(writes(&support::read(&ws.path("terraform.log"))), before, "a settings-only update called AWS writes");
    assert_eq!(ws.state_of("shard_weight.this")["on_destroy"], "retain");

    let block = Workspace::new(&moto);
    block.write(
        &moto,
        &format!(
            "import {{\n  to = shard_weight.this\n  id = \"{id}\"\n}}\n{}",
            shard(&ing.listener, &ing.tgs[1], 70, "")
        ),
    );
    block.init();
    let r = block.apply();
    assert!(r.stdout.contains("1 imported"), "{}", r.stdout);

    // A target group that is not in the action cannot be imported.
    let stray = moto.fixture(&["target-group", &format!("vpc={}", ing.vpc)]);
    let bad = Workspace::new(&moto);
    let stray_tg = stray["arn"].as_str().unwrap();
    bad.write(&moto, &shard(&ing.listener, stray_tg, 1, ""));
    bad.init();
    bad.fails(
        &["import", "-no-color", "shard_weight.this", &format!("{},{stray_tg}", ing.listener)],
        &["target group not in the action", stray_tg],
    );
    block.destroy();
    ws.destroy();
    assert_eq!(weights(&moto, &ing.listener), vec![(ing.tgs[0].clone(), 30)]);
}

#[test]
fn health_gate_waits_then_fails_and_passes_once_targets_are_healthy() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=50", "groups=2"]);
    let ws = Workspace::new(&moto);
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[1], 20, "  timeouts {\n    create = \"3s\"\n  }"));
    ws.init();
    let started = Instant::now();
    ws.fails(
        &["apply", "-auto-approve", "-no-color"],
        &["Target group not healthy", "0 healthy target(s)", "needs 1", "min_healthy_targets"],
    );
    assert!(started.elapsed() >= Duration::from_secs(3), "did not wait for the timeout");
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[1]), None, "nothing written while unhealthy");
    assert!(ws.show()["values"]["root_module"]["resources"].is_null(), "a failed create leaves no state");
    moto.fixture(&["register", &ing.tgs[1], "1"]);
    // Time enough now: on a loaded machine the join under the lock alone can take seconds.
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[1], 20, "  timeouts {\n    create = \"60s\"\n  }"));
    ws.apply();
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[1]), Some(20));
    ws.destroy();
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[1]), None);
}

#[test]
fn the_outage_guard_refuses_all_zero_before_writing() {
    let moto = Moto::start();
    let (ing, ws) = applied_shard(&moto, &["weights=50,0"], 0, 50, NO_GATE);
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[0], 0, NO_GATE));
    ws.fails(
        &["plan", "-no-color"],
        &["Change refused", "every target group", "weight 0", "allow_total_outage", "weight"],
    );
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(50));
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[0], 0, &format!("{NO_GATE}\n  allow_total_outage = true")));
    ws.apply();
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(0));
    ws.destroy();
    assert_eq!(weights(&moto, &ing.listener), vec![(ing.tgs[1].clone(), 0)]);
}

/// The target group's tags, as DescribeTags returns them.
fn tags_of(moto: &Moto, tg: &str) -> std::collections::BTreeMap<String, String> {
    let answer = moto.fixture(&["call", "describe_tags", &serde_json::json!({ "ResourceArns": [tg] }).to_string()]);
    answer["ok"]["TagDescriptions"][0]["Tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (t["Key"].as_str().unwrap().to_string(), t["Value"].as_str().unwrap().to_string()))
        .collect()
}

/// `…:targetgroup/<name>/<id>` → name, as the guard's messages name shards.
fn tg_name(arn: &str) -> &str {
    arn.split(":targetgroup/").nth(1).and_then(|r| r.split('/').next()).unwrap()
}

const DRAINED_AT: &str = "terraform-provider-shard:drained-at";

#[test]
fn the_fleet_guard_refuses_drains_that_leave_too_few_serving_or_too_many_drained() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=50,50,50"]);
    // Shards 0 and 1 have a healthy target; shard 2 serves by weight but has none.
    moto.fixture(&["register", &ing.tgs[0], "1"]);
    moto.fixture(&["register", &ing.tgs[1], "1"]);
    let guarded = |tg: &str, weight: i64, guard: &str| {
        shard(&ing.listener, tg, weight, &format!("{NO_GATE}\n  fleet_guard {{\n{guard}\n  }}"))
    };
    let a = Workspace::new(&moto);
    a.write(&moto, &guarded(&ing.tgs[0], 50, "    min_serving = 2\n    contact = \"team-a @oncall\""));
    a.init();
    a.apply();

    // min_serving = 2: shard 2 has weight but no healthy target, so only shard 1 would serve.
    a.write(&moto, &guarded(&ing.tgs[0], 0, "    min_serving = 2\n    contact = \"team-a @oncall\""));
    let refused = a.fails(
        &["plan", "-no-color"],
        &[
            "Drain refused by the fleet guard",
            "leaves 1 serving shard(s)",
            "min_serving = 2",
            "without a healthy target",
        ],
    );
    assert!(refused.flat().contains(&format!("shard(s) (weight > 0 and a healthy target): {}", tg_name(&ing.tgs[1]))));
    assert!(refused.flat().contains(&format!("without a healthy target: {}", tg_name(&ing.tgs[2]))));
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(50), "nothing written");
    assert!(tags_of(&moto, &ing.tgs[0]).is_empty(), "nothing recorded");

    // Once shard 2 is healthy the drain passes, and is recorded on the target group.
    moto.fixture(&["register", &ing.tgs[2], "1"]);
    a.apply();
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(0));
    let record = tags_of(&moto, &ing.tgs[0]);
    assert!(record[DRAINED_AT].ends_with('Z'), "{record:?}");
    assert_eq!(record["terraform-provider-shard:drained-by"], "team-a @oncall");

    // max_drained = 1: shard 1 may not go while shard 0 is out, and is told since when and by whom.
    let b = Workspace::new(&moto);
    b.write(&moto, &guarded(&ing.tgs[1], 50, "    max_drained = 1"));
    b.init();
    b.apply();
    b.write(&moto, &guarded(&ing.tgs[1], 0, "    max_drained = 1"));
    let refused = b.fails(&["plan", "-no-color"], &["Drain refused by the fleet guard", "max_drained = 1"]);
    let text = refused.flat();
    assert!(
        text.contains(&format!("Already at weight 0: {} (since {}", tg_name(&ing.tgs[0]), record[DRAINED_AT])),
        "{text}"
    );
    assert!(text.contains("ago, by team-a @oncall)"), "{text}");
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[1]), Some(50));

    // Break glass: the override shows in the plan as a warning and goes through, recorded.
    b.write(&moto, &guarded(&ing.tgs[1], 0, "    max_drained = 1\n    override_reason = \"INC-4711 shard-1 is sick\""));
    let plan = b.plan();
    assert_eq!(plan.code, 2, "a warning, not an error:\n{}", plan.text());
    assert!(plan.flat().contains("Warning: Fleet guard overridden"), "{}", plan.text());
    assert!(plan.flat().contains(r#"+ override_reason = "INC-4711 shard-1 is sick""#), "{}", plan.text());
    b.apply();
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[1]), Some(0));
    assert_eq!(tags_of(&moto, &ing.tgs[1])["terraform-provider-shard:drain-override"], "INC-4711 shard-1 is sick");

    // Back into traffic: the record goes.
    a.write(&moto, &guarded(&ing.tgs[0], 50, "    min_serving = 2\n    contact = \"team-a @oncall\""));
    a.apply();
    assert!(!tags_of(&moto, &ing.tgs[0]).contains_key(DRAINED_AT), "{:?}", tags_of(&moto, &ing.tgs[0]));
    no_lock_left(&moto, &ing.listener);
}

#[test]
fn racing_drains_from_two_directories_let_exactly_one_through() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=50,50,50"]);
    for tg in &ing.tgs {
        moto.fixture(&["register", tg, "1"]);
    }
    let guarded = |tg: &str, weight: i64, who: &str| {
        let guard = format!("  fleet_guard {{\n    max_drained = 1\n    contact = \"{who}\"\n  }}");
        shard(&ing.listener, tg, weight, &format!("{NO_GATE}\n{guard}"))
    };
    let dirs: Vec<(Workspace, &String, &str)> = [(&ing.tgs[0], "dir-a"), (&ing.tgs[1], "dir-b")]
        .into_iter()
        .map(|(tg, who)| (Workspace::new(&moto), tg, who))
        .collect();
    for (ws, tg, who) in &dirs {
        ws.write(&moto, &guarded(tg, 50, who));
        ws.init();
        ws.apply();
        ws.write(&moto, &guarded(tg, 0, who));
    }
    // Both plans pass: neither shard is drained yet.
    for (ws, _, _) in &dirs {
        assert_eq!(ws.plan().code, 2);
    }
    let children: Vec<_> =
        dirs.iter().map(|(ws, _, _)| ws.spawn(&["apply", "-auto-approve", "-no-color", "-input=false"])).collect();
    let results: Vec<(bool, String)> = children.into_iter().map(support::finish).collect();
    let winners: Vec<usize> = (0..2).filter(|i| results[*i].0).collect();
    assert_eq!(winners.len(), 1, "exactly one drain wins: {results:#?}");
    let (won, lost) = (winners[0], 1 - winners[0]);
    let loser_text = support::flatten(&results[lost].1);
    assert!(loser_text.contains("Drain refused by the fleet guard"), "{loser_text}");
    assert!(
        loser_text.contains(&format!("Already at weight 0: {} (since", tg_name(dirs[won].1)))
            && loser_text.contains(&format!("by {})", dirs[won].2)),
        "the refusal names the drain that won, and who made it: {loser_text}"
    );
    assert_eq!(weight_of(&moto, &ing.listener, dirs[won].1), Some(0));
    assert_eq!(weight_of(&moto, &ing.listener, dirs[lost].1), Some(50), "the loser wrote nothing");
    assert_eq!(dirs[lost].0.state_of("shard_weight.this")["weight"], 50, "the loser's state is unchanged");
    dirs[won].0.assert_plan_empty();
    no_lock_left(&moto, &ing.listener);
}

/// One minute of a target group's ALB metrics, as ALB publishes them, timestamped now.
async fn publish_alb_metrics(
    aws: &shard_provider::clients::aws::AwsClients,
    listener: &str,
    tg: &str,
    requests: f64,
    target_5xx: f64,
) -> bool {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let (lb, tg) = shard_provider::clients::metric_guard::dimensions(listener, tg).unwrap();
    let dims = vec![
        Dimension::builder().name("LoadBalancer").value(lb).build(),
        Dimension::builder().name("TargetGroup").value(tg).build(),
    ];
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    let data = [("RequestCount", requests), ("HTTPCode_Target_5XX_Count", target_5xx), ("TargetResponseTime", 0.15)]
        .map(|(name, value)| {
            MetricDatum::builder()
                .metric_name(name)
                .set_dimensions(Some(dims.clone()))
                .value(value)
                .timestamp(now)
                .build()
        });
    let Ok(cw) = aws.cloudwatch().await else { return false };
    cw.put_metric_data().namespace("AWS/ApplicationELB").set_metric_data(Some(data.to_vec())).send().await.is_ok()
}

#[test]
fn a_metric_guarded_ramp_reaches_its_target_on_good_metrics_and_steps_back_on_a_breach() {
    let moto = Moto::start();
    let guard = "  ramp {\n    step = 10\n    interval = \"4s\"\n  }\n  metric_guard {\n    max_5xx_percent = 1\n    max_response_time = \"500ms\"\n    max_unhealthy_hosts = 0\n    bake_time = \"2s\"\n    check_interval = \"1s\"\n  }";
    let (ing, ws) = applied_shard(&moto, &["weights=0,50"], 1, 0, guard);
    let (listener, tg) = (ing.listener.clone(), ing.tgs[0].clone());
    let good = ["requests=400", "5xx=2", "rt=0.12", "unhealthy=0"];
    moto.fixture(&[&["put-metrics", &listener, &tg][..], &good[..]].concat());

    // Good metrics: the ramp goes 10, 20, 30, judged after each step and through the bake.
    ws.write(&moto, &shard(&listener, &tg, 30, guard));
    ws.apply();
    assert_eq!(weight_of(&moto, &listener, &tg), Some(30));

    // Back to 0 (a drain is not judged), then up again while the shard starts failing at step 2:
    // the test plays the ALB, publishing its 5xx once the listener sends the shard weight 20.
    ws.write(&moto, &shard(&listener, &tg, 0, guard));
    ws.apply();
    // Watching the listener through the SDK (every 100 ms) leaves the test most of the step's
    // interval to publish before the guard judges step 2.
    let aws = moto.aws_clients();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sick = {
        let (stop, listener, tg) = (stop.clone(), listener.clone(), tg.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let owner = shard_provider::clients::forward::ActionOwner::Listener(listener.clone());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let read = rt.block_on(shard_provider::clients::elbv2::read_forward(&aws, &owner));
                if read.is_ok_and(|(_, forward)| forward.weight_of(&tg) == Some(20)) {
                    // Published through the SDK as well (milliseconds, where a fixture process can
                    // take seconds on a loaded machine): the step's interval is the test's margin.
                    return rt.block_on(publish_alb_metrics(&aws, &listener, &tg, 400.0, 60.0));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            false
        })
    };
    ws.write(&moto, &shard(&listener, &tg, 30, guard));
    let failed = ws.fails(
        &["apply", "-auto-approve", "-no-color"],
        &[
            "Metric guard breached",
            "at weight 20 (step 2 of 3)",
            "target 5xx",
            "max_5xx_percent 1",
            "Stepping back to weight 10",
            "rolled back",
        ],
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(sick.join().unwrap(), "the test published the 5xx at step 2");
    assert!(failed.flat().contains(" requests, 5xx "), "the values judged are in the error: {}", failed.text());
    assert_eq!(weight_of(&moto, &listener, &tg), Some(10), "back to the last weight judged good");
    assert_eq!(ws.state_of("shard_weight.this")["weight"], 10, "state records the weight it stepped back to");
    let plan = ws.plan();
    assert!(plan.stdout.contains("10 -> 30"), "the next plan shows the way up again:\n{}", plan.stdout);
    no_lock_left(&moto, &listener);
}

#[test]
fn ramp_moves_in_steps_and_drain_delay_waits() {
    let moto = Moto::start();
    let (ing, ws) = applied_shard(&moto, &["weights=5,5"], 1, 10, "");
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[0], 40, "  ramp {\n    step = 10\n    interval = \"1s\"\n  }"));
    let log_before = support::read(&ws.path("terraform.log")).matches("forward action updated").count();
    let started = Instant::now();
    ws.apply();
    let steps = support::read(&ws.path("terraform.log")).matches("forward action updated").count() - log_before;
    assert_eq!(steps, 3, "10 → 20 → 30 → 40 is three writes");
    // go-plugin parsed our hclog JSON lines and logged them at their own level.
    let log = support::read(&ws.path("terraform.log"));
    assert!(
        log.contains("[INFO]  provider.terraform-provider-shard: forward action updated"),
        "provider lines not parsed"
    );
    // go-plugin prints the fields in map order, so look for the line, not the exact text.
    assert!(
        log.lines().any(|l| l.contains("[DEBUG] provider.terraform-provider-shard: aws call:")
            && l.contains("aws_call=ModifyListener")),
        "AWS calls are not logged at DEBUG"
    );
    assert!(!log.contains("\"@level\""), "a provider log line was not valid hclog JSON");
    assert!(started.elapsed() >= Duration::from_secs(2), "two intervals between three steps");
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(40));

    ws.write(&moto, &shard(&ing.listener, &ing.tgs[0], 0, "  drain_delay = \"3s\""));
    let started = Instant::now();
    ws.apply();
    assert!(started.elapsed() >= Duration::from_secs(3), "drain delay not honoured");
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(0));
    ws.destroy();
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), None);
}

#[test]
fn a_failed_ramp_check_rolls_back_to_where_it_started() {
    let moto = Moto::start();
    let (ing, ws) = applied_shard(&moto, &["weights=5,5"], 1, 10, "");
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[0], 60, "  ramp {\n    step = 10\n    interval = \"4s\"\n  }"));
    let child = ws.spawn(&["apply", "-auto-approve", "-no-color"]);
    // The first step (20) happens at once; take the targets away during the first interval.
    support::wait_until(Duration::from_secs(20), "the ramp never started", || {
        weight_of(&moto, &ing.listener, &ing.tgs[0]) == Some(20)
    });
    moto.fixture(&["deregister", &ing.tgs[0]]);
    let (ok, text) = support::finish(child);
    assert!(!ok, "{text}");
    assert!(text.contains("Ramp stopped and rolled back") && text.contains("back to 10"), "{text}");
    assert!(text.contains("0 healthy target(s)"), "{text}");
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(10));
    assert_eq!(ws.state_of("shard_weight.this")["weight"], 10, "state records the restored weight");
    no_lock_left(&moto, &ing.listener);
}

#[test]
fn a_rule_action_instead_of_the_default_action() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=5,5", "rule=1:2"]);
    let rule = ing.rule.clone().unwrap();
    let default_before = moto.fixture(&["actions", &ing.listener]);
    let ws = Workspace::new(&moto);
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[1], 99, &format!("{NO_GATE}\n  rule_arn = \"{rule}\"")));
    ws.init();
    ws.apply();
    assert_eq!(weights(&moto, &rule), vec![(ing.tgs[0].clone(), 1), (ing.tgs[1].clone(), 99)]);
    assert_eq!(moto.fixture(&["actions", &ing.listener]), default_before, "default action untouched");
    assert_eq!(ws.state_of("shard_weight.this")["id"], format!("{rule},{}", ing.tgs[1]).as_str());
    ws.destroy();
    assert_eq!(weights(&moto, &rule), vec![(ing.tgs[0].clone(), 1)]);
}

#[test]
fn on_destroy_remove_zero_and_retain() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=5,5,5,5"]);
    for (i, mode) in ["remove", "zero", "retain"].iter().enumerate() {
        let ws = Workspace::new(&moto);
        ws.write(&moto, &shard(&ing.listener, &ing.tgs[i], 42, &format!("{NO_GATE}\n  on_destroy = \"{mode}\"")));
        ws.init();
        ws.apply();
        assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[i]), Some(42));
        ws.destroy();
        let expected = match *mode {
            "remove" => None,
            "zero" => Some(0),
            _ => Some(42),
        };
        assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[i]), expected, "on_destroy = {mode}");
    }
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[3]), Some(5), "bystander untouched");
}

#[test]
fn bad_input_fails_at_plan_on_its_attribute_and_writes_nothing() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=1,1,1,1,1", "rule=1"]);
    let other = ingress(&moto, &["weights=1", "rule=1"]);
    let other_vpc_tg = moto.fixture(&["target-group"])["arn"].as_str().unwrap().to_string();
    let tcp_tg = moto.fixture(&["target-group", &format!("vpc={}", ing.vpc), "protocol=TCP"])["arn"]
        .as_str()
        .unwrap()
        .to_string();
    let sixth = moto.fixture(&["target-group", &format!("vpc={}", ing.vpc)])["arn"].as_str().unwrap().to_string();
    let before = (moto.fixture(&["actions", &ing.listener]), moto.fixture(&["rules", &ing.listener]));
    let l = ing.listener.as_str();
    let tg = ing.tgs[0].as_str();
    let cases: Vec<(String, Vec<&str>)> = vec![
        (shard(l, tg, 1000, ""), vec!["Invalid value for weight", "between 0 and 999", "weight"]),
        (shard(l, tg, -1, ""), vec!["Invalid value for weight", "between 0 and 999"]),
        (
            shard("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/x/y", tg, 1, ""),
            vec!["Invalid value for listener_arn", "not a listener ARN"],
        ),
        (shard(l, "tg-1", 1, ""), vec!["Invalid value for target_group_arn", "not a target group ARN"]),
        (
            shard(l, tg, 1, &format!("  rule_arn = \"{}\"", other.rule.as_ref().unwrap())),
            vec!["Rule of another listener", "rule_arn"],
        ),
        (shard(l, &sixth, 1, NO_GATE), vec!["Change refused", "already has 5 target groups", "Route 53"]),
        (shard(l, &other_vpc_tg, 1, NO_GATE), vec!["Target group cannot join this listener", "is in vpc-"]),
        (shard(l, &tcp_tg, 1, NO_GATE), vec!["Target group cannot join this listener", "uses TCP"]),
        (
            shard(&l.replace("listener/app/", "listener/net/"), tg, 1, NO_GATE),
            vec!["Invalid value for listener_arn", "network load balancer"],
        ),
        (
            shard(l, &other.tgs[0], 1, NO_GATE),
            vec![
                "Target group cannot join this listener",
                "already serves load balancer",
                "TargetGroupAssociationLimit",
            ],
        ),
        (shard(l, tg, 1, "  drain_delay = \"soon\""), vec!["Invalid value for drain_delay", "not a duration"]),
        (shard(l, tg, 1, "  on_destroy = \"delete\""), vec!["Invalid value for on_destroy", "remove, zero, retain"]),
        (shard(l, tg, 1, "  ramp {\n    step = 0\n    interval = \"1s\"\n  }"), vec!["Invalid value for step"]),
        (
            format!("{}{}", shard(l, tg, 1, NO_GATE), shard(l, tg, 2, NO_GATE).replace("\"this\"", "\"again\"")),
            vec!["Duplicate shard_weight", "also manages"],
        ),
    ];
    let ws = Workspace::new(&moto);
    ws.init();
    for (hcl, needles) in &cases {
        ws.write(&moto, hcl);
        ws.fails(&["plan", "-no-color", "-input=false"], needles);
    }
    let after = (moto.fixture(&["actions", &ing.listener]), moto.fixture(&["rules", &ing.listener]));
    assert_eq!(before, after, "a refused plan must not write anything");
}

#[test]
fn ctrl_c_cancels_a_health_wait_and_writes_nothing() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=50", "groups=2"]);
    let ws = Workspace::new(&moto);
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[1], 20, ""));
    ws.init();
    let child = ws.spawn(&["apply", "-auto-approve", "-no-color"]);
    // Wait until the provider is polling target health, then press Ctrl-C.
    support::wait_until(Duration::from_secs(30), "the health wait never started", || {
        support::read(&ws.path("terraform.log")).contains("DescribeTargetHealth")
    });
    let pressed = Instant::now();
    support::interrupt(&child);
    let (ok, text) = support::finish(child);
    assert!(!ok, "{text}");
    assert!(
        text.contains("Cancelled while waiting for healthy targets") && text.contains("the weight was not changed"),
        "{text}"
    );
    assert!(pressed.elapsed() < Duration::from_secs(10), "Ctrl-C took {:?}", pressed.elapsed());
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[1]), None);
    no_lock_left(&moto, &ing.listener);
}

#[test]
fn provider_settings_unknown_at_plan_do_not_break_planning() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=5,5"]);
    let ws = Workspace::new(&moto);
    // The endpoint comes from a resource created in the same run, so it is unknown at plan.
    ws.write_with(
        &support::ProviderHcl::endpoint_expression("terraform_data.endpoint.output"),
        &format!(
            "resource \"terraform_data\" \"endpoint\" {{\n  input = \"{}\"\n}}\n{}",
            moto.endpoint,
            shard(&ing.listener, &ing.tgs[0], 25, NO_GATE)
        ),
    );
    ws.init();
    let plan = ws.plan();
    assert_eq!(plan.code, 2, "plan must succeed with changes:\n{}", plan.text());
    ws.apply();
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(25));
    ws.destroy();
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), None);
}

#[test]
fn ctrl_c_during_a_ramp_keeps_the_last_completed_step() {
    let moto = Moto::start();
    let (ing, ws) = applied_shard(&moto, &["weights=5,5"], 0, 10, NO_GATE);
    ws.write(
        &moto,
        &shard(
            &ing.listener,
            &ing.tgs[0],
            90,
            &format!("{NO_GATE}\n  ramp {{\n    step = 20\n    interval = \"1m\"\n  }}"),
        ),
    );
    let child = ws.spawn(&["apply", "-auto-approve", "-no-color"]);
    support::wait_until(Duration::from_secs(30), "the ramp never took its first step", || {
        weight_of(&moto, &ing.listener, &ing.tgs[0]) == Some(30)
    });
    support::interrupt(&child);
    let (ok, text) = support::finish(child);
    assert!(!ok, "{text}");
    assert!(text.contains("Ramp cancelled") && text.contains("stays at 30, the last completed step"), "{text}");
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(30));
    assert_eq!(ws.state_of("shard_weight.this")["weight"], 30, "state records the step reached");
    no_lock_left(&moto, &ing.listener);
}

#[test]
fn changing_the_target_group_replaces_the_entry() {
    let moto = Moto::start();
    let (ing, ws) = applied_shard(&moto, &["weights=5,5,5"], 0, 40, NO_GATE);
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[2], 40, NO_GATE));
    let plan = ws.plan();
    assert_eq!(plan.code, 2, "{}", plan.text());
    assert!(
        plan.stdout.contains("must be replaced") && plan.stdout.contains("# forces replacement"),
        "{}",
        plan.stdout
    );
    ws.apply();
    assert_eq!(weights(&moto, &ing.listener), vec![(ing.tgs[1].clone(), 5), (ing.tgs[2].clone(), 40)]);
    // A forced replacement is planned twice by Terraform; it is not a duplicate.
    let r = ws.ok(&["apply", "-auto-approve", "-no-color", "-replace=shard_weight.this"]);
    assert!(r.stdout.contains("1 added, 0 changed, 1 destroyed"), "{}", r.stdout);
    ws.assert_plan_empty();
    assert_eq!(weights(&moto, &ing.listener), vec![(ing.tgs[1].clone(), 5), (ing.tgs[2].clone(), 40)]);
    ws.destroy();
    assert_eq!(weights(&moto, &ing.listener), vec![(ing.tgs[1].clone(), 5)]);
}

#[test]
fn the_timeout_bounds_a_ramp() {
    let moto = Moto::start();
    let (ing, ws) = applied_shard(&moto, &["weights=5,5"], 0, 10, NO_GATE);
    let ramp = format!(
        "{NO_GATE}\n  ramp {{\n    step = 10\n    interval = \"20s\"\n  }}\n  timeouts {{\n    update = \"2s\"\n  }}"
    );
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[0], 50, &ramp));
    let started = Instant::now();
    ws.fails(&["apply", "-auto-approve", "-no-color"], &["Ramp timed out", "stays at 20, the last completed step"]);
    assert!(started.elapsed() < Duration::from_secs(15), "the 20 s interval was not cut by the 2 s timeout");
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(20));
    assert_eq!(ws.state_of("shard_weight.this")["weight"], 20);
    ws.destroy();
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), None);
}

#[test]
fn import_by_identity_and_identity_in_state() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=30,70", "rule=4:6"]);
    let rule = ing.rule.clone().unwrap();
    let ws = Workspace::new(&moto);
    ws.write(
        &moto,
        &format!(
            "import {{\n  to = shard_weight.this\n  identity = {{\n    listener_arn = \"{l}\"\n    rule_arn = \"{rule}\"\n    target_group_arn = \"{tg}\"\n  }}\n}}\n{}",
            shard(&ing.listener, &ing.tgs[1], 6, &format!("  rule_arn = \"{rule}\"")),
            l = ing.listener,
            tg = ing.tgs[1],
        ),
    );
    ws.init();
    let r = ws.apply();
    assert!(r.stdout.contains("1 imported"), "{}", r.stdout);
    assert_eq!(ws.state_of("shard_weight.this")["id"], format!("{rule},{}", ing.tgs[1]).as_str());
    // Terraform keeps the identity the provider reported beside the state.
    let state: Json = serde_json::from_str(&support::read(&ws.path("terraform.tfstate"))).unwrap();
    let identity = &state["resources"][0]["instances"][0]["identity"];
    assert_eq!(identity["target_group_arn"], ing.tgs[1].as_str(), "{state:#}");
    assert_eq!(identity["rule_arn"], rule.as_str());
    // A weight change keeps the identity (Terraform rejects an identity that changes).
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[1], 8, &format!("  rule_arn = \"{rule}\"")));
    ws.apply();
    assert_eq!(weights(&moto, &rule), vec![(ing.tgs[0].clone(), 4), (ing.tgs[1].clone(), 8)]);
    ws.destroy();
    assert_eq!(weights(&moto, &rule), vec![(ing.tgs[0].clone(), 4)]);
}

#[test]
fn throttling_is_retried_and_a_persistent_outage_leaves_the_listener_as_it_was() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=5,5"]);
    // AWS throttles the first two writes: the SDK's standard retry mode gets through.
    let throttled = support::FaultProxy::start(&moto, "ModifyListener=throttle:2");
    let ws = Workspace::new(&moto);
    ws.write_via(&throttled.endpoint, &shard(&ing.listener, &ing.tgs[0], 33, NO_GATE));
    ws.init();
    ws.apply();
    assert_eq!(throttled.calls("ModifyListener"), 3, "two throttled attempts and one that passed");
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(33));

    // ModifyListener keeps failing: rounds of the SDK's 5 attempts, spaced out, until the
    // update's timeout; then the apply fails naming the call and the listener, nothing is
    // half-written, and the lock is released.
    let down = support::FaultProxy::start(&moto, "ModifyListener=fail");
    let before = moto.fixture(&["actions", &ing.listener]);
    let timeout = format!("{NO_GATE}\n  timeouts {{\n    update = \"60s\"\n  }}");
    ws.write_via(&down.endpoint, &shard(&ing.listener, &ing.tgs[0], 44, &timeout));
    let started = std::time::Instant::now();
    ws.fails(
        &["apply", "-auto-approve", "-no-color"],
        &["ModifyListener failed for listener", &ing.listener, "ServiceUnavailable", "injected outage"],
    );
    let calls = down.calls("ModifyListener");
    assert!(
        calls >= 20 && calls.is_multiple_of(5),
        "the SDK's 5 attempts in each of at least 4 spaced rounds: {calls}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(80), "it gave up within its timeout");
    assert_eq!(moto.fixture(&["actions", &ing.listener]), before, "the listener is exactly as it was");
    no_lock_left(&moto, &ing.listener);
    assert_eq!(ws.state_of("shard_weight.this")["weight"], 33, "state still matches reality");
    // Once AWS recovers, the same apply converges.
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[0], 44, NO_GATE));
    ws.apply();
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(44));
    ws.destroy();
    assert_eq!(weights(&moto, &ing.listener), vec![(ing.tgs[1].clone(), 5)]);
}

/// The provider process of a running Terraform command (its child), by name (cut to 15 bytes).
fn provider_pids(terraform_pid: u32) -> Vec<u32> {
    support::procs::children_of(terraform_pid)
        .expect("/proc")
        .into_iter()
        .filter(|p| p.comm.starts_with("terraform-provi"))
        .map(|p| p.pid)
        .collect()
}

/// Issue 16, item 6: a create killed mid-ramp leaves the target group serving at the step it
/// reached but nothing in state. The next plan proposes the create again, and its apply adopts the
/// entry where it is and ramps on from there (it neither fails on the existing entry nor starts
/// again from 0).
#[test]
fn a_create_killed_mid_ramp_is_adopted_by_the_next_apply() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=50"]);
    let tg = moto.fixture(&["target-group", &format!("vpc={}", ing.vpc)])["arn"].as_str().unwrap().to_string();
    let ramp = format!("{NO_GATE}\n  ramp {{\n    step = 20\n    interval = \"1m\"\n  }}");
    let ws = Workspace::new(&moto);
    ws.write(&moto, &shard(&ing.listener, &tg, 60, &ramp));
    ws.init();
    let child = ws.spawn(&["apply", "-auto-approve", "-no-color"]);
    support::wait_until(Duration::from_secs(30), "the ramp never took its first step", || {
        weight_of(&moto, &ing.listener, &tg) == Some(20) && !lock_held(&moto, &ing.listener)
    });
    for pid in provider_pids(child.id()) {
        assert!(std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap().success());
    }
    let (ok, text) = support::finish(child);
    assert!(!ok, "the apply fails when its provider dies:\n{text}");
    assert_eq!(weight_of(&moto, &ing.listener, &tg), Some(20), "serving at the step reached");
    let plan = ws.run(&["plan", "-no-color", "-input=false"]);
    assert!(plan.flat().contains("shard_weight.this will be created"), "{}", plan.text());
    ws.write(&moto, &shard(&ing.listener, &tg, 60, &ramp.replace("1m", "1s")));
    ws.apply();
    assert_eq!(
        weights(&moto, &ing.listener),
        vec![(ing.tgs[0].clone(), 50), (tg.clone(), 60)],
        "adopted, not duplicated"
    );
    no_lock_left(&moto, &ing.listener);
    ws.assert_plan_empty();
}

#[test]
fn proc_stat_lines_parse_whatever_the_command_name_holds() {
    use support::procs::ProcStat;
    let p = ProcStat::parse("4242 (terraform-provi) S 4100 4100 4100 0 -1 4194560 1234 0 0 0 3 1 0 0 20 0\n").unwrap();
    assert_eq!((p.pid, p.comm.as_str(), p.state, p.ppid, p.pgrp), (4242, "terraform-provi", 'S', 4100, 4100));
    let p = ProcStat::parse("7 (a (b) c) Z 1 9 9 0").unwrap();
    assert_eq!((p.comm.as_str(), p.ppid, p.pgrp), ("a (b) c", 1, 9));
    assert!(p.is_zombie());
    assert_eq!(ProcStat::parse("7 (cut"), None);
    let me = std::process::id();
    let mine = support::procs::processes().unwrap().into_iter().find(|p| p.pid == me).expect("this process");
    assert_eq!(mine.ppid, std::os::unix::process::parent_id());
}

/// A crash, not a Ctrl-C: the provider is killed (SIGKILL) between two ramp steps. Terraform
/// reports the crash and keeps the prior state; reality is at the step reached. The next plan
/// sees it (refresh), and the next apply finishes the ramp without waiting for a lock.
#[test]
fn a_provider_killed_mid_ramp_leaves_state_and_listener_reconcilable() {
    let moto = Moto::start();
    let (ing, ws) = applied_shard(&moto, &["weights=5,5"], 0, 10, NO_GATE);
    let ramp = format!("{NO_GATE}\n  ramp {{\n    step = 20\n    interval = \"1m\"\n  }}");
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[0], 90, &ramp));
    let child = ws.spawn(&["apply", "-auto-approve", "-no-color"]);
    // After the first step's write and lock release, inside the 1-minute interval.
    support::wait_until(Duration::from_secs(30), "the ramp never took its first step", || {
        weight_of(&moto, &ing.listener, &ing.tgs[0]) == Some(30) && !lock_held(&moto, &ing.listener)
    });
    let pids = provider_pids(child.id());
    assert!(!pids.is_empty(), "no provider process under terraform (pid {})", child.id());
    for pid in &pids {
        let status = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().expect("kill");
        assert!(status.success());
    }
    let (ok, text) = support::finish(child);
    assert!(!ok, "the apply should fail when its provider dies:\n{text}");
    // Terraform's plugin6 `grpcErr` reports the lost call by its gRPC code, and which code arrives is
    // a race inside Terraform: `Unavailable` when the connection drops first ("Plugin did not
    // respond"), `Canceled` when go-plugin's exit watcher cancels the client context first
    // ("Request cancelled"). Both name the ApplyResourceChange call and fail the apply.
    let unavailable = text.contains("Plugin did not respond")
        && text.contains("failed to respond to the plugin6.(*GRPCProvider).ApplyResourceChange call");
    let cancelled = text.contains("Request cancelled")
        && text.contains("The plugin6.(*GRPCProvider).ApplyResourceChange request was cancelled");
    assert!(unavailable || cancelled, "Terraform reports the dead provider:\n{text}");
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(30), "the listener is at the step reached");
    assert_eq!(ws.state_of("shard_weight.this")["weight"], 10, "state keeps the prior weight");

    // The refresh sees the step reached: the plan is an update from 30 (not from 10).
    let plan = ws.run(&["plan", "-no-color", "-input=false"]);
    assert!(plan.flat().contains("weight = 30 -> 90"), "{}", plan.text());
    // Finish with a short interval: whatever waiting is left would be a lock to wait out.
    ws.write(&moto, &shard(&ing.listener, &ing.tgs[0], 90, &ramp.replace("1m", "1s")));
    let started = Instant::now();
    ws.apply();
    assert!(started.elapsed() < Duration::from_secs(40), "no lock to wait out: {:?}", started.elapsed());
    assert_eq!(weight_of(&moto, &ing.listener, &ing.tgs[0]), Some(90));
    no_lock_left(&moto, &ing.listener);
}
