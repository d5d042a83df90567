//! `make sandbox`: the whole shard story on this machine, with the real Terraform CLI and the
//! provider, against local stand-ins for AWS, EKS, Argo CD and Argo Rollouts.
//!
//! Run by scripts/sandbox.sh (which installs the bench and builds the provider first):
//!
//! ```text
//! cargo run --example sandbox -- --provider-dir target/debug [--upgrade-before-drain]
//! ```
//!
//! `--upgrade-before-drain` is the variant tests/sandbox/main.rs plays to show that the load can
//! fail: shard-1's pods stop as its drain apply starts, and the story ends after that stage.
//!
//! What it starts, all on loopback, and stops at the end, on failure and on Ctrl-C:
//! - moto (tests/fixtures/eks_moto.py, with CloudWatch percentiles) for ELBv2, EKS, STS,
//!   CloudWatch and Route 53, behind the realism proxy (ELBv2, CloudWatch) and
//!   tests/fixtures/route53_proxy.py (Route 53: PENDING changes, 5 requests a second), with one
//!   public hosted zone whose name `api.sandbox.example.com` every shard holds a weighted record of;
//! - two kube-apiservers (scripts/kube-cluster.sh): the Argo CD hub (EKS cluster `argo-hub`) and
//!   one for the shards' clusters (EKS clusters `shard-1`, `shard-2`, `shard-3`, each its own
//!   endpoint: a port forwarding to that API server; each shard's workload in its own namespace);
//! - stand-in controllers (tests/support): Argo CD's ApplicationSet and application controllers
//!   on the hub, the Argo Rollouts controller on the shards' API server;
//! - the data plane (dataplane.rs): a weighted proxy standing in for the ALB, following the
//!   listener in moto and publishing the ALB's metrics of each target group to moto's CloudWatch
//!   (what shard_weight's metric guard reads); one HTTP server per shard, up while its pods would
//!   be (`Pods`); and a load of 100 requests a second through them, tallied per stage. The run
//!   fails if one fails, but for the sick release's own 500s in the stage whose metric guard
//!   stopped it (stage 7), which it reports apart.
//!
//! It seeds what the `vpc/`, `ingress/` and `argo-cluster/` stacks and each shard's EKS cluster
//! would create on AWS (hashicorp/aws cannot be installed here), then applies one Terraform
//! directory per shard (examples/sandbox/shard, which calls examples/stacks/modules/shard-delivery)
//! through the stages of the story, printing one table after each.
//!
//! This file is an example target (`[[example]] sandbox` in Cargo.toml), not a test: it is not
//! named `main.rs`, so Cargo does not also discover it as an integration test.

#[path = "../support/mod.rs"]
mod support;

mod dataplane;

use dataplane::{Backend, Load, Proxy, Tally, Versions};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, DynamicObject, ObjectMeta, PostParams};
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::argocd::{ArgoCdController, Workload, application_resource};
use support::kube::{Connection, kube_cluster};
use support::procs::{children_of, group_alive};
use support::rollouts::{self, RolloutController};
use support::shards::forward_weights;
use support::{
    Moto, copy_files, fixture_answer, fixture_command, mirror_cli_config, project_root, terraform_env,
    try_package_release,
};
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

const HUB_CLUSTER: &str = "argo-hub";
/// An EKS cluster whose endpoint nothing listens on: the hub as a sick hub looks to the provider
/// (the break-glass drain of the runbook is played against it).
const HUB_DOWN: &str = "argo-hub-down";
const ARGOCD_NAMESPACE: &str = "argocd";
const SHARDS: [&str; 3] = ["shard-1", "shard-2", "shard-3"];
/// The public hosted zone the sandbox seeds, and the name every shard's shard_dns_weight shares
/// (examples/sandbox/shard's default dns_name).
const DNS_ZONE: &str = "sandbox.example.com";
const DNS_NAME: &str = "api.sandbox.example.com";
/// The gated Rollout of every shard (the service's workload: `app/api` on a real shard).
const ROLLOUT: &str = "api";
/// modules/shard-delivery's output target_group_annotation.
const TARGET_GROUP_ANNOTATION: &str = "shardkit.io/target-group-arn";
/// The canary's steps: a first revision is promoted at once; a new one stops at step 1.
fn canary_steps() -> Json {
    json!([{ "setWeight": 10 }, { "pause": {} }, { "setWeight": 50 }, { "pause": {} }])
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut provider_dir = None;
    let mut upgrade_before_drain = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--provider-dir" => provider_dir = args.next().map(PathBuf::from),
            // The variant tests/sandbox/main.rs plays to show that the load CAN fail: shard-1's
            // node upgrade starts as its drain apply starts, not after it returned; the story
            // ends after that stage.
            "--upgrade-before-drain" => upgrade_before_drain = true,
            other => {
                eprintln!(
                    "sandbox: unknown argument {other} (usage: sandbox --provider-dir DIR [--upgrade-before-drain])"
                );
                return ExitCode::from(2);
            }
        }
    }
    let Some(provider_dir) = provider_dir else {
        eprintln!("sandbox: --provider-dir DIR (the directory holding terraform-provider-shard) is required");
        return ExitCode::from(2);
    };
    let provider_dir = std::fs::canonicalize(&provider_dir).unwrap_or(provider_dir);
    if !provider_dir.join("terraform-provider-shard").is_file() {
        eprintln!("sandbox: no terraform-provider-shard in {}", provider_dir.display());
        return ExitCode::from(2);
    }
    // Static credentials for moto, the provider and the EKS token webhook (which checks token
    // signatures with the same secret). Set before any thread starts.
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        // SAFETY: single-threaded here; the runtime starts below.
        unsafe { std::env::set_var(k, v) };
    }
    // Nothing of the user's own AWS or Terraform set-up may leak in.
    for k in [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "TF_LOG",
    ] {
        // SAFETY: as above.
        unsafe { std::env::remove_var(k) };
    }
    let work = match tempfile::Builder::new().prefix("shard-sandbox.").tempdir() {
        Ok(d) => d.keep(),
        Err(e) => {
            eprintln!("sandbox: cannot create a work directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let procs = Procs::default();
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let outcome = runtime.block_on(async {
        let stop = cancel.clone();
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("\nsandbox: interrupted: stopping everything it started");
            stop.cancel();
        });
        let mut world = World::new(work.clone(), provider_dir, procs.clone(), cancel.clone());
        world.upgrade_before_drain = upgrade_before_drain;
        let result = {
            let run = story(&mut world);
            tokio::pin!(run);
            tokio::select! {
                r = &mut run => r,
                _ = cancel.cancelled() => {
                    // Running Terraform commands get Ctrl-C as from a terminal (run_terraform), end
                    // their applies and exit; no new one starts. The story gets a while for that.
                    if procs.running() {
                        let _ = tokio::time::timeout(Duration::from_secs(15), &mut run).await;
                    }
                    Err("interrupted".to_string())
                }
            }
        };
        // Anything still running (it did not stop in time): killed.
        procs.stop_all().await;
        world.shutdown().await;
        result
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    let total = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => {
            remove_work(&work);
            println!("\nsandbox: done in {total:.0} s; everything it started is stopped.");
            ExitCode::SUCCESS
        }
        Err(e) if e == "interrupted" => {
            remove_work(&work);
            eprintln!("sandbox: stopped everything it started ({total:.0} s in all); a rerun starts from scratch.");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("\nsandbox: {e}");
            eprintln!("sandbox: stopped everything it started after {total:.0} s; logs kept in {}", work.display());
            ExitCode::FAILURE
        }
    }
}

/// Removes the work directory, unless SANDBOX_KEEP_WORK is set (to look at the Terraform
/// directories, states and logs afterwards).
fn remove_work(work: &Path) {
    if std::env::var_os("SANDBOX_KEEP_WORK").is_some_and(|v| !v.is_empty()) {
        eprintln!("sandbox: kept {} (SANDBOX_KEEP_WORK)", work.display());
    } else {
        let _ = std::fs::remove_dir_all(work);
    }
}

/// Process groups of running Terraform commands, to interrupt and end on the way out.
#[derive(Clone, Default)]
struct Procs(Arc<Mutex<HashSet<u32>>>, Arc<Mutex<Option<PathBuf>>>);

impl Procs {
    /// Also keep the list in `file` (for the watchdog, should the sandbox be killed outright).
    fn record_in(&self, file: PathBuf) {
        *self.1.lock().unwrap() = Some(file);
    }

    fn add(&self, pgid: u32) {
        self.0.lock().unwrap().insert(pgid);
        self.save();
    }

    fn remove(&self, pgid: u32) {
        self.0.lock().unwrap().remove(&pgid);
        self.save();
    }

    fn save(&self) {
        if let Some(file) = self.1.lock().unwrap().as_ref() {
            let list: Vec<String> = self.0.lock().unwrap().iter().map(u32::to_string).collect();
            let _ = std::fs::write(file, list.join(" "));
        }
    }

    fn running(&self) -> bool {
        !self.0.lock().unwrap().is_empty()
    }

    /// Interrupts the running Terraform commands and waits for them (then kills what is left);
    /// returns how many there were.
    async fn stop_all(&self) -> usize {
        let groups: Vec<u32> = self.0.lock().unwrap().iter().copied().collect();
        if groups.is_empty() {
            return 0;
        }
        for g in &groups {
            signal_group(*g, "INT");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && groups.iter().any(|g| group_alive(*g)) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for g in &groups {
            signal_group(*g, "KILL");
        }
        groups.len()
    }
}

fn signal_group(pgid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

/// One table's weights per shard: (the listener's, the DNS record's); None: not in the listener /
/// no record.
type DnsCheck = BTreeMap<String, (Option<i64>, Option<i64>)>;

/// Everything the sandbox started, and what the story needs to reach it.
struct World {
    work: PathBuf,
    provider_dir: PathBuf,
    procs: Procs,
    /// Ctrl-C: Terraform runs are interrupted and no new one starts.
    cancel: CancellationToken,
    kube_dirs: Vec<PathBuf>,
    /// Process groups of the `kube-cluster.sh start` runs: the API servers and their watchdogs.
    kube_groups: Vec<u32>,
    /// Kills moto if the sandbox is killed outright (watch_children).
    watchdog: Option<std::process::Child>,
    moto: Option<Arc<Moto>>,
    /// tests/fixtures/route53_proxy.py in front of moto: the provider's Route 53 endpoint.
    route53_proxy: Option<std::process::Child>,
    route53_endpoint: String,
    dns_zone: String,
    /// Per table: the stage and its weights.
    dns_checks: Mutex<Vec<(usize, DnsCheck)>>,
    forwarders: Vec<tokio::task::JoinHandle<()>>,
    argocd: Option<ArgoCdController>,
    rollout_controllers: Vec<RolloutController>,
    hub: Option<kube::Client>,
    shard_api: Option<kube::Client>,
    /// EKS endpoint of each shard (its forwarding port).
    servers: BTreeMap<String, String>,
    listener: String,
    target_groups: BTreeMap<String, String>,
    aws: Option<shard_provider::clients::aws::AwsClients>,
    /// The data plane: the ALB's stand-in, each shard's pods (a backend that follows its
    /// Rollout), and the load through them.
    proxy: Option<Proxy>,
    pods: BTreeMap<String, Arc<Pods>>,
    pod_tasks: Vec<tokio::task::JoinHandle<()>>,
    load: Option<Load>,
    /// The load's tally when the last table was printed, and each stage's share of it.
    load_mark: Mutex<Tally>,
    stage_loads: Mutex<Vec<(usize, Tally)>>,
    /// --upgrade-before-drain (see main).
    upgrade_before_drain: bool,
    /// The stage whose sick release the metric guard stopped: its pods' 500s are reported apart.
    sick_stage: Mutex<Option<SickStage>>,
}

impl World {
    fn new(work: PathBuf, provider_dir: PathBuf, procs: Procs, cancel: CancellationToken) -> World {
        World {
            work,
            provider_dir,
            procs,
            cancel,
            kube_dirs: Vec::new(),
            kube_groups: Vec::new(),
            watchdog: None,
            moto: None,
            route53_proxy: None,
            route53_endpoint: String::new(),
            dns_zone: String::new(),
            dns_checks: Mutex::new(Vec::new()),
            forwarders: Vec::new(),
            argocd: None,
            rollout_controllers: Vec::new(),
            hub: None,
            shard_api: None,
            servers: BTreeMap::new(),
            listener: String::new(),
            target_groups: BTreeMap::new(),
            aws: None,
            proxy: None,
            pods: BTreeMap::new(),
            pod_tasks: Vec::new(),
            load: None,
            load_mark: Mutex::new(Tally::default()),
            stage_loads: Mutex::new(Vec::new()),
            upgrade_before_drain: false,
            sick_stage: Mutex::new(None),
        }
    }

    async fn shutdown(&mut self) {
        if let Some(mut dog) = self.watchdog.take() {
            signal_group(dog.id(), "KILL");
            let _ = dog.wait();
        }
        if let Some(load) = self.load.take() {
            load.stop().await;
        }
        for t in self.pod_tasks.drain(..) {
            t.abort();
        }
        for pods in std::mem::take(&mut self.pods).into_values() {
            if let Some(b) = pods.state.lock().await.backend.take() {
                b.stop().await;
            }
        }
        if let Some(proxy) = self.proxy.take() {
            proxy.stop().await;
        }
        self.argocd = None;
        self.rollout_controllers.clear();
        for f in self.forwarders.drain(..) {
            f.abort();
        }
        // A start still running (Ctrl-C early) and the watchdogs (which would end by themselves
        // within a second): their process groups end now; then each instance is stopped.
        for g in self.kube_groups.drain(..) {
            signal_group(g, "TERM");
        }
        let stops: Vec<_> = self
            .kube_dirs
            .iter()
            .map(|dir| tokio::process::Command::from(kube_cluster("stop", dir)).stdin(Stdio::null()).status())
            .collect();
        futures::future::join_all(stops).await;
        if let Some(mut proxy) = self.route53_proxy.take() {
            let _ = proxy.kill();
            let _ = proxy.wait();
        }
        if let Some(moto) = self.moto.take() {
            // The last reference: dropping it stops moto and its proxy.
            let _ = tokio::task::spawn_blocking(move || drop(moto)).await;
        }
    }

    fn moto(&self) -> &Moto {
        self.moto.as_deref().expect("moto started")
    }

    fn hub(&self) -> kube::Client {
        self.hub.clone().expect("hub started")
    }

    fn shard_api(&self) -> kube::Client {
        self.shard_api.clone().expect("shard API server started")
    }
}

fn say(text: &str) {
    println!("{text}");
}

/// The stage being played (the load's figures are filed under it).
static STAGE: AtomicUsize = AtomicUsize::new(0);

fn stage(n: usize, title: &str) -> Instant {
    STAGE.store(n, Ordering::Relaxed);
    println!("\n━━ {n}. {title}");
    Instant::now()
}

fn took(since: Instant) {
    println!("  ({:.1} s)", since.elapsed().as_secs_f64());
}

async fn story(w: &mut World) -> Result<(), String> {
    say("sandbox: the shard story with the real Terraform CLI (v1.15.5) and this provider, all on loopback.");
    say(
        "  AWS (ELBv2, EKS, STS, CloudWatch, Route 53) is moto; the Argo CD hub and the shard clusters are two real kube-apiservers;",
    );
    say("  Argo CD and Argo Rollouts are STAND-INS from tests/support (their effects, not their code).");
    say(&format!(
        "  work directory: {} (removed at the end unless something fails or SANDBOX_KEEP_WORK=1)",
        w.work.display()
    ));

    let t = stage(0, "setting up");
    start_kube(w).await?;
    start_moto(w).await?;
    seed(w).await?;
    start_data_plane(w).await?;
    prepare_shard_dirs(w).await?;
    table(w).await?;
    took(t);

    let t = stage(1, "first deploy: shard-1 and shard-2 apply at the same time (two CI runs)");
    say("  each: register with Argo CD and wait until its Application is Synced/Healthy,");
    say("        then gate Rollout app-<shard>/api at promote_to_step = 1 (the steady state between releases:");
    say("        a first revision is promoted at once), then join the listener at 0 and ramp to 50");
    let gate = json!({ "api": { "namespace": "NS", "name": ROLLOUT, "promote_to_step": 1 } });
    let (a, b) = tokio::join!(
        apply(w, "shard-1", vars(w, "shard-1", 50, false, &gate)),
        apply(w, "shard-2", vars(w, "shard-2", 50, false, &gate)),
    );
    a?;
    b?;
    table(w).await?;
    took(t);

    let t = stage(2, "interrupted CI: a failed first apply left shard-2's registration tainted");
    say("  terraform taint (what Terraform does to a create that failed in its wait), then the runbook's fix:");
    terraform_cmd(w, "shard-2", &["taint", "module.delivery.shard_argocd_cluster_registration.this"]).await?;
    let plan = terraform_cmd(w, "shard-2", &["plan", "-input=false", "-no-color"]).await?;
    if !plan.contains("is tainted, so must be replaced") {
        return Err(format!("the plan of a tainted registration does not replace it:\n{plan}"));
    }
    say(
        "    plan: shard_argocd_cluster_registration.this is tainted, so must be replaced (shard-2 would leave Argo CD)",
    );
    terraform_cmd(w, "shard-2", &["untaint", "module.delivery.shard_argocd_cluster_registration.this"]).await?;
    let plan = terraform_cmd(w, "shard-2", &["plan", "-input=false", "-no-color"]).await?;
    if plan.contains("must be replaced") || (plan.contains(" to destroy") && !plan.contains("0 to destroy")) {
        return Err(format!("after untaint the plan still replaces or destroys:\n{plan}"));
    }
    say("    terraform untaint …registration.this; plan: nothing replaced, the next apply only waits again");
    if let Some(load) = stage_load(w) {
        say(&format!("  load in this stage: {}", load.summary()));
    }
    took(t);

    let t = stage(3, "drain shard-1 for maintenance (maintenance = true), alone: the upgrade is the next apply");
    say("  weight to 0, then a 2 s drain delay; its Rollout gates are lifted while it is drained");
    if w.upgrade_before_drain {
        say("  VARIANT --upgrade-before-drain: shard-1's node upgrade starts NOW, with the drain apply, not after it");
        w.pods["shard-1"].nodes_down().await?;
    }
    apply(w, "shard-1", vars(w, "shard-1", 50, true, &gate)).await?;
    if !w.upgrade_before_drain {
        say("  the apply returned (weight 0 written, 2 s drain delay over): shard-1's node upgrade starts");
        w.pods["shard-1"].nodes_down().await?;
    }
    table(w).await?;
    took(t);
    if w.upgrade_before_drain {
        say("  (the variant ends here: the rest of the story would not tell more)");
        return finish_load(w, false).await;
    }

    let t = stage(4, "canary on shard-2: a new image reaches shard-2 (what Argo CD syncs from git)");
    rollouts::set_image(&w.shard_api(), &namespace_of("shard-2"), ROLLOUT, "registry.example/api:2").await;
    rollouts::wait_for(
        &w.shard_api(),
        &namespace_of("shard-2"),
        ROLLOUT,
        Duration::from_secs(30),
        "paused at step 1",
        rollouts::paused_at(1),
    )
    .await?;
    app_health(w, "service-shard-2", "Suspended").await?;
    say("  the canary stops at step 1 (pause: {}) and waits for a human; Argo CD shows the Application Suspended");
    table(w).await?;
    took(t);

    let t = stage(5, "shard-2's canary may go to step 3 (rollouts.api.promote_to_step = 3)");
    let to_step_3 = json!({ "api": { "namespace": "NS", "name": ROLLOUT, "promote_to_step": 3 } });
    apply(w, "shard-2", vars(w, "shard-2", 50, false, &to_step_3)).await?;
    rollouts::wait_for(
        &w.shard_api(),
        &namespace_of("shard-2"),
        ROLLOUT,
        Duration::from_secs(30),
        "paused at step 3",
        rollouts::paused_at(3),
    )
    .await?;
    app_health(w, "service-shard-2", "Suspended").await?;
    say("  the gate promoted once; the canary ran step 2 (setWeight: 50) and holds at step 3, a pause");
    table(w).await?;
    took(t);

    let t = stage(6, "shard-2's canary is promoted fully (rollouts.api.promote_full = true)");
    let full = json!({ "api": { "namespace": "NS", "name": ROLLOUT, "promote_full": true } });
    apply(w, "shard-2", vars(w, "shard-2", 50, false, &full)).await?;
    app_health(w, "service-shard-2", "Healthy").await?;
    say("  and back to the steady state in the next change: promote_to_step = 1 (a no-op on a promoted Rollout;");
    say("  promote_full left in place would promote the next canary fully on any later apply)");
    apply(w, "shard-2", vars(w, "shard-2", 50, false, &gate)).await?;
    table(w).await?;
    took(t);

    let t = stage(7, "restore shard-1 under the metric guard, with a sick release: the guard stops the ramp");
    say("  while shard-1 was drained, release :3 reached it (Argo CD synced it from git) and, with no traffic to");
    say("  canary on, was promoted fully (kubectl argo rollouts promote --full): on a drained shard, the guarded");
    say("  ramp is the canary. Release :3 is sick: its pods are Ready and pass health checks, but every");
    say(&format!("  {SICK_ONE_IN}th request they answer is a 500."));
    release_on_drained(w, "shard-1", SICK_RELEASE).await?;
    say("  (the upgrade itself, module \"cluster\"'s kubernetes_version, is hashicorp/aws's work: not simulated)");
    say("  shard-1's upgrade is over: its pods start again once its Rollout is Healthy and register as targets;");
    say("  the weight's health gate waits for them before the first step up, then the guard judges each step");
    w.pods["shard-1"].nodes_up().await;
    let mark = debug_log_len(w, "shard-1");
    let breach = match apply(w, "shard-1", guarded(vars(w, "shard-1", 50, false, &gate))).await {
        Ok(()) => return Err(format!("the metric guard let the sick release :{SICK_RELEASE} through")),
        Err(e) if e == "interrupted" => return Err(e),
        Err(_) => guard_breach(w, "shard-1")?,
    };
    let evaluations = guard_evaluations(w, "shard-1", mark);
    say("  the apply FAILED, as it must (its error, from shard-1/apply.log):");
    say("    Error: Metric guard breached");
    say(&format!("    {}", breach.detail));
    show_evaluations(&evaluations);
    // The data plane's view: the stepped-back weight is the listener's, and the proxy routes by it
    // (no sick request after it), before the stage's load is counted.
    let in_moto = weight_in_moto(w, "shard-1").await?;
    if in_moto != Some(breach.back_to) {
        return Err(format!(
            "the guard says it stepped back to {}, the listener in moto has {in_moto:?}",
            breach.back_to
        ));
    }
    let tg = w.target_groups["shard-1"].clone();
    let proxy = w.proxy.as_ref().expect("proxy started");
    proxy
        .wait_route(Duration::from_secs(5), |r| route_weight(r, &tg) == Some(breach.back_to))
        .await
        .map_err(|r| format!("the proxy does not apply the stepped-back weight: {r:?}"))?;
    tokio::time::sleep(dataplane::SERVICE_TIME * 5).await;
    say(&format!(
        "  the listener in moto: shard-1 at weight {} (stepped back from {}); the proxy routes by it",
        breach.back_to, breach.at
    ));
    table(w).await?;
    *w.sick_stage.lock().unwrap() = Some(SickStage { stage: 7, shard: "shard-1".into(), breach: breach.clone() });
    took(t);

    let t = stage(8, "fix shard-1's release and restore again under the metric guard: it passes");
    say("  the fix: shard-1's release goes back to :2 (git revert; what shard-2 serves), promoted fully at weight 0");
    release_on_drained(w, "shard-1", "2").await?;
    w.pods["shard-1"].wait_serving("2").await?;
    let mark = debug_log_len(w, "shard-1");
    apply(w, "shard-1", guarded(vars(w, "shard-1", 50, false, &gate))).await?;
    let passed = guard_evaluations(w, "shard-1", mark);
    show_evaluations(&passed);
    if passed.is_empty() || passed.iter().any(|e| !e.passed) {
        return Err(format!("the guarded restore of :2 should pass every evaluation: {passed:?}"));
    }
    if !passed.iter().any(|e| e.requests > 0) {
        return Err("the metric guard passed without seeing a request: are the metrics published?".into());
    }
    say(&format!("  the guard passed {} evaluation(s): every step and the bake time", passed.len()));
    let in_moto = weight_in_moto(w, "shard-1").await?;
    table(w).await?;
    println!(
        "sandbox-guard: {}",
        json!({
            "breach": {
                "at": breach.at, "stepped_back_to": breach.back_to, "weight_in_moto": breach.back_to,
                "detail": breach.detail, "evaluations": evaluations.iter().map(Evaluation::json).collect::<Vec<_>>(),
            },
            "pass": { "weight_in_moto": in_moto, "evaluations": passed.iter().map(Evaluation::json).collect::<Vec<_>>() },
        })
    );
    took(t);

    let t = stage(9, "add shard-3: its EKS cluster (seeded), then its first apply");
    create_eks_cluster(w, "shard-3").await?;
    say("  seeded: EKS cluster shard-3 (what shard-3/'s module \"cluster\" creates with hashicorp/aws)");
    apply(w, "shard-3", vars(w, "shard-3", 50, false, &gate)).await?;
    table(w).await?;
    took(t);

    let t = stage(10, "break-glass drain of shard-3 while the hub is down (-refresh=false, -target the weights)");
    say("  the provider's hub is an EKS cluster nothing answers for; only the weights (listener and DNS) are planned");
    say("  and applied");
    let mut sick = vars(w, "shard-3", 50, true, &gate);
    sick["hub_cluster_name"] = json!(HUB_DOWN);
    // The DNS record drains too: it reads shard_weight's weight, so targeting it adds nothing that
    // needs the hub.
    apply_with(
        w,
        "shard-3",
        sick,
        &["-refresh=false", "-target=module.delivery.shard_weight.this", "-target=shard_dns_weight.this"],
    )
    .await?;
    table(w).await?;
    took(t);

    let t = stage(11, "remove shard-3: drain (maintenance = true, the hub back), then terraform destroy");
    apply(w, "shard-3", vars(w, "shard-3", 50, true, &gate)).await?;
    say("  destroy: out of the listener, then the registration goes and Argo CD removes its Application");
    destroy(w, "shard-3").await?;
    // Argo CD deleted the shard's workload before the cluster left (the registration takes it out
    // of the ApplicationSet first; a Secret deleted first would have orphaned it).
    let orphaned = w.argocd.as_ref().map(|a| a.orphaned()).unwrap_or_default();
    let left =
        rollouts::api(&w.shard_api(), &namespace_of("shard-3")).get_opt(ROLLOUT).await.map_err(|e| e.to_string())?;
    if !orphaned.is_empty() || left.is_some() {
        return Err(format!(
            "Argo CD left shard-3's workload behind (orphaned: {orphaned:?}, Rollout still there: {})",
            left.is_some()
        ));
    }
    say("  Argo CD deleted shard-3's workload (its Rollout) before the cluster Secret went");
    table(w).await?;
    took(t);
    print_dns_checks(w).await?;
    finish_load(w, true).await?;

    let errors: Vec<String> = w
        .argocd
        .as_ref()
        .map(|a| a.errors())
        .unwrap_or_default()
        .into_iter()
        .chain(w.rollout_controllers.iter().flat_map(|c| c.errors()))
        .collect();
    if !errors.is_empty() {
        say(&format!(
            "\n  note: the stand-in controllers reported {} transient error(s), e.g. {}",
            errors.len(),
            errors[0]
        ));
    }
    Ok(())
}

/// Waits until the Argo CD stand-in reports Application `name` with health `want` (it follows the
/// Rollout on its next poll).
async fn app_health(w: &World, name: &str, want: &str) -> Result<(), String> {
    let apps = Api::<DynamicObject>::namespaced_with(w.hub(), ARGOCD_NAMESPACE, &application_resource());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let app = apps.get_opt(name).await.map_err(|e| format!("Application {name}: {e}"))?;
        let app = serde_json::to_value(app).unwrap_or_default();
        if app["status"]["health"]["status"] == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("Application {name} not {want} within 10 s: {:#}", app["status"]));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn namespace_of(shard: &str) -> String {
    format!("app-{shard}")
}

/// terraform.tfvars.json of one shard for one stage. `rollouts`' "NS" is the shard's namespace.
fn vars(w: &World, shard: &str, weight: i64, maintenance: bool, rollouts: &Json) -> Json {
    let text = rollouts.to_string().replace("\"NS\"", &format!("\"{}\"", namespace_of(shard)));
    json!({
        "aws_endpoint": w.moto().endpoint,
        "route53_endpoint": w.route53_endpoint,
        "dns_zone_id": w.dns_zone,
        "dns_name": DNS_NAME,
        // Each cell's own (made-up, TEST-NET-2) load balancer address.
        "dns_address": format!("198.51.100.{}", shard.trim_start_matches("shard-")),
        "hub_cluster_name": HUB_CLUSTER,
        "name": shard,
        "listener_arn": w.listener,
        "target_group_arn": w.target_groups[shard],
        "weight": weight,
        "maintenance": maintenance,
        "rollouts": serde_json::from_str::<Json>(&text).unwrap_or_default(),
    })
}

// ---------------------------------------------------------------------------------------------
// The metric guard

/// The guarded restore's ramp interval: each step serves this long before the guard judges it.
/// The data plane publishes its metrics every second (at most a second late) and the proxy takes
/// up to half a second to apply a weight, so a step's window holds 1.5 to 2.5 s of its traffic.
const GUARD_RAMP_INTERVAL: &str = "3s";

/// shard_weight's metric_guard for the restore, in the sandbox's scaled time (the stacks: a
/// window of minutes, bake_time 5m; examples/stacks/shard-1).
fn metric_guard() -> Json {
    json!({
        "max_5xx_percent": 1,
        "max_response_time": "1s",
        "max_unhealthy_hosts": 0,
        "window": GUARD_RAMP_INTERVAL,
        "bake_time": "3s",
        "check_interval": "1s",
    })
}

/// A shard's variables with the metric guard and its ramp interval.
fn guarded(mut vars: Json) -> Json {
    vars["ramp_interval"] = json!(GUARD_RAMP_INTERVAL);
    vars["metric_guard"] = metric_guard();
    vars
}

/// A release reaches a shard at weight 0 (Argo CD syncs the new image) and is promoted fully
/// there at once, as `kubectl argo rollouts promote --full` does (status.promoteFull): with no
/// traffic, its canary steps would judge nothing; the guarded ramp does.
async fn release_on_drained(w: &World, shard: &str, version: &str) -> Result<(), String> {
    let ns = namespace_of(shard);
    let image = format!("registry.example/api:{version}");
    rollouts::set_image(&w.shard_api(), &ns, ROLLOUT, &image).await;
    // The controller took the new revision in (a promoteFull written before would be reset).
    rollouts::wait_for(&w.shard_api(), &ns, ROLLOUT, Duration::from_secs(30), "the new revision", |r| {
        r["status"]["observedGeneration"].as_str().map(str::to_string)
            == r["metadata"]["generation"].as_i64().map(|g| g.to_string())
            && !r["status"]["currentPodHash"].is_null()
            && r["status"]["currentPodHash"] != r["status"]["stableRS"]
    })
    .await?;
    let patch = json!({ "status": { "promoteFull": true } });
    rollouts::api(&w.shard_api(), &ns)
        .patch_status(ROLLOUT, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch))
        .await
        .map_err(|e| format!("promote --full {ns}/{ROLLOUT}: {e}"))?;
    rollouts::wait_for(&w.shard_api(), &ns, ROLLOUT, Duration::from_secs(30), "fully promoted", |r| {
        rollouts::healthy(r) && r["spec"]["template"]["spec"]["containers"][0]["image"] == image.as_str()
    })
    .await?;
    say(&format!(
        "  {shard}: release :{version} synced and promoted fully (Rollout {ns}/{ROLLOUT} Healthy, all on :{version})"
    ));
    Ok(())
}

/// The breach the apply failed with.
#[derive(Debug, Clone)]
struct Breach {
    /// The weight judged, and the one it stepped back to.
    at: i64,
    back_to: i64,
    /// The diagnostic's detail, on one line.
    detail: String,
}

#[derive(Debug, Clone)]
struct SickStage {
    stage: usize,
    shard: String,
    breach: Breach,
}

/// The "Metric guard breached" error of the last apply in `shard`'s directory.
fn guard_breach(w: &World, shard: &str) -> Result<Breach, String> {
    let log_path = w.work.join("tf/sandbox").join(shard).join("apply.log");
    let log = std::fs::read_to_string(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let Some(detail) = diagnostic(&log, "Error: Metric guard breached") else {
        return Err(format!("the apply failed, but not with a metric guard breach:\n{log}"));
    };
    // "at weight 25 (step 1 of 2) … Stepping back to weight 0 (on_breach = …)"
    let number_after = |text: &str, key: &str| -> Option<i64> {
        let rest = &text[text.find(key)? + key.len()..];
        rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    };
    match (number_after(&detail, "at weight "), number_after(&detail, "Stepping back to weight ")) {
        (Some(at), Some(back_to)) => Ok(Breach { at, back_to, detail }),
        _ => Err(format!("cannot read the breach's weights from: {detail}")),
    }
}

/// The detail of the diagnostic titled `title` in Terraform's output, its wrapped lines joined
/// (without the "with …"/"on …" source lines).
fn diagnostic(log: &str, title: &str) -> Option<String> {
    let mut lines = log.lines().skip_while(|l| !l.contains(title)).skip(1);
    let mut words = Vec::new();
    let mut in_source = false;
    for line in lines.by_ref() {
        if line.starts_with('╵') {
            break;
        }
        let text = line.trim_start_matches('│').trim();
        if text.starts_with("with ") || text.starts_with("on ") {
            in_source = true;
            continue;
        }
        if text.is_empty() {
            in_source = false;
            continue;
        }
        if !in_source {
            words.push(text.to_string());
        }
    }
    if words.is_empty() { None } else { Some(words.join(" ")) }
}

/// One judgement of the metric guard, as the provider logged it.
#[derive(Debug, Clone)]
struct Evaluation {
    metrics: String,
    requests: u64,
    passed: bool,
}

impl Evaluation {
    fn json(&self) -> Json {
        json!({ "metrics": self.metrics, "requests": self.requests, "passed": self.passed })
    }
}

fn debug_log_len(w: &World, shard: &str) -> u64 {
    let log = w.work.join("tf/sandbox").join(shard).join("terraform-debug.log");
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
}

/// The metric guard's evaluations the provider logged (TF_LOG_PROVIDER=DEBUG, in
/// terraform-debug.log) since `from` (a length of that log).
fn guard_evaluations(w: &World, shard: &str, from: u64) -> Vec<Evaluation> {
    let path = w.work.join("tf/sandbox").join(shard).join("terraform-debug.log");
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(bytes.get(usize::try_from(from).unwrap_or(0)..).unwrap_or_default());
    text.lines()
        .filter(|l| l.contains("metric guard"))
        .filter_map(|l| {
            let metrics = quoted_field(l, "metrics")?;
            let breaches: u64 = field(l, "breaches")?.parse().ok()?;
            let requests = metrics.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
            Some(Evaluation { metrics, requests, passed: breaches == 0 })
        })
        .collect()
}

/// `key="value"` in a log line (Terraform's rendering of the provider's JSON log fields).
fn quoted_field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("{key}=\""))? + key.len() + 2;
    let end = line[start..].find('"')?;
    Some(line[start..start + end].to_string())
}

/// `key=value` (unquoted) in a log line.
fn field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    Some(line[start..].split_whitespace().next()?.trim_matches('"').to_string())
}

fn show_evaluations(evaluations: &[Evaluation]) {
    say("  the metric guard's evaluations (the provider's log; one GetMetricData each, window 3 s):");
    for (n, e) in evaluations.iter().enumerate() {
        let verdict = if e.passed { "passed" } else { "BREACH" };
        say(&format!("    {}. {} → {verdict}", n + 1, e.metrics));
    }
}

/// The shard's weight in the listener's forward action, as moto has it.
async fn weight_in_moto(w: &World, shard: &str) -> Result<Option<i64>, String> {
    let actions = fixture(&w.moto().raw_endpoint, &["actions", &w.listener]).await?;
    let weights: BTreeMap<String, i64> = forward_weights(&actions).unwrap_or_default().into_iter().collect();
    Ok(weights.get(&w.target_groups[shard]).copied())
}

fn route_weight(route: &dataplane::Route, tg: &str) -> Option<i64> {
    match route {
        dataplane::Route::Forward(tgs) => tgs.iter().find(|(t, _)| t == tg).map(|(_, w)| i64::from(*w)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Setting up

async fn start_kube(w: &mut World) -> Result<(), String> {
    say("  starting two kube-apiservers (hub, shards) with the Argo CRDs…");
    let specs = [("hub", HUB_CLUSTER.to_string()), ("shards", SHARDS.join(","))];
    let mut runs = Vec::new();
    for (name, eks_names) in &specs {
        let dir = w.work.join(format!("kube-{name}"));
        w.kube_dirs.push(dir.clone());
        runs.push(
            tokio::process::Command::from(kube_cluster("start", &dir))
                .arg(std::process::id().to_string())
                .env("KUBE_CLUSTER_EKS_NAMES", eks_names)
                .stdin(Stdio::null())
                // Its own process group: Ctrl-C in the terminal reaches the sandbox only, which
                // stops Terraform before the API servers it talks to.
                .process_group(0)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("kube-cluster.sh: {e}"))?,
        );
    }
    w.kube_groups.extend(runs.iter().filter_map(|c| c.id()));
    let outs = futures::future::join_all(runs.into_iter().map(|c| c.wait_with_output())).await;
    for ((name, _), out) in specs.iter().zip(outs) {
        let out = out.map_err(|e| format!("kube-cluster.sh: {e}"))?;
        let said = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!("the {name} API server did not start:\n{said}"));
        }
        say(&format!("    {name}: {}", said.trim().trim_start_matches("kube-cluster: ")));
    }
    let hub = Connection::read(&w.kube_dirs[0])?;
    let shards = Connection::read(&w.kube_dirs[1])?;
    w.hub = Some(hub.admin_client()?);
    w.shard_api = Some(shards.admin_client()?);

    // One EKS endpoint per shard cluster: a port forwarding to the shards' API server (its
    // certificate is for 127.0.0.1, so TLS holds on any port).
    let target = shards.host.trim_start_matches("https://").to_string();
    for shard in SHARDS {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("bind: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        w.servers.insert(shard.to_string(), format!("https://127.0.0.1:{port}"));
        let target = target.clone();
        w.forwarders.push(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }
    Ok(())
}

/// If the sandbox itself is killed (SIGKILL: no clean-up runs), what it started ends with it: a
/// watchdog in a process group of its own interrupts the Terraform runs listed in
/// `terraform_pgids` (then kills them) and kills the sandbox's children so far (moto and its
/// proxy; the API servers have kube-cluster.sh's own watchdog) once the sandbox is gone, so the
/// next run starts clean. A normal exit ends the watchdog first (World::shutdown).
fn watch_children(terraform_pgids: &Path) -> Result<std::process::Child, String> {
    let me = std::process::id();
    let children: Vec<String> =
        children_of(me).map_err(|e| format!("/proc: {e}"))?.iter().map(|p| p.pid.to_string()).collect();
    std::process::Command::new("bash")
        .args(["-c", WATCHDOG])
        .arg("sandbox-watchdog")
        .arg(me.to_string())
        .arg(terraform_pgids)
        .args(&children)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("watchdog: {e}"))
}

/// `bash -c WATCHDOG sandbox-watchdog SANDBOX_PID PGIDS_FILE CHILD_PID...`
const WATCHDOG: &str = r#"owner=$1 file=$2; shift 2
while kill -0 "$owner" 2>/dev/null; do sleep 1; done
groups=$(cat "$file" 2>/dev/null)
for g in $groups; do kill -INT -- "-$g" 2>/dev/null; done
kill "$@" 2>/dev/null
[ -n "$groups" ] && sleep 5
for g in $groups; do kill -KILL -- "-$g" 2>/dev/null; done"#;

async fn start_moto(w: &mut World) -> Result<(), String> {
    say("  starting moto (ELBv2, EKS, STS, CloudWatch, Route 53)…");
    let hub = Connection::read(&w.kube_dirs[0])?;
    let shards = Connection::read(&w.kube_dirs[1])?;
    let mut clusters: Vec<(String, String, PathBuf)> = vec![
        (HUB_CLUSTER.into(), hub.host.clone(), hub.ca_file.clone()),
        (HUB_DOWN.into(), "https://127.0.0.1:9".into(), hub.ca_file.clone()),
    ];
    for shard in SHARDS {
        clusters.push((shard.into(), w.servers[shard].clone(), shards.ca_file.clone()));
    }
    let moto = tokio::task::spawn_blocking(move || {
        let refs: Vec<(&str, &str, &Path)> =
            clusters.iter().map(|(n, e, c)| (n.as_str(), e.as_str(), c.as_path())).collect();
        Moto::start_eks(&refs)
    })
    .await
    .map_err(|e| format!("moto did not start: {e}"))?;
    let moto = Arc::new(moto);
    // Started before the watchdog, which kills the sandbox's children if it is killed outright.
    w.moto = Some(moto.clone());
    let (proxy, route53) = start_route53_proxy(&moto.raw_endpoint, &w.work.join("route53-proxy.err")).await?;
    w.route53_proxy = Some(proxy);
    w.route53_endpoint = route53.clone();
    use shard_provider::clients::aws::{AwsClients, AwsSettings, Endpoints};
    let e = Some(moto.endpoint.clone());
    w.aws = Some(AwsClients::new(AwsSettings {
        region: Some("us-east-1".into()),
        endpoints: Endpoints {
            elbv2: e.clone(),
            eks: e.clone(),
            sts: e.clone(),
            cloudwatch: e,
            route53: Some(route53.clone()),
        },
        ..Default::default()
    }));
    say(&format!("    moto: {} (through the AWS-realism proxy {})", moto.raw_endpoint, moto.endpoint));
    say(&format!("    Route 53: moto through tests/fixtures/route53_proxy.py {route53} (PENDING changes, throttling)"));
    let pgids = w.work.join("terraform.pgids");
    w.procs.record_in(pgids.clone());
    w.watchdog = Some(watch_children(&pgids)?);
    Ok(())
}

/// tests/fixtures/route53_proxy.py in front of moto (`upstream`), with its defaults: each change
/// PENDING for 1 s before INSYNC, 5 Route 53 requests a second before Throttling. Stopped at
/// shutdown (and by the watchdog).
async fn start_route53_proxy(upstream: &str, err: &Path) -> Result<(std::process::Child, String), String> {
    let port = support::free_port();
    let mut child = std::process::Command::new(project_root().join(".bench/venv/bin/python3"))
        .arg(project_root().join("tests/fixtures/route53_proxy.py"))
        .args([&port.to_string(), upstream, ""])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(err).map_err(|e| format!("{}: {e}", err.display()))?)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("route53_proxy.py: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "route53_proxy.py exited ({status}): {}",
                std::fs::read_to_string(err).unwrap_or_default()
            ));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("route53_proxy.py did not start in 20 s".into());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Ok((child, format!("http://127.0.0.1:{port}")))
}

/// tests/fixtures/route53_fixture.py against moto itself: arranges and reads Route 53 as another
/// stack (or the console) would.
async fn route53_fixture(endpoint: &str, args: &[&str]) -> Result<Json, String> {
    let mut c = tokio::process::Command::new(project_root().join(".bench/venv/bin/python3"));
    c.arg(project_root().join("tests/fixtures/route53_fixture.py")).args(args).env("MOTO_ENDPOINT", endpoint);
    let out = c
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("route53_fixture.py: {e}"))?;
    fixture_answer(args, &out)
}

async fn create_eks_cluster(w: &World, name: &str) -> Result<(), String> {
    let aws = w.aws.as_ref().expect("aws clients");
    let eks = aws.eks().await.map_err(|e| format!("EKS client: {e}"))?;
    eks.create_cluster()
        .name(name)
        .role_arn("arn:aws:iam::123456789012:role/eks-cluster")
        .resources_vpc_config(aws_sdk_eks::types::VpcConfigRequest::builder().subnet_ids("subnet-sandbox").build())
        .send()
        .await
        .map_err(|e| format!("moto CreateCluster {name}: {e:?}"))?;
    Ok(())
}

/// What the other stacks would have created on AWS, made with the test fixtures instead.
async fn seed(w: &mut World) -> Result<(), String> {
    say("  seeding what vpc/, ingress/ and argo-cluster/ create on AWS (hashicorp/aws cannot be installed");
    say("  here: no registry access), with the test fixtures:");
    let moto = w.moto().raw_endpoint.clone();
    let topo = fixture(&moto, &["topology", "weights=0,0", "groups=3", "name=sandbox"]).await?;
    w.listener = topo["listener"].as_str().unwrap_or_default().to_string();
    let tgs: Vec<String> = serde_json::from_value(topo["target_groups"].clone()).unwrap_or_default();
    for (shard, tg) in SHARDS.iter().zip(tgs) {
        w.target_groups.insert(shard.to_string(), tg);
    }
    say("    vpc/ + ingress/: a VPC, the shared ALB and its listener, target groups sandbox-shard-1..3;");
    say(
        "                    the listener forwards to shard-1 and shard-2 at weight 0 (ingress/: every shard starts at 0)",
    );
    for shard in ["shard-1", "shard-2"] {
        create_eks_cluster(w, shard).await?;
    }
    create_eks_cluster(w, HUB_CLUSTER).await?;
    create_eks_cluster(w, HUB_DOWN).await?;
    let zone = route53_fixture(&moto, &["zone", DNS_ZONE]).await?;
    w.dns_zone = zone["zone_id"].as_str().ok_or_else(|| format!("no zone id: {zone}"))?.to_string();
    say(&format!(
        "    Route 53: public hosted zone {DNS_ZONE} ({}); each shard's weighted record of {DNS_NAME} comes with its apply",
        w.dns_zone
    ));
    say(
        "    shard-N/ module \"cluster\": EKS clusters shard-1, shard-2 (shard-3 comes later); argo-cluster/: argo-hub",
    );

    // argo-cluster/: Argo CD's namespace and the ApplicationSet (examples/stacks/argo-cluster),
    // the shards' destination namespaces being the sandbox's one difference.
    let hub = w.hub();
    let ns = Namespace {
        metadata: ObjectMeta { name: Some(ARGOCD_NAMESPACE.into()), ..Default::default() },
        ..Default::default()
    };
    Api::<Namespace>::all(hub.clone())
        .create(&PostParams::default(), &ns)
        .await
        .map_err(|e| format!("namespace argocd: {e}"))?;
    let appset: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": { "name": "service", "namespace": ARGOCD_NAMESPACE },
        "spec": {
            "goTemplate": true,
            "generators": [{ "clusters": { "selector": { "matchLabels": { "fleet": "service" } } } }],
            "template": {
                "metadata": { "name": "service-{{.name}}" },
                "spec": {
                    "project": "default",
                    "source": { "repoURL": "https://git.example/service.git", "targetRevision": "main", "path": "deploy" },
                    "destination": { "server": "{{.server}}", "namespace": "app-{{.name}}" },
                    "syncPolicy": { "automated": { "prune": true, "selfHeal": true } }
                }
            }
        }
    }))
    .map_err(|e| e.to_string())?;
    let appsets = Api::<DynamicObject>::namespaced_with(
        hub.clone(),
        ARGOCD_NAMESPACE,
        &kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
            "argoproj.io",
            "v1alpha1",
            "ApplicationSet",
        )),
    );
    appsets.create(&PostParams::default(), &appset).await.map_err(|e| format!("ApplicationSet: {e}"))?;
    say("    argo-cluster/: namespace argocd and ApplicationSet `service` (cluster generator, fleet=service:");
    say(
        "                   one Application service-<shard> per registered shard; Argo CD's Helm install is not needed)",
    );

    // The stand-in controllers.
    let workload = Arc::new(SandboxWorkload {
        shard_api: w.shard_api(),
        by_server: w.servers.iter().map(|(shard, server)| (server.clone(), shard.clone())).collect(),
        target_groups: w.target_groups.clone(),
        hub: hub.clone(),
    });
    w.argocd = Some(ArgoCdController::start(hub, ARGOCD_NAMESPACE, Duration::from_secs(2), Some(workload)));
    for shard in SHARDS {
        let c = RolloutController::start(w.shard_api(), &namespace_of(shard));
        c.behave(ROLLOUT, rollouts::Behaviour { step_time: Duration::from_millis(800), ..Default::default() });
        w.rollout_controllers.push(c);
    }
    say("  stand-in controllers running: Argo CD (ApplicationSet + application controller, on the hub),");
    say("  Argo Rollouts (on the shards' API server). Syncing an Application creates Rollout app-<shard>/api on");
    say("  the shard; its pods register 2 targets in its target group once they serve (see the data plane).");
    Ok(())
}

/// tests/fixtures/aws_fixture.py against moto (`endpoint`): like `Moto::fixture`, but an error
/// is returned, not a panic, and Ctrl-C in the terminal does not reach it (own process group).
async fn fixture(endpoint: &str, args: &[&str]) -> Result<Json, String> {
    let out = tokio::process::Command::from(fixture_command(endpoint, args))
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("aws_fixture.py: {e}"))?;
    fixture_answer(args, &out)
}

/// What syncing the service's Application does on a shard.
struct SandboxWorkload {
    shard_api: kube::Client,
    /// The hub: the shard's cluster Secret carries its target group ARN (an annotation).
    hub: kube::Client,
    by_server: BTreeMap<String, String>,
    target_groups: BTreeMap<String, String>,
}

impl SandboxWorkload {
    async fn target_group_of(&self, shard: &str) -> Result<String, String> {
        let secret = Api::<Secret>::namespaced(self.hub.clone(), ARGOCD_NAMESPACE)
            .get(&format!("cluster-{shard}"))
            .await
            .map_err(|e| format!("cluster Secret of {shard}: {e}"))?;
        secret
            .metadata
            .annotations
            .and_then(|a| a.get(TARGET_GROUP_ANNOTATION).cloned())
            .ok_or_else(|| format!("{shard}'s cluster Secret has no {TARGET_GROUP_ANNOTATION} annotation"))
    }

    fn shard_of(&self, app: &Json) -> Result<(String, String), String> {
        let server = app["spec"]["destination"]["server"].as_str().unwrap_or_default();
        let namespace = app["spec"]["destination"]["namespace"].as_str().unwrap_or_default().to_string();
        let shard = self.by_server.get(server).cloned().ok_or_else(|| format!("no shard cluster at {server}"))?;
        Ok((shard, namespace))
    }
}

#[async_trait::async_trait]
impl Workload for SandboxWorkload {
    async fn sync(&self, app: &Json) -> Result<(), String> {
        let (shard, namespace) = self.shard_of(app)?;
        let ns = Namespace {
            metadata: ObjectMeta { name: Some(namespace.clone()), ..Default::default() },
            ..Default::default()
        };
        match Api::<Namespace>::all(self.shard_api.clone()).create(&PostParams::default(), &ns).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(format!("namespace {namespace}: {e}")),
        }
        let rollouts = rollouts::api(&self.shard_api, &namespace);
        if rollouts.get_opt(ROLLOUT).await.map_err(|e| e.to_string())?.is_none() {
            let obj: DynamicObject =
                serde_json::from_value(rollouts::canary(ROLLOUT, canary_steps(), false)).map_err(|e| e.to_string())?;
            rollouts.create(&PostParams::default(), &obj).await.map_err(|e| format!("create Rollout: {e}"))?;
            // The TargetGroupBinding's targetGroupARN: what the ApplicationSet template reads from
            // the cluster Secret's annotation (argo-cluster/), written by modules/shard-delivery.
            // The pods register in it once they are Ready (Pods::supervise).
            let tg = self.target_group_of(&shard).await?;
            if tg != self.target_groups[&shard] {
                return Err(format!("{shard}'s cluster Secret names target group {tg}, not its own"));
            }
        }
        Ok(())
    }

    /// Argo CD's health check for a Rollout (argoproj/argo-cd resource_customizations/argoproj.io/Rollout/health.lua;
    /// <https://argo-cd.readthedocs.io/en/stable/operator-manual/health/>):
    /// paused is Suspended, otherwise its phase.
    async fn health(&self, app: &Json) -> Option<(String, String)> {
        let (_, namespace) = self.shard_of(app).ok()?;
        let r = rollouts::api(&self.shard_api, &namespace).get_opt(ROLLOUT).await.ok()?;
        let Some(r) = r else { return Some(("Missing".into(), String::new())) };
        let r = serde_json::to_value(r).unwrap_or_default();
        let message = r["status"]["message"].as_str().unwrap_or_default().to_string();
        Some(match r["status"]["phase"].as_str().unwrap_or("Progressing") {
            "Paused" => ("Suspended".into(), "Rollout is paused".into()),
            "Healthy" => ("Healthy".into(), String::new()),
            phase => (phase.to_string(), message),
        })
    }

    async fn prune(&self, app: &Json) -> Result<(), String> {
        let (_, namespace) = self.shard_of(app)?;
        match rollouts::api(&self.shard_api, &namespace).delete(ROLLOUT, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(format!("delete Rollout: {e}")),
        }
        // Its pods go with it, and their targets (Pods::supervise).
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The data plane: the ALB's stand-in, the shards' pods and the load (tests/sandbox/dataplane.rs)

/// Requests a second through the data plane.
const LOAD_RATE: u32 = 100;
/// The release that is sick wherever it runs: its pods are Ready and pass health checks, but
/// every SICK_ONE_IN-th request they answer is a 500 (a bug on one code path).
const SICK_RELEASE: &str = "3";
const SICK_ONE_IN: u32 = 5;
/// How often a shard's pods look at its Rollout (Ready pods, the canary's weight).
const POD_POLL: Duration = Duration::from_millis(200);

/// One shard's pods, as the load sees them: a backend (dataplane::Backend) that runs while the
/// shard's nodes are up and its Rollout exists, started only once the Rollout is Healthy (pods
/// Ready), answering with the Rollout's versions (the canary's share is its weight). Its 2 targets
/// are in the shard's target group exactly while it runs: registered when it starts serving, as
/// the AWS Load Balancer Controller registers Ready pods, and deregistered when it stops. So
/// shard_weight's health gate (min_healthy_targets) waits for real serving pods.
struct Pods {
    shard: String,
    addr: SocketAddr,
    target_group: String,
    /// moto itself (the fixtures register and deregister targets there).
    moto: String,
    /// The targets registered per target group, for the ALB stand-in's UnHealthyHostCount.
    registered: dataplane::Registered,
    state: tokio::sync::Mutex<PodState>,
}

struct PodState {
    /// False while the shard's nodes are being upgraded (between the drain and the restore).
    nodes_up: bool,
    backend: Option<Backend>,
    /// The version last fully promoted (what the stable pods run during a canary).
    stable: Option<String>,
}

impl Pods {
    /// The node upgrade starts: the pods stop at once (requests in flight are cut) and their
    /// targets leave the target group.
    async fn nodes_down(&self) -> Result<(), String> {
        let mut st = self.state.lock().await;
        st.nodes_up = false;
        if let Some(b) = st.backend.take() {
            b.stop().await;
            fixture(&self.moto, &["deregister", &self.target_group]).await?;
            self.registered.lock().unwrap().remove(&self.target_group);
            say(&format!("  [data plane] {}: nodes upgrading: pods stopped, targets deregistered", self.shard));
        }
        Ok(())
    }

    /// Waits until the pods serve `version` alone (they follow their Rollout every POD_POLL).
    async fn wait_serving(&self, version: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.state.lock().await.backend.as_ref().map(|b| b.versions.lock().unwrap().clone());
            if now.as_ref().is_some_and(|v| v.stable == version && v.canary.is_none()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{}'s pods do not serve :{version} alone within 10 s: {now:?}", self.shard));
            }
            tokio::time::sleep(POD_POLL).await;
        }
    }

    /// The upgrade is over: the pods start again on the next poll that finds the Rollout Healthy.
    async fn nodes_up(&self) {
        self.state.lock().await.nodes_up = true;
    }

    async fn supervise(self: Arc<Pods>, shard_api: kube::Client) {
        let rollouts = rollouts::api(&shard_api, &namespace_of(&self.shard));
        loop {
            tokio::time::sleep(POD_POLL).await;
            let Ok(rollout) = rollouts.get_opt(ROLLOUT).await else { continue };
            let rollout = rollout.map(|r| serde_json::to_value(r).unwrap_or_default());
            let mut st = self.state.lock().await;
            match rollout {
                None => {
                    // Argo CD pruned the workload: its pods go, and their targets.
                    if let Some(b) = st.backend.take() {
                        b.stop().await;
                        let _ = fixture(&self.moto, &["deregister", &self.target_group]).await;
                        self.registered.lock().unwrap().remove(&self.target_group);
                        say(&format!(
                            "  [data plane] {}: Rollout deleted: pods stopped, targets deregistered",
                            self.shard
                        ));
                    }
                }
                Some(r) => {
                    let versions = versions_of(&r, &mut st.stable);
                    if let Some(b) = &st.backend {
                        b.set_versions(versions);
                    } else if st.nodes_up && r["status"]["phase"] == "Healthy" {
                        match Backend::start(&self.shard, self.addr, versions).await {
                            Ok(b) => {
                                b.set_sick(SICK_RELEASE, SICK_ONE_IN);
                                st.backend = Some(b);
                                match fixture(&self.moto, &["register", &self.target_group, "2"]).await {
                                    Ok(_) => {
                                        self.registered.lock().unwrap().insert(self.target_group.clone(), 2);
                                        say(&format!(
                                            "  [data plane] {}: Rollout Healthy: pods serve on {}, 2 targets registered",
                                            self.shard, self.addr
                                        ))
                                    }
                                    Err(e) => say(&format!("  [data plane] {}: register targets: {e}", self.shard)),
                                }
                            }
                            Err(e) => {
                                say(&format!("  [data plane] {}: cannot listen on {}: {e}", self.shard, self.addr))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What a shard's pods run, from its Rollout: the version is the image's tag; during a canary
/// the canary's pods take the canary's weight of the shard's requests (the last setWeight
/// reached, as `kubectl argo rollouts get` shows it; without traffic routing Argo Rollouts
/// splits by pod count, which a weight stands for here).
fn versions_of(r: &Json, stable: &mut Option<String>) -> Versions {
    let image = r["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap_or_default();
    let tag = image.rsplit(':').next().unwrap_or_default().to_string();
    let st = &r["status"];
    let promoted = !st["stableRS"].is_null() && st["stableRS"] == st["currentPodHash"];
    if promoted || stable.is_none() {
        *stable = Some(tag.clone());
    }
    let stable = stable.clone().unwrap_or_default();
    if promoted || tag == stable {
        return Versions { stable, canary: None };
    }
    let steps = r["spec"]["strategy"]["canary"]["steps"].as_array().cloned().unwrap_or_default();
    let step = usize::try_from(st["currentStepIndex"].as_i64().unwrap_or(0)).unwrap_or(0);
    let upto = step.min(steps.len().saturating_sub(1));
    let weight = steps.iter().take(upto + 1).rev().find_map(|s| s["setWeight"].as_u64()).unwrap_or(0);
    Versions { stable, canary: Some((tag, u32::try_from(weight.min(100)).unwrap_or(0))) }
}

/// Starts the proxy in front of the three target groups, each shard's pods (stopped until its
/// Rollout is Healthy) and the load, which starts when the listener first forwards somewhere.
async fn start_data_plane(w: &mut World) -> Result<(), String> {
    let mut targets = BTreeMap::new();
    let registered = dataplane::Registered::default();
    for shard in SHARDS {
        let addr: SocketAddr = format!("127.0.0.1:{}", support::free_port()).parse().map_err(|e| format!("{e}"))?;
        targets.insert(w.target_groups[shard].clone(), addr);
        let pods = Arc::new(Pods {
            shard: shard.to_string(),
            addr,
            target_group: w.target_groups[shard].clone(),
            moto: w.moto().raw_endpoint.clone(),
            registered: registered.clone(),
            state: tokio::sync::Mutex::new(PodState { nodes_up: true, backend: None, stable: None }),
        });
        w.pod_tasks.push(tokio::spawn(pods.clone().supervise(w.shard_api())));
        w.pods.insert(shard.to_string(), pods);
    }
    let elbv2 = dataplane::elbv2_at(&w.moto().raw_endpoint).await?;
    let mut proxy = Proxy::start(elbv2, &w.listener, targets).await.map_err(|e| format!("the proxy: {e}"))?;
    // Through the realism proxy, as the provider's GetMetricData (it speaks CloudWatch's CBOR).
    let cloudwatch = dataplane::cloudwatch_at(&w.moto().endpoint).await?;
    proxy.publish_metrics(cloudwatch, &w.listener, registered);
    say(&format!(
        "  data plane: a weighted HTTP proxy on {} stands in for the ALB: it reads the listener's forward action",
        proxy.addr
    ));
    say(&format!(
        "  from moto every {} ms and routes each new request by weight to one shard's pods (an HTTP server per",
        dataplane::POLL_INTERVAL.as_millis()
    ));
    say("  shard, up while its Rollout is Healthy and its nodes are not being upgraded); a request routed to");
    say(&format!(
        "  stopped pods fails (502), no retry elsewhere. The load: {LOAD_RATE} requests/s once the listener forwards."
    ));
    say(&format!(
        "  It publishes the ALB's metrics of each target group into moto's CloudWatch every {} s (RequestCount,",
        dataplane::METRICS_PERIOD.as_secs()
    ));
    say(
        "  HTTPCode_Target_5XX_Count, TargetResponseTime, UnHealthyHostCount): what shard_weight's metric_guard reads.",
    );
    w.load = Some(Load::start(proxy.addr, LOAD_RATE, proxy.live()));
    w.proxy = Some(proxy);
    Ok(())
}

/// The load since the last table, filed under the current stage.
fn stage_load(w: &World) -> Option<Tally> {
    let now = w.load.as_ref()?.tally();
    let mut mark = w.load_mark.lock().unwrap();
    let this = now.since(&mark);
    *mark = now;
    if this.requests == 0 {
        return None;
    }
    w.stage_loads.lock().unwrap().push((STAGE.load(Ordering::Relaxed), this.clone()));
    Some(this)
}

/// "402 (49 %)", with the versions when the shard served more than one.
fn served_cell(t: &Tally, shard: &str) -> String {
    let n = t.served.get(shard).copied().unwrap_or(0);
    if n == 0 {
        return "0".into();
    }
    let mut out = format!("{n} ({:.0}%)", 100.0 * n as f64 / t.requests as f64);
    let mine: Vec<String> =
        t.versions.iter().filter(|((s, _), _)| s == shard).map(|((_, v), k)| format!(":{v} {k}")).collect();
    if mine.len() > 1 {
        out.push_str(&format!(" = {}", mine.join(" + ")));
    }
    out
}

/// Stops the load and prints it stage by stage and in all; fails on any failed request. With
/// `whole_story`, also checks that every shard served and that the canary's version was seen.
async fn finish_load(w: &mut World, whole_story: bool) -> Result<(), String> {
    let Some(load) = w.load.take() else { return Ok(()) };
    let total = load.stop().await;
    let _ = stage_load(w);
    let stages = w.stage_loads.lock().unwrap().clone();
    println!("\n━━ the load through the data plane, from the first weight to the end ({LOAD_RATE} requests/s)");
    let mut rows: Vec<Vec<String>> =
        vec![["stage", "requests", "failed", "shard-1", "shard-2", "shard-3", "versions"].map(String::from).to_vec()];
    let row = |label: String, t: &Tally| {
        let versions: Vec<String> = t
            .by_version()
            .iter()
            .map(|(v, n)| format!(":{v} {:.1}%", 100.0 * *n as f64 / t.requests.max(1) as f64))
            .collect();
        let mut r = vec![label, t.requests.to_string(), t.failed.to_string()];
        r.extend(SHARDS.iter().map(|s| t.served.get(*s).copied().unwrap_or(0).to_string()));
        r.push(versions.join(", "));
        r
    };
    for (n, t) in &stages {
        rows.push(row(format!("{n}."), t));
    }
    rows.push(row("total".into(), &total));
    let widths: Vec<usize> = (0..7).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for (n, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, wd))| if (1..6).contains(&i) { format!("{c:>wd$}") } else { format!("{c:<wd$}") })
            .collect();
        println!("  {}", cells.join("   ").trim_end());
        if n == 0 || n + 2 == rows.len() {
            println!("  {}", widths.iter().map(|wd| "─".repeat(*wd)).collect::<Vec<_>>().join("   "));
        }
    }
    if let Some(p) = &w.proxy
        && p.poll_errors() > 0
    {
        say(&format!(
            "  (the proxy's listener reads failed {} time(s); it kept its last route meanwhile)",
            p.poll_errors()
        ));
    }
    if let Some(p) = &w.proxy {
        // A failed publication is a gap the metric guard would read as "no requests".
        let (published, failed, why) = p.publish_stats();
        let why = why.map(|e| format!(", the last: {e}")).unwrap_or_default();
        say(&format!(
            "  the ALB's metrics: {published} PutMetricData call(s) to moto's CloudWatch, {failed} failed{why}"
        ));
    }
    // One line for tests/sandbox/main.rs.
    let by_stage: serde_json::Map<String, Json> = stages.iter().map(|(n, t)| (n.to_string(), t.json())).collect();
    println!("sandbox-load: {}", json!({ "total": total.json(), "stages": by_stage }));
    // The sick release's own 500s, in the stage whose guard stopped it, are reported apart; any
    // other failure, anywhere, fails the run.
    let sick = w.sick_stage.lock().unwrap().clone();
    let sick_failed = |n: usize, t: &Tally| -> u64 {
        match &sick {
            Some(s) if s.stage == n => {
                t.answered_by.get(&(s.shard.clone(), SICK_RELEASE.to_string())).copied().unwrap_or(0)
            }
            _ => 0,
        }
    };
    let expected: u64 = stages.iter().map(|(n, t)| sick_failed(*n, t)).sum();
    let unexpected = total.failed - expected;
    if unexpected > 0 {
        let samples: Vec<String> =
            total.samples.iter().take(5).map(|(at, why)| format!("at {at:.2} s: {why}")).collect();
        return Err(format!(
            "{} of {} requests FAILED ({}), e.g.\n    {}",
            unexpected,
            total.requests,
            total.summary(),
            samples.join("\n    ")
        ));
    }
    match &sick {
        Some(s) if expected > 0 => {
            let stage_requests = stages.iter().find(|(n, _)| *n == s.stage).map(|(_, t)| t.requests).unwrap_or(0);
            say(&format!(
                "  {} requests; {expected} failed, every one in stage {} ({stage_requests} requests there): HTTP 500 answered by \
                 {}'s sick release :{SICK_RELEASE}, stopped by the metric guard at weight {} (stepped back to {}).",
                total.requests, s.stage, s.shard, s.breach.at, s.breach.back_to
            ));
            say("  Every other stage: not one request failed.");
        }
        _ => say(&format!("  {}: not one request failed", total.summary())),
    }
    if whole_story {
        for shard in SHARDS {
            if total.served.get(shard).copied().unwrap_or(0) == 0 {
                return Err(format!("{shard} never served a request"));
            }
        }
        if sick.is_none() {
            return Err("the metric guard's stage did not run".into());
        }
        let canary: u64 = stages
            .iter()
            .filter(|(n, _)| (4..=5).contains(n))
            .map(|(_, t)| t.by_version().get("2").copied().unwrap_or(0))
            .sum();
        if canary == 0 {
            return Err("the canary (:2) served no request in stages 4 and 5".into());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Terraform

/// Copies examples/sandbox/shard once per shard next to the module it calls, as in the repository
/// (`../../stacks/modules/shard-delivery`), and runs `terraform init` in each.
async fn prepare_shard_dirs(w: &World) -> Result<(), String> {
    let root = project_root();
    let tf = w.work.join("tf");
    let files = [".tf", ".md"];
    copy_files(
        &root.join("examples/stacks/modules/shard-delivery"),
        &tf.join("stacks/modules/shard-delivery"),
        &files,
    )?;
    for shard in SHARDS {
        copy_files(&root.join("examples/sandbox/shard"), &tf.join("sandbox").join(shard), &files)?;
    }
    say("  packaging the provider as a release zip in a filesystem mirror (scripts/release.sh)…");
    std::fs::write(w.work.join("cli.tfrc"), install_provider(w)?).map_err(|e| e.to_string())?;
    say("  terraform init in shard-1/, shard-2/, shard-3/ (examples/sandbox/shard → modules/shard-delivery)…");
    let inits = SHARDS.map(|s| run_terraform(w, s, &["init", "-input=false", "-no-color"], false));
    for r in futures::future::join_all(inits).await {
        r?;
    }
    Ok(())
}

/// How Terraform finds the provider. THE ONE PLACE that installs it, the way a user installs a
/// release: the binary Cargo built is packaged by scripts/release.sh into a Registry-shaped zip
/// laid out as a filesystem mirror, and `terraform init` installs it from there, checking it and
/// recording its hash in each shard's .terraform.lock.hcl (no dev_overrides warning, and init
/// works again with state present).
fn install_provider(w: &World) -> Result<String, String> {
    let mirror = w.work.join("mirror");
    try_package_release(&w.provider_dir.join("terraform-provider-shard"), &w.work.join("dist"), &mirror)
        .map_err(|e| format!("could not package the provider: {e}"))?;
    Ok(mirror_cli_config(&mirror))
}

async fn apply(w: &World, shard: &str, vars: Json) -> Result<(), String> {
    apply_with(w, shard, vars, &[]).await
}

/// `terraform apply` with `extra` arguments (e.g. the break-glass `-refresh=false -target=…`).
async fn apply_with(w: &World, shard: &str, vars: Json, extra: &[&str]) -> Result<(), String> {
    let dir = w.work.join("tf/sandbox").join(shard);
    let text = serde_json::to_string_pretty(&vars).unwrap_or_default();
    std::fs::write(dir.join("terraform.tfvars.json"), format!("{text}\n")).map_err(|e| e.to_string())?;
    let interesting = ["weight", "maintenance", "rollouts", "ramp_interval", "metric_guard"];
    let summary: Vec<String> =
        interesting.iter().filter(|k| !vars[**k].is_null()).map(|k| format!("{k} = {}", vars[*k])).collect();
    say(&format!("  {shard}/terraform.tfvars.json: {}", summary.join(", ")));
    let mut args = vec!["apply", "-auto-approve", "-input=false", "-no-color"];
    args.extend_from_slice(extra);
    if !extra.is_empty() {
        say(&format!("  terraform {}", args.join(" ")));
    }
    run_terraform(w, shard, &args, true).await
}

/// Runs a Terraform command quietly in a shard's directory and returns its output.
async fn terraform_cmd(w: &World, shard: &str, args: &[&str]) -> Result<String, String> {
    run_terraform(w, shard, args, false).await?;
    let log = w.work.join("tf/sandbox").join(shard).join(format!("{}.log", args[0]));
    std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))
}

async fn destroy(w: &World, shard: &str) -> Result<(), String> {
    run_terraform(w, shard, &["destroy", "-auto-approve", "-input=false", "-no-color"], true).await
}

/// Runs Terraform in a shard's directory, in a process group of its own (so that Ctrl-C reaches
/// it through the sandbox, which interrupts it as Terraform expects and waits for it). Shows
/// Terraform's progress lines when `show` is set; the whole output goes to `<command>.log`.
async fn run_terraform(w: &World, shard: &str, args: &[&str], show: bool) -> Result<(), String> {
    if w.cancel.is_cancelled() {
        return Err("interrupted".into());
    }
    let (shard_name, command) = (shard.to_string(), args[0].to_string());
    let dir = w.work.join("tf/sandbox").join(shard);
    let log_path = dir.join(format!("{}.log", args[0]));
    let t = Instant::now();
    let mut child = tokio::process::Command::new(project_root().join(".bench/bin/terraform"))
        .args(args)
        .current_dir(&dir)
        .envs(terraform_env(&w.work.join("cli.tfrc"), &dir.join("terraform-debug.log"), &w.work))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("terraform: {e}"))?;
    let pgid = child.id().unwrap_or_default();
    w.procs.add(pgid);
    // On Ctrl-C: interrupt it as a terminal would (Terraform stops the provider, which ends its
    // waits), let it exit, and kill what is left after 10 s.
    let cancel = w.cancel.clone();
    let interrupter = tokio::spawn(async move {
        cancel.cancelled().await;
        signal_group(pgid, "INT");
        eprintln!("sandbox: Ctrl-C passed on to terraform {} in {shard_name}/", command);
        tokio::time::sleep(Duration::from_secs(10)).await;
        signal_group(pgid, "KILL");
    });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let tx2 = tx.clone();
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = tx.send(line);
        }
    });
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = tx2.send(line);
        }
    });
    // The whole output goes to the log as it comes (for a post-mortem, also after Ctrl-C).
    let mut file = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut log = String::new();
    while let Some(line) = rx.recv().await {
        if show && let Some(shown) = progress(&line) {
            say(&format!("    {shard} │ {shown}"));
        }
        let _ = writeln!(file, "{line}");
        log.push_str(&line);
        log.push('\n');
    }
    let status = child.wait().await.map_err(|e| format!("terraform: {e}"))?;
    interrupter.abort();
    w.procs.remove(pgid);
    if w.cancel.is_cancelled() {
        // What Terraform and the provider said about the interruption.
        let mut said: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("Interrupt received") || l.contains("Error: "))
            .map(|l| l.trim_start_matches(['│', '╷', '╵', ' ']))
            .collect();
        said.dedup();
        for line in said {
            eprintln!("    {shard} │ {line}");
        }
        return Err("interrupted".into());
    }
    if !status.success() {
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n      ");
        return Err(format!(
            "terraform {} in {shard}/ failed ({status}):\n      {tail}\n  (whole output: {})",
            args[0],
            log_path.display()
        ));
    }
    if show {
        say(&format!("    {shard} │ terraform {} took {:.1} s", args[0], t.elapsed().as_secs_f64()));
    }
    Ok(())
}

/// The lines of Terraform's output worth showing, shortened.
fn progress(line: &str) -> Option<String> {
    let keep = [
        "Creating...",
        "Creation complete",
        "Modifying...",
        "Modifications complete",
        "Destroying...",
        "Destruction complete",
        "Still ",
        "Apply complete!",
        "Destroy complete!",
    ];
    if keep.iter().any(|k| line.contains(k)) {
        let short = line.replace("module.delivery.", "");
        // Drop the id in "Modifying... [id=...]": long ARNs.
        let short = match short.find(" [id=") {
            Some(i) => short[..i].to_string(),
            None => short,
        };
        return Some(short.replace(" Resources: ", " "));
    }
    None
}

// ---------------------------------------------------------------------------------------------
// The table

async fn table(w: &World) -> Result<(), String> {
    let actions = fixture(&w.moto().raw_endpoint, &["actions", &w.listener]).await?;
    let weights: BTreeMap<String, i64> = forward_weights(&actions).unwrap_or_default().into_iter().collect();
    let total: i64 = weights.values().sum();
    // One read of the name's weighted records per table, from moto itself (what Route 53 holds).
    let dns = route53_fixture(&w.moto().raw_endpoint, &["weights", &w.dns_zone, DNS_NAME, "A"]).await?;
    let dns: BTreeMap<String, i64> = dns
        .as_object()
        .ok_or_else(|| format!("route53 weights: {dns}"))?
        .iter()
        .map(|(set_id, wt)| wt.as_i64().map(|wt| (set_id.clone(), wt)).ok_or_else(|| format!("{set_id}: weight {wt}")))
        .collect::<Result<_, _>>()?;
    let dns_total: i64 = dns.values().sum();
    let mut compared = BTreeMap::new();
    let secrets = Api::<Secret>::namespaced(w.hub(), ARGOCD_NAMESPACE);
    let apps = Api::<DynamicObject>::namespaced_with(w.hub(), ARGOCD_NAMESPACE, &application_resource())
        .list(&Default::default())
        .await
        .map_err(|e| format!("list Applications: {e}"))?;

    let load = stage_load(w);
    let mut rows: Vec<[String; 7]> = vec![[
        "shard".into(),
        "weight (share)".into(),
        "DNS weight (share)".into(),
        "Argo CD".into(),
        "Applications (sync, health)".into(),
        "Rollout api (in app-<shard>)".into(),
        "served in this stage".into(),
    ]];
    for shard in SHARDS {
        let weight = match weights.get(&w.target_groups[shard]) {
            Some(wt) if total > 0 => format!("{wt} ({:.0}%)", 100.0 * *wt as f64 / total as f64),
            Some(wt) => format!("{wt}"),
            None => "not in listener".to_string(),
        };
        // Route 53 answers every record equally when all weights are 0.
        let dns_cell = match dns.get(shard) {
            Some(wt) if dns_total > 0 => format!("{wt} ({:.0}%)", 100.0 * *wt as f64 / dns_total as f64),
            Some(wt) => format!("{wt} ({:.0}%)", 100.0 / dns.len() as f64),
            None => "no record".to_string(),
        };
        compared.insert(shard.to_string(), (weights.get(&w.target_groups[shard]).copied(), dns.get(shard).copied()));
        let registered = match secrets.get_opt(&format!("cluster-{shard}")).await.map_err(|e| e.to_string())? {
            Some(s)
                if s.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("argocd.argoproj.io/secret-type"))
                    .map(String::as_str)
                    == Some("cluster") =>
            {
                "registered".to_string()
            }
            _ => "—".to_string(),
        };
        let server = &w.servers[shard];
        let mine: Vec<String> = apps
            .items
            .iter()
            .map(|a| serde_json::to_value(a).unwrap_or_default())
            .filter(|a| a["spec"]["destination"]["server"].as_str() == Some(server.as_str()))
            .map(|a| {
                let status = |k: &str| a["status"][k]["status"].as_str().unwrap_or("Unknown").to_string();
                format!(
                    "{} ({}, {})",
                    a["metadata"]["name"].as_str().unwrap_or_default(),
                    status("sync"),
                    status("health")
                )
            })
            .collect();
        let applications = if mine.is_empty() { "—".to_string() } else { mine.join("; ") };
        let rollout = match rollouts::api(&w.shard_api(), &namespace_of(shard)).get_opt(ROLLOUT).await {
            Ok(Some(r)) => describe_rollout(&serde_json::to_value(r).unwrap_or_default()),
            Ok(None) => "—".to_string(),
            Err(e) => format!("({e})"),
        };
        let served = load.as_ref().map(|t| served_cell(t, shard)).unwrap_or_else(|| "—".into());
        rows.push([shard.to_string(), weight, dns_cell, registered, applications, rollout, served]);
    }
    let widths: Vec<usize> = (0..7).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    println!();
    for (n, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(c, wd)| format!("{c:<wd$}")).collect();
        println!("  {}", cells.join("   ").trim_end());
        if n == 0 {
            let rules: Vec<String> = widths.iter().map(|wd| "─".repeat(*wd)).collect();
            println!("  {}", rules.join("   "));
        }
    }
    match load {
        Some(t) => println!("  load in this stage: {}", t.summary()),
        None if w.load.is_some() => println!("  load: none yet (it starts when the listener first forwards)"),
        None => {}
    }
    // The DNS record follows the listener entry: the same weight, none while the shard is not in
    // the listener. A shard the listener lists at 0 before its first apply (ingress/ seeds
    // every shard at 0) has no record yet: both send it nothing.
    let stage = STAGE.load(Ordering::Relaxed);
    let differ: Vec<String> = compared
        .iter()
        .filter(|(_, (listener, dns))| {
            listener.unwrap_or(0) != dns.unwrap_or(0) || (listener.is_none() && dns.is_some())
        })
        .map(|(shard, (listener, dns))| format!("{shard}: listener {listener:?}, DNS {dns:?}"))
        .collect();
    w.dns_checks.lock().unwrap().push((stage, compared));
    if !differ.is_empty() {
        return Err(format!("stage {stage}: the DNS weights do not follow the listener's: {}", differ.join("; ")));
    }
    Ok(())
}

/// What the Route 53 proxy saw (its GET /__faults): calls per operation, throttled requests.
async fn route53_seen(endpoint: &str) -> Result<Json, String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("route53 proxy: {e}"))?;
    stream
        .write_all(format!("GET /__faults HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .map_err(|e| format!("route53 proxy: {e}"))?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.map_err(|e| format!("route53 proxy: {e}"))?;
    serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap_or_default())
        .map_err(|e| format!("route53 proxy's /__faults: {e}: {response}"))
}

/// One line for tests/sandbox/main.rs: each table's listener and DNS weights per shard, and the
/// Route 53 calls the proxy served (the provider's: the driver reads moto itself).
async fn print_dns_checks(w: &World) -> Result<(), String> {
    let seen = route53_seen(&w.route53_endpoint).await?;
    say(&format!("  Route 53 through route53_proxy.py: {seen}"));
    let checks: Vec<Json> = w
        .dns_checks
        .lock()
        .unwrap()
        .iter()
        .map(|(stage, shards)| {
            let shards: serde_json::Map<String, Json> = shards
                .iter()
                .map(|(s, (listener, dns))| (s.clone(), json!({ "listener": listener, "dns": dns })))
                .collect();
            json!({ "stage": stage, "shards": shards })
        })
        .collect();
    println!("sandbox-dns: {}", json!({ "tables": checks, "route53_proxy": seen }));
    Ok(())
}

fn describe_rollout(r: &Json) -> String {
    let steps = r["spec"]["strategy"]["canary"]["steps"].as_array().cloned().unwrap_or_default();
    let st = &r["status"];
    let step = st["currentStepIndex"].as_i64().unwrap_or(0);
    let phase = st["phase"].as_str().unwrap_or("Progressing");
    let image = r["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap_or_default();
    let revision = image.rsplit(':').next().unwrap_or_default();
    let mut out = format!("step {step}/{} {phase}", steps.len());
    if let Some(m) = st["message"].as_str().filter(|m| !m.is_empty()) {
        out.push_str(&format!(" ({m})"));
    }
    let full = !st["stableRS"].is_null() && st["stableRS"] == st["currentPodHash"];
    if full {
        out.push_str(&format!(", all on :{revision}"));
    } else {
        // The canary's weight as `kubectl argo rollouts get` shows it: the last setWeight reached.
        let upto = usize::try_from(step).unwrap_or(0).min(steps.len().saturating_sub(1));
        let weight = steps.iter().take(upto + 1).rev().find_map(|s| s["setWeight"].as_i64()).unwrap_or(0);
        out.push_str(&format!(", canary :{revision} at {weight}%"));
    }
    out
}
