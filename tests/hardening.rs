//! The hardening suite's racing run (issue 16): shard directories apply at the same time on one
//! listener (a default action and three rules with weighted forwards, one lock) while the fault
//! proxy injects transient AWS faults (throttling, 503, lost answers, delays) into a share of all
//! ELBv2 calls and answers every Describe within a window after each write from before it (read
//! lag). Every round must end with every directory's weight in place (no lost update); an apply
//! that fails must fail with a clear error, and the next apply must repair it.
//!
//! `make test` runs a short form (8 directories, 2 rounds). `make hardening` runs the long one and
//! prints the figures written in docs/reliability.md; the size comes from the environment:
//! SHARD_HARDENING_DIRS (≤ 20), SHARD_HARDENING_ROUNDS, SHARD_HARDENING_CHAOS (0..1),
//! SHARD_HARDENING_STALE (seconds of read lag), SHARD_HARDENING_SEED.

mod support;

use std::collections::BTreeMap;
use std::time::Instant;
use support::shards::{NO_GATE, no_lock_left, shard, weights};
use support::{FaultProxy, Moto, Workspace};

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

#[test]
fn racing_applies_under_chaos_and_read_lag_lose_no_update() {
    let dirs_n: usize = setting("SHARD_HARDENING_DIRS", "8").parse().expect("SHARD_HARDENING_DIRS");
    let rounds: usize = setting("SHARD_HARDENING_ROUNDS", "2").parse().expect("SHARD_HARDENING_ROUNDS");
    let chaos = setting("SHARD_HARDENING_CHAOS", "0.3");
    let stale = setting("SHARD_HARDENING_STALE", "1");
    let seed = setting("SHARD_HARDENING_SEED", "16");
    assert!((1..=20).contains(&dirs_n), "at most 20 directories: 4 forward actions of 5 target groups");

    let moto = Moto::start();
    let t = moto.fixture(&["topology", "weights=1,1,1,1,1", "rules=3"]);
    let listener = t["listener"].as_str().unwrap().to_string();
    let tgs: Vec<String> = serde_json::from_value(t["target_groups"].clone()).unwrap();
    let rules: Vec<String> = serde_json::from_value(t["rules"].clone()).unwrap();
    // Owner of directory i: the default action for 0..5, then one rule per five.
    let owner_of = |i: usize| if i < 5 { None } else { Some(rules[i / 5 - 1].clone()) };
    let proxy = FaultProxy::start(&moto, "");
    let dirs: Vec<Workspace> = (0..dirs_n)
        .map(|_| {
            let ws = Workspace::new(&moto);
            ws.init();
            ws
        })
        .collect();
    let config = |i: usize, weight: i64| {
        let rule = owner_of(i).map(|r| format!("\n  rule_arn = \"{r}\"")).unwrap_or_default();
        let extra = format!("{NO_GATE}{rule}\n  timeouts {{\n    create = \"10m\"\n    update = \"10m\"\n  }}");
        shard(&listener, &tgs[i % 5], weight, &extra)
    };
    // Consecutive rounds differ by 37 (mod 900), so every round writes.
    let weight_for = |round: usize, i: usize| ((round * 37 + i * 7) % 900 + 50) as i64;
    proxy.set_rules(&format!("chaos={chaos},stale={stale},seed={seed}"));

    let started = Instant::now();
    let (mut applies, mut failed, mut repaired) = (0usize, 0usize, 0usize);
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for round in 0..rounds {
        for (i, ws) in dirs.iter().enumerate() {
            ws.write_via(&proxy.endpoint, &config(i, weight_for(round, i)));
        }
        let runs: Vec<_> =
            dirs.iter().map(|ws| ws.spawn(&["apply", "-auto-approve", "-no-color", "-input=false"])).collect();
        let results: Vec<(bool, String)> = runs.into_iter().map(support::finish).collect();
        applies += results.len();
        for ((ok, text), ws) in results.iter().zip(&dirs) {
            if *ok {
                continue;
            }
            failed += 1;
            // A clear error: Terraform's "Error:" with one of the provider's summaries, never a
            // crash ("Plugin did not respond") or a Go-side failure.
            assert!(
                text.contains("Error: ") && !text.contains("Plugin did not respond") && !text.contains("panic"),
                "an apply failed without a clear error in {}:\n{text}",
                ws.dir.display()
            );
            // The summary and the cause's tail ("…: ValidationError: …"), without ARNs.
            let error = text.split("Error: ").nth(1).unwrap_or("");
            let summary = error.split(" for ").next().unwrap_or("").to_string();
            let cause = error.rsplit(": ").take(2).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(": ");
            let summary = format!("{summary} … {}", cause.chars().take(160).collect::<String>());
            eprintln!("hardening: apply failed in {}: {error}", ws.dir.display());
            *errors.entry(summary).or_default() += 1;
            // The next apply repairs it (faults still on: a few tries).
            let fixed = (0..3).any(|_| {
                applies += 1;
                ws.spawn(&["apply", "-auto-approve", "-no-color", "-input=false"])
                    .wait_with_output()
                    .unwrap()
                    .status
                    .success()
            });
            assert!(fixed, "three more applies did not repair {}", ws.dir.display());
            repaired += 1;
        }
        for (a, owner) in std::iter::once(listener.clone()).chain(rules.iter().cloned()).enumerate() {
            let mine: Vec<usize> = (0..dirs_n).filter(|i| i / 5 == a).collect();
            if mine.is_empty() {
                continue;
            }
            let now = weights(&moto, &owner);
            for i in mine {
                let expected = weight_for(round, i);
                assert_eq!(now[i % 5].1, expected, "round {round}: lost update of directory {i} on {owner}: {now:?}");
            }
        }
        only_kept_locks_left(&moto, &listener);
        // Progress of a long run (make hardening takes hours): the figures so far, per round.
        eprintln!(
            "hardening: round {}/{rounds} done: {applies} applies, {failed} failed with a clear error, {repaired} repaired, 0 lost, {:.0} s",
            round + 1,
            started.elapsed().as_secs_f64()
        );
    }
    let took = started.elapsed();
    let seen: BTreeMap<String, u64> = serde_json::from_value(proxy.seen()).expect("counts");
    let faults: BTreeMap<&String, &u64> = seen.iter().filter(|(k, _)| k.starts_with("chaos:")).collect();
    let calls: u64 = seen.iter().filter(|(k, _)| !k.starts_with("chaos:")).map(|(_, v)| v).sum();
    proxy.set_rules("");
    for ws in &dirs {
        ws.assert_plan_empty();
    }
    // A lock kept after an unanswered write stands until the next writer breaks it: one more
    // change, without faults, breaks it and leaves nothing behind.
    dirs[0].write_via(&proxy.endpoint, &config(0, 7));
    dirs[0].apply();
    no_lock_left(&moto, &listener);
    println!(
        "hardening: {dirs_n} directories x {rounds} rounds, chaos={chaos} stale={stale}s seed={seed}: {applies} applies \
         ({failed} failed with a clear error, {repaired} repaired by the next apply), 0 lost updates, \
         {calls} ELBv2 calls, faults injected {faults:?}, errors {errors:?}, {:.0} s",
        took.as_secs_f64()
    );
}

/// A lock rule left at the end of a round is one a holder kept after a write whose answer was
/// lost (it may still land): it must expire within one lock lifetime, so the next writer breaks it.
/// A live lock beyond that would be a leak.
fn only_kept_locks_left(moto: &Moto, listener: &str) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let rules = moto.fixture(&["rules", listener]);
    for rule in rules.as_array().unwrap().iter().filter(|r| r["Priority"] == "50000") {
        let values = rule["Conditions"][0]["HttpHeaderConfig"]["Values"].as_array().cloned().unwrap_or_default();
        let expires: u64 = values
            .iter()
            .find_map(|v| v.as_str()?.strip_prefix("expires=")?.parse().ok())
            .unwrap_or_else(|| panic!("a lock rule without an expiry: {rule:#}"));
        assert!(expires <= now + 61, "a lock left that outlives a lock's lifetime: {rule:#}");
    }
}
