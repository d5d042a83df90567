//! `shard_rollout_gate` with the real Terraform CLI against the bench's real kube-apiserver.
//! There is no Argo Rollouts controller here: `support::rollouts::RolloutController` plays it
//! (a tokio task writing the Rollouts' status as argo-rollouts does), one per test namespace.
//!
//! Canary promote to a step then fully, blue-green promote, a new revision resetting progress,
//! Degraded during the wait (controller-aborted and gate-aborted), timeout, import, Ctrl-C, two
//! shards in one configuration, plan-time checks; and (ignored, run by hand) the benchmark.

mod support;

use serde_json::{Value as Json, json};
use std::future::Future;
use std::time::{Duration, Instant};
use support::kube::KubeBench;
use support::rollouts::{self, Analysis, Behaviour, RolloutController};
use support::{ProviderHcl, Workspace};

/// These tests make no AWS call: the provider's AWS endpoints point at a closed port.
const NO_AWS: &str = "http://127.0.0.1:9";

/// One shard: a namespace on the bench's API server with a Rollouts controller playing Argo.
struct Shard {
    controller: RolloutController,
    client: kube::Client,
    ns: String,
    bench: KubeBench,
    rt: tokio::runtime::Runtime,
}

impl Shard {
    fn new(prefix: &str) -> Shard {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let bench = KubeBench::shared();
        let _guard = rt.enter();
        let client = bench.admin_client();
        let ns = rt.block_on(bench.namespace(prefix));
        let controller = RolloutController::start(client.clone(), &ns);
        Shard { controller, client, ns, bench, rt }
    }

    fn run<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    fn create(&self, manifest: &Json) {
        self.run(rollouts::create(&self.client, &self.ns, manifest));
    }

    fn new_revision(&self, name: &str, image: &str) {
        self.run(rollouts::set_image(&self.client, &self.ns, name, image));
    }

    fn wait(&self, name: &str, what: &str, pred: impl Fn(&Json) -> bool) -> Json {
        self.run(rollouts::wait_for(&self.client, &self.ns, name, Duration::from_secs(30), what, pred))
            .unwrap_or_else(|e| panic!("{e}\nthe controller's errors: {:?}", self.controller.errors()))
    }

    fn get(&self, name: &str) -> Json {
        self.run(rollouts::get(&self.client, &self.ns, name))
    }

    /// A Rollout deployed (the first revision is promoted at once, as Argo does), then a second
    /// revision the controller walks to the pause at `index`.
    fn canary_paused_at(&self, name: &str, steps: Json, traffic_routing: bool, index: i64) -> Json {
        self.create(&rollouts::canary(name, steps, traffic_routing));
        self.wait(name, "the first revision Healthy", rollouts::healthy);
        self.new_revision(name, "registry.example/app:2");
        self.wait(name, &format!("the pause at step {index}"), rollouts::paused_at(index))
    }

    /// The `cluster` block reaching this shard through the bench's kubeconfig.
    fn cluster_block(&self) -> String {
        format!(
            "  cluster {{\n    config_path    = \"{}\"\n    config_context = \"bench\"\n  }}\n",
            self.bench.kubeconfig_path().display()
        )
    }

    fn gate(&self, resource: &str, name: &str, extra: &str) -> String {
        format!(
            "resource \"shard_rollout_gate\" \"{resource}\" {{\n  namespace = \"{}\"\n  name      = \"{name}\"\n{}{extra}}}\n",
            self.ns,
            self.cluster_block()
        )
    }

    /// The `hub { ... }` body reaching this API server with host, CA and token.
    fn hub(&self) -> String {
        format!(
            "    host = \"{}\"\n    cluster_ca_certificate = file(\"{}\")\n    token = \"{}\"",
            self.bench.host(),
            self.bench.connection().ca_file.display(),
            self.bench.connection().admin_token
        )
    }
}

fn workspace(body: &str) -> Workspace {
    workspace_with(&ProviderHcl::new(NO_AWS), body)
}

fn workspace_with(provider: &ProviderHcl, body: &str) -> Workspace {
    let ws = Workspace::with_aws_endpoint(NO_AWS);
    ws.write_with(provider, body);
    ws.init();
    ws
}

fn log(ws: &Workspace) -> String {
    support::read(&ws.path("terraform.log"))
}

/// The provider's Kubernetes requests in `log` for namespace `ns`, as "METHOD kind" labels:
/// `LIST`, `WATCH`, `GET`, `PATCH status`, `PATCH spec`.
fn requests(log: &str, ns: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.split("kube_request=\"").nth(1))
        .map(|r| r.split('"').next().unwrap_or_default())
        .filter(|r| r.contains(&format!("/namespaces/{ns}/")))
        .map(|r| {
            let (method, path) = r.split_once(' ').unwrap_or(("?", r));
            let label = match method {
                "GET" if path.contains("watch=true") => "WATCH",
                "GET" if path.contains("/rollouts?") => "LIST",
                "PATCH" if path.contains("/status") => "PATCH status",
                "PATCH" => "PATCH spec",
                m => m,
            };
            label.to_string()
        })
        .collect()
}

fn count(list: &[String], label: &str) -> usize {
    list.iter().filter(|l| *l == label).count()
}

fn steps4() -> Json {
    json!([{ "setWeight": 10 }, { "pause": {} }, { "setWeight": 30 }, { "pause": {} }])
}

#[test]
fn a_canary_is_promoted_to_step_2_then_fully() {
    let s = Shard::new("gate-canary");
    let steps = json!([{ "setWeight": 0 }, { "pause": {} }, { "setWeight": 20 }, { "pause": {} },
                       { "setWeight": 50 }, { "pause": {} }]);
    s.canary_paused_at("api", steps, true, 1);
    let ws = workspace(&s.gate("api", "api", "  promote_to_step = 2\n"));
    ws.ok(&["plan", "-no-color", "-input=false", "-out=tfplan"]);
    let before = log(&ws).len();
    ws.ok(&["apply", "-no-color", "-input=false", "tfplan"]);
    let applied = requests(&log(&ws)[before..], &s.ns);
    ws.assert_plan_empty();
    let st = ws.state_of("shard_rollout_gate.api");
    assert_eq!(st["promote_to_step"], 2, "{st:#}");
    assert!(st["current_step"].as_i64().unwrap() >= 2, "{st:#}");
    assert_eq!((st["strategy"].as_str(), st["step_count"].as_i64()), (Some("canary"), Some(6)));
    assert_eq!(st["id"], format!("{}/api", s.ns).as_str());
    // The controller moves on to the next pause by itself, and the gate never promotes it.
    let live = s.wait("api", "the pause at step 3", rollouts::paused_at(3));
    assert_eq!(live["status"]["canary"]["weights"]["canary"]["weight"], 20);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(s.get("api")["status"]["currentStepIndex"], 3, "promoted past the target");
    // One status patch for the one pause passed; a list and a watch, no polling. (The apply
    // walk re-plans the create, which reads the Rollout once.)
    assert_eq!(
        (count(&applied, "PATCH status"), count(&applied, "LIST"), count(&applied, "WATCH"), count(&applied, "GET")),
        (1, 1, 1, 1),
        "{applied:?}"
    );
    assert_eq!(count(&applied, "PATCH spec"), 0);
    assert!(log(&ws).contains(r#"patch="{\"status\":{\"pauseConditions\":null}}""#), "the CLI's patch");

    // Then fully: promoteFull, and the apply returns once Healthy and fully promoted.
    ws.write_with(&ProviderHcl::new(NO_AWS), &s.gate("api", "api", "  promote_full = true\n"));
    let p = ws.plan();
    assert_eq!(p.code, 2, "{}", p.text());
    ws.apply();
    let st = ws.state_of("shard_rollout_gate.api");
    assert_eq!((st["phase"].as_str(), st["fully_promoted"].as_bool()), (Some("Healthy"), Some(true)), "{st:#}");
    assert_eq!(st["stable_revision"], st["current_revision"]);
    assert_eq!((st["promote_full"].as_bool(), st["promote_to_step"].clone()), (Some(true), Json::Null));
    assert_eq!((st["current_step"].as_i64(), st["canary_weight"].as_i64()), (Some(6), Some(100)));
    assert!(log(&ws).contains(r#"patch="{\"status\":{\"promoteFull\":true}}""#));
    assert!(rollouts::healthy(&s.get("api")));
    // A new revision: the full promotion no longer holds, so the plan wants it again.
    s.new_revision("api", "registry.example/app:3");
    s.wait("api", "the new revision's first pause", rollouts::paused_at(1));
    let p = ws.plan();
    assert_eq!(p.code, 2, "{}", p.text());
    assert!(p.flat().contains("~ promote_full = false -> true"), "{}", p.text());
    // Destroying the gate touches nothing.
    let before = s.get("api")["metadata"]["resourceVersion"].clone();
    ws.destroy();
    assert_eq!(s.get("api")["metadata"]["resourceVersion"], before);
}

#[test]
fn a_blue_green_preview_is_promoted_to_active() {
    let s = Shard::new("gate-bluegreen");
    s.create(&rollouts::blue_green("web"));
    s.wait("web", "the first revision Healthy", rollouts::healthy);
    s.new_revision("web", "registry.example/app:2");
    let paused =
        s.wait("web", "the BlueGreenPause", |r| r["status"]["pauseConditions"][0]["reason"] == "BlueGreenPause");
    let preview = paused["status"]["currentPodHash"].clone();

    let steps = workspace(&s.gate("web", "web", "  promote_to_step = 1\n"));
    steps.fails(&["plan", "-no-color"], &["Target does not fit the Rollout", "blueGreen strategy, which has no steps"]);

    let ws = workspace(&s.gate("web", "web", "  promote_full = true\n"));
    ws.apply();
    let st = ws.state_of("shard_rollout_gate.web");
    assert_eq!((st["strategy"].as_str(), st["phase"].as_str()), (Some("blueGreen"), Some("Healthy")), "{st:#}");
    assert_eq!((st["current_step"].clone(), st["step_count"].clone()), (Json::Null, Json::Null));
    assert_eq!(st["current_revision"], preview);
    let live = s.get("web");
    assert_eq!(live["status"]["blueGreen"]["activeSelector"], preview, "the preview is active");
    assert_eq!(live["status"]["stableRS"], preview);
    // promote_full is `promote --full` on blue-green too (promote.go `getPatches`).
    assert!(log(&ws).contains(r#"patch="{\"status\":{\"promoteFull\":true}}""#), "{}", log(&ws));
    assert!(!log(&ws).contains(r#"pauseConditions\":null"#), "no plain promote");
}

#[test]
fn a_new_revision_resets_progress_the_plan_shows_it_and_apply_promotes_again() {
    let s = Shard::new("gate-revision");
    s.canary_paused_at("api", steps4(), false, 1);
    let ws = workspace(&s.gate("api", "api", "  promote_to_step = 2\n"));
    ws.apply();
    s.wait("api", "the pause at step 3", rollouts::paused_at(3));

    s.new_revision("api", "registry.example/app:3");
    let restarted = s.wait("api", "the new revision's first pause", rollouts::paused_at(1));
    let p = ws.plan();
    assert_eq!(p.code, 2, "a restarted canary is a diff:\n{}", p.text());
    assert!(p.flat().contains("~ promote_to_step = 1 -> 2"), "{}", p.text());
    ws.apply();
    let live = s.wait("api", "the pause at step 3 again", rollouts::paused_at(3));
    assert_eq!(live["status"]["currentPodHash"], restarted["status"]["currentPodHash"]);
    let st = ws.state_of("shard_rollout_gate.api");
    assert_eq!(st["current_revision"], restarted["status"]["currentPodHash"]);
    assert_eq!(st["promote_to_step"], 2);
}

#[test]
fn degraded_during_the_wait_fails_with_argos_message_and_is_aborted() {
    let s = Shard::new("gate-degraded");
    // api: its analysis step fails, and the controller aborts it (as Argo does).
    let why = "Metric \"error-rate\" assessed Failed due to failed (1) > failureLimit (0)";
    s.controller.behave(
        "api",
        Behaviour {
            analysis: Analysis::Failed(why.into()),
            analysis_time: Duration::from_secs(1),
            ..Default::default()
        },
    );
    let analysed = json!([{ "setWeight": 10 }, { "pause": {} },
                          { "analysis": { "templates": [{ "templateName": "error-rate" }] } },
                          { "setWeight": 50 }, { "pause": {} }]);
    s.canary_paused_at("api", analysed, false, 1);
    // worker: never finishes its first step; turned Degraded (ProgressDeadlineExceeded, not
    // aborted) once the gate is waiting, so the gate aborts it.
    s.create(&rollouts::canary("worker", steps4(), false));
    s.wait("worker", "the first revision Healthy", rollouts::healthy);
    let stuck = Behaviour { step_time: Duration::from_secs(3600), ..Default::default() };
    s.controller.behave("worker", stuck.clone());
    s.new_revision("worker", "registry.example/app:2");

    let body = format!(
        "{}{}",
        s.gate("api", "api", "  promote_to_step = 4\n  abort_on_failure = true\n"),
        s.gate("worker", "worker", "  promote_to_step = 2\n  abort_on_failure = true\n")
    );
    let ws = workspace(&body);
    let child = ws.spawn(&["apply", "-auto-approve", "-no-color"]);
    let worker = format!("rollout={}/worker", s.ns);
    support::wait_until(Duration::from_secs(60), "the worker gate never started waiting", || {
        log(&ws).lines().any(|l| l.contains("watching rollout") && l.contains(&worker))
    });
    std::thread::sleep(Duration::from_millis(500));
    s.controller.behave("worker", Behaviour { progress_deadline: Some(Duration::ZERO), ..stuck });
    let (ok, text) = support::finish(child);
    assert!(!ok, "{text}");
    for needle in [
        "Rollout aborted",
        "Step-based analysis phase error/failed: Metric \"error-rate\" assessed Failed",
        "It is aborted (status.abort): Argo Rollouts moves traffic back to the stable revision",
        "Rollout degraded",
        "ProgressDeadlineExceeded",
        "The provider aborted it (status.abort=true, abort_on_failure)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert_eq!(s.get("worker")["status"]["abort"], true, "the gate's abort patch");
    s.wait("worker", "Degraded after the abort", |r| {
        r["status"]["phase"] == "Degraded" && r["status"]["message"].as_str().unwrap_or("").contains("RolloutAborted")
    });
    let api = s.get("api");
    assert_eq!((api["status"]["abort"].clone(), api["status"]["currentStepIndex"].clone()), (json!(true), json!(0)));
    // Exactly one abort patch: the controller had already aborted `api`.
    assert_eq!(log(&ws).matches("abort_on_failure: status patch abort=true").count(), 1);
    // The failed creates left no gate in state: the next plan creates them again.
    let p = ws.plan();
    assert!(p.flat().contains("2 to add"), "{}", p.text());
}

#[test]
fn an_inconclusive_analysis_fails_naming_it_unless_promote_inconclusive() {
    // Upstream (`rollout/analysis.go`) pauses with `InconclusiveAnalysisRun` and
    // `requiresManualAction` (`rollout/pause.go`) says a person decides: the gate does not.
    let s = Shard::new("gate-inconclusive");
    s.controller.behave("api", Behaviour { analysis: Analysis::Inconclusive("no data".into()), ..Default::default() });
    let steps = json!([{ "setWeight": 10 }, { "pause": {} },
                       { "analysis": { "templates": [{ "templateName": "error-rate" }] } },
                       { "setWeight": 50 }, { "pause": {} }]);
    let paused = s.canary_paused_at("api", steps, false, 1);
    let hash = paused["status"]["currentPodHash"].as_str().unwrap().to_string();
    let ws = workspace(&s.gate("api", "api", "  promote_to_step = 4\n"));
    ws.fails(
        &["apply", "-auto-approve", "-no-color"],
        &[
            "Inconclusive analysis needs a person",
            "paused with InconclusiveAnalysisRun",
            &format!("step analysis api-{hash}-2: no data"),
            "promote_inconclusive = true",
        ],
    );
    let text = log(&ws);
    assert_eq!(count(&requests(&text, &s.ns), "PATCH status"), 1, "only the pause at step 1 was promoted");
    let live = s.get("api");
    assert_eq!(live["status"]["pauseConditions"][0]["reason"], "InconclusiveAnalysisRun", "left for a person");
    assert_eq!(live["status"]["currentStepIndex"], 2);

    // Opted in: promoted through it with the CLI's patch.
    ws.write_with(
        &ProviderHcl::new(NO_AWS),
        &s.gate("api", "api", "  promote_to_step = 4\n  promote_inconclusive = true\n"),
    );
    let before = log(&ws).len();
    ws.apply();
    s.wait("api", "the pause at step 4", rollouts::paused_at(4));
    let text = log(&ws)[before..].to_string();
    assert!(
        text.contains(
            r#"patch="{\"status\":{\"controllerPause\":false,\"currentStepIndex\":3,\"pauseConditions\":null}}""#
        ),
        "the inconclusive analysis at step 2: the CLI's patch"
    );
}

#[test]
fn an_inconclusive_experiment_fails_naming_it_and_is_promoted_past_when_opted_in() {
    // Upstream (`rollout/experiment.go` `reconcileExperiments`) pauses with
    // `InconclusiveExperiment` and adds it again on every reconcile while the experiment stays
    // Inconclusive: a promote that only clears the pause conditions (the CLI's plain promote) is
    // paused again. The stand-in plays that.
    let s = Shard::new("gate-experiment");
    s.controller.behave("api", Behaviour { analysis: Analysis::Inconclusive("no data".into()), ..Default::default() });
    let steps = json!([{ "setWeight": 10 }, { "pause": {} },
                       { "experiment": { "templates": [{ "name": "canary", "specRef": "canary" }] } },
                       { "setWeight": 50 }, { "pause": {} }]);
    let paused = s.canary_paused_at("api", steps, false, 1);
    let hash = paused["status"]["currentPodHash"].as_str().unwrap().to_string();
    let ws = workspace(&s.gate("api", "api", "  promote_to_step = 4\n"));
    ws.fails(
        &["apply", "-auto-approve", "-no-color"],
        &[
            "Inconclusive analysis needs a person",
            "paused with InconclusiveExperiment",
            &format!("experiment api-{hash}-2"),
            "promote_inconclusive = true",
        ],
    );
    let live = s.get("api");
    assert_eq!(live["status"]["pauseConditions"][0]["reason"], "InconclusiveExperiment", "left for a person");
    assert_eq!(live["status"]["currentStepIndex"], 2);

    ws.write_with(
        &ProviderHcl::new(NO_AWS),
        &s.gate("api", "api", "  promote_to_step = 4\n  promote_inconclusive = true\n"),
    );
    ws.apply();
    let live = s.wait("api", "the pause at step 4", rollouts::paused_at(4));
    assert!(live["status"]["canary"]["currentExperiment"].is_null(), "the experiment step is behind: {live:#}");
}

#[test]
fn a_timeout_aborts_only_a_revision_the_gate_was_promoting() {
    let s = Shard::new("gate-timeout");
    s.canary_paused_at("api", steps4(), false, 1);
    // A pure gate promotes nothing: parked at the pause at step 1, it times out and aborts nothing.
    let ws = workspace(&s.gate("api", "api", "  abort_on_failure = true\n  timeouts {\n    create = \"3s\"\n  }\n"));
    let started = Instant::now();
    ws.fails(
        &["apply", "-auto-approve", "-no-color"],
        &[
            "abort_on_failure has no effect on a gate with no target",
            "Timed out waiting for the Rollout",
            "did not reach Healthy and fully promoted within 3s",
            "step 1 of 4 (pause), phase Paused (CanaryPauseStep)",
            "It was not aborted (abort_on_failure): a gate with no target never aborts",
        ],
    );
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.get("api")["status"]["abort"], Json::Null, "a pure gate must not abort");

    // A gate promoting to step 4 passes the pause; step 2 (setWeight: 30) never finishes: the
    // revision it was promoting is aborted on timeout.
    s.controller.behave("api", Behaviour { step_time: Duration::from_secs(3600), ..Default::default() });
    let hash = s.get("api")["status"]["currentPodHash"].as_str().unwrap().to_string();
    ws.write_with(
        &ProviderHcl::new(NO_AWS),
        &s.gate(
            "api",
            "api",
            "  promote_to_step = 4\n  abort_on_failure = true\n  timeouts {\n    create = \"3s\"\n  }\n",
        ),
    );
    ws.fails(
        &["apply", "-auto-approve", "-no-color"],
        &[
            "Timed out waiting for the Rollout",
            "step 2 of 4 (setWeight: 30)",
            &format!("The provider aborted it (status.abort=true, abort_on_failure) at revision {hash}"),
        ],
    );
    assert_eq!(s.get("api")["status"]["abort"], true);
    s.wait("api", "aborted back to step 0", |r| {
        r["status"]["currentStepIndex"] == 0 && r["status"]["phase"] == "Degraded"
    });
}

#[test]
fn import_by_namespace_name_and_cluster_round_trips() {
    let s = Shard::new("gate-import");
    s.create(&rollouts::canary("api", steps4(), false));
    s.wait("api", "Healthy", rollouts::healthy);
    let kubeconfig = s.bench.kubeconfig_path().display().to_string();
    let id = |name: &str| format!("{}/{name},config_path={kubeconfig},config_context=bench", s.ns);

    let ws = workspace(&s.gate("api", "api", ""));
    ws.ok(&["import", "-no-color", "shard_rollout_gate.api", &id("api")]);
    ws.assert_plan_empty();
    let st = ws.state_of("shard_rollout_gate.api");
    assert_eq!((st["id"].as_str(), st["phase"].as_str()), (Some(format!("{}/api", s.ns).as_str()), Some("Healthy")));
    assert_eq!(st["cluster"]["config_context"], "bench", "{st:#}");

    // An import block with a target: imported and promoted in one apply, then the plan is empty.
    s.new_revision("api", "registry.example/app:2");
    s.wait("api", "the pause at step 1", rollouts::paused_at(1));
    // (The pure gate imported above now plans an update: the Rollout is no longer Healthy.)
    let p = ws.plan();
    assert_eq!(p.code, 2, "{}", p.text());
    assert!(p.flat().contains("~ phase = \"Paused\" -> (known after apply)"), "{}", p.text());
    let block = workspace(&format!(
        "import {{\n  to = shard_rollout_gate.api\n  id = \"{}\"\n}}\n{}",
        id("api"),
        s.gate("api", "api", "  promote_to_step = 2\n")
    ));
    let r = block.apply();
    assert!(r.stdout.contains("1 imported"), "{}", r.stdout);
    s.wait("api", "the pause at step 3", rollouts::paused_at(3));

    // What cannot be imported says why.
    let bad = workspace(&format!("{}{}", s.gate("ghost", "ghost", ""), s.gate("legacy", "legacy", "")));
    bad.fails(&["import", "-no-color", "shard_rollout_gate.ghost", &id("ghost")], &["Rollout not found", "no Rollout"]);
    let deployment: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(json!({
        "metadata": { "name": "legacy" },
        "spec": { "selector": { "matchLabels": { "app": "legacy" } },
                  "template": { "metadata": { "labels": { "app": "legacy" } },
                                "spec": { "containers": [{ "name": "app", "image": "registry.example/app:1" }] } } }
    }))
    .unwrap();
    s.run(async {
        kube::Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(s.client.clone(), &s.ns)
            .create(&Default::default(), &deployment)
            .await
            .expect("create Deployment")
    });
    bad.fails(
        &["import", "-no-color", "shard_rollout_gate.legacy", &id("legacy")],
        &["There is a Deployment", "not a Rollout"],
    );
    bad.fails(&["import", "-no-color", "shard_rollout_gate.ghost", "no-slash"], &["Invalid import id"]);
}

#[test]
fn ctrl_c_stops_a_wait_and_leaves_the_rollout_alone() {
    let s = Shard::new("gate-ctrlc");
    let paused = s.canary_paused_at("api", steps4(), false, 1);
    let ws = workspace(&s.gate("api", "api", "  abort_on_failure = true\n"));
    let child = ws.spawn(&["apply", "-auto-approve", "-no-color"]);
    support::wait_until(Duration::from_secs(60), "the gate never started waiting", || {
        log(&ws).contains("watching rollout")
    });
    let pressed = Instant::now();
    support::interrupt(&child);
    let (ok, text) = support::finish(child);
    assert!(!ok, "{text}");
    assert!(text.contains("Cancelled while waiting for the Rollout") && text.contains("it was not aborted"), "{text}");
    assert!(pressed.elapsed() < Duration::from_secs(10), "Ctrl-C took {:?}", pressed.elapsed());
    let live = s.get("api");
    assert_eq!(live["status"]["abort"], Json::Null, "Ctrl-C must not abort");
    assert_eq!(live["status"]["pauseConditions"], paused["status"]["pauseConditions"], "still paused at step 1");
    let sent = requests(&log(&ws), &s.ns);
    assert!(!sent.iter().any(|r| r.starts_with("PATCH")), "the provider wrote: {sent:?}");
}

#[test]
fn two_shards_gates_progress_independently_in_one_config() {
    let one = Shard::new("gate-shard-1");
    let two = Shard::new("gate-shard-2");
    one.canary_paused_at("api", steps4(), true, 1);
    two.controller.behave("api", Behaviour { step_time: Duration::from_millis(1500), ..Default::default() });
    two.canary_paused_at("api", steps4(), true, 1);
    // shard-1 through a kubeconfig `cluster` block, shard-2 through the provider's hub.
    // shard-1's kubeconfig path is only known at apply (as for a cluster created in the same run).
    let shard_1 = one
        .gate("shard_1", "api", "  promote_to_step = 1\n")
        .replace(&format!("\"{}\"", one.bench.kubeconfig_path().display()), "terraform_data.kubeconfig.output");
    let body = format!(
        "resource \"terraform_data\" \"kubeconfig\" {{\n  input = \"{}\"\n}}\n{shard_1}\
         resource \"shard_rollout_gate\" \"shard_2\" {{\n  namespace = \"{}\"\n  name = \"api\"\n  promote_to_step = 3\n}}\n",
        one.bench.kubeconfig_path().display(),
        two.ns
    );
    let ws = workspace_with(&ProviderHcl::new(NO_AWS).hub(&two.hub()), &body);
    ws.apply();
    let (s1, s2) = (ws.state_of("shard_rollout_gate.shard_1"), ws.state_of("shard_rollout_gate.shard_2"));
    assert_eq!((s1["promote_to_step"].as_i64(), s1["current_step"].as_i64()), (Some(1), Some(1)), "{s1:#}");
    assert_eq!((s2["promote_to_step"].as_i64(), s2["current_step"].as_i64()), (Some(3), Some(3)), "{s2:#}");
    assert_eq!(s2["canary_weight"], 30);
    // shard-1 was already at its target: nothing sent there; shard-2 got exactly one promote.
    let text = log(&ws);
    assert_eq!(count(&requests(&text, &one.ns), "PATCH status"), 0);
    assert_eq!(count(&requests(&text, &two.ns), "PATCH status"), 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(one.get("api")["status"]["currentStepIndex"], 1, "shard-1 stays where its gate said");
    assert_eq!(two.get("api")["status"]["currentStepIndex"], 3);
}

#[test]
fn a_promote_decided_on_a_stale_state_is_refused_by_the_api_server() {
    // The gate sends its status patch with the resourceVersion it decided on: if the controller
    // wrote in between (e.g. the next pause), the API server answers 409 instead of clearing it.
    let s = Shard::new("gate-stale");
    let seen = s.canary_paused_at("api", steps4(), false, 1);
    // The test plays the controller's write itself. The stand-in controller, like Argo's, then
    // recomputes `status.message` from the status (CalculateRolloutPhase in Argo Rollouts'
    // rolloututil.go, played by tests/support/rollouts.rs) and writes it back when it differs, at
    // a moment of its choosing: the last, current patch below raced that write (a 409 in CI).
    // Hold it for the window.
    s.controller.hold("api");
    let stale = seen["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let api = rollouts::api(&s.client, &s.ns);
    let pp = kube::api::PatchParams::default();
    s.run(api.patch_status("api", &pp, &kube::api::Patch::Merge(json!({ "status": { "message": "moved on" } }))))
        .expect("a concurrent write");
    let clear = json!({ "status": { "pauseConditions": null } });
    let guarded = shard_provider::argo::rollouts::with_precondition(&clear, Some(&stale));
    match s.run(api.patch_status("api", &pp, &kube::api::Patch::Merge(&guarded))) {
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        other => panic!("expected 409 Conflict, got {other:?}"),
    }
    assert!(s.get("api")["status"]["pauseConditions"].is_array(), "the pause must still be there");
    let fresh = s.get("api")["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let guarded = shard_provider::argo::rollouts::with_precondition(&clear, Some(&fresh));
    s.run(api.patch_status("api", &pp, &kube::api::Patch::Merge(&guarded))).expect("a current promote applies");
    assert!(s.get("api")["status"]["pauseConditions"].is_null(), "the current promote cleared the pause");
    s.controller.release("api");
}

#[test]
fn targets_that_do_not_fit_fail_at_plan_and_missing_rollouts_at_apply() {
    let s = Shard::new("gate-checks");
    s.create(&rollouts::canary("api", steps4(), false));
    s.wait("api", "Healthy", rollouts::healthy);
    let ws = workspace(&s.gate("api", "api", "  promote_to_step = 9\n"));
    ws.fails(&["plan", "-no-color"], &["Target does not fit the Rollout", "has 4 canary step(s)", "at most 4"]);
    ws.write_with(&ProviderHcl::new(NO_AWS), &s.gate("api", "api", "  promote_to_step = 1\n  promote_full = true\n"));
    ws.fails(&["plan", "-no-color"], &["Conflicting targets"]);
    ws.write_with(
        &ProviderHcl::new(NO_AWS),
        &format!("resource \"shard_rollout_gate\" \"api\" {{\n  namespace = \"{}\"\n  name = \"api\"\n}}\n", s.ns),
    );
    ws.fails(&["plan", "-no-color"], &["No cluster to reach", "no hub block"]);
    ws.write_with(&ProviderHcl::new(NO_AWS), &s.gate("ghost", "ghost", "  promote_to_step = 1\n"));
    let p = ws.plan();
    assert_eq!(p.code, 2, "a Rollout that may appear later is a warning at plan:\n{}", p.text());
    assert!(p.flat().contains("Rollout not found (yet)"), "{}", p.text());
    ws.fails(&["apply", "-auto-approve", "-no-color"], &["Rollout not found", &format!("no Rollout {}/ghost", s.ns)]);
}

/// The figures for docs/benchmarks.md: time from the controller's write of the target status to
/// the provider returning and to `terraform apply` exiting, and the requests of each apply.
#[test]
#[ignore = "benchmark, run by hand: see docs/benchmarks.md"]
fn benchmark_promote_latency_and_requests() {
    let s = Shard::new("gate-bench");
    // Slow steps: the target (step 2, after the setWeight) is written well after the gate watches.
    s.controller.behave("api", Behaviour { step_time: Duration::from_secs(2), ..Default::default() });
    let steps = json!([{ "setWeight": 0 }, { "pause": {} }, { "setWeight": 20 }, { "pause": {} },
                       { "setWeight": 50 }, { "pause": {} }]);
    s.canary_paused_at("api", steps, true, 1);
    let ws = workspace(&s.gate("api", "api", "  promote_to_step = 2\n"));
    let mut rows = Vec::new();
    for round in 0..6 {
        if round > 0 {
            s.new_revision("api", &format!("registry.example/app:{}", round + 2));
            s.wait("api", "the pause at step 1", rollouts::paused_at(1));
        }
        let hash = s.get("api")["status"]["currentPodHash"].clone();
        ws.ok(&["plan", "-no-color", "-input=false", "-out=tfplan"]);
        let before = log(&ws).len();
        ws.ok(&["apply", "-no-color", "-input=false", "tfplan"]);
        let exited = (Instant::now(), std::time::SystemTime::now());
        let text = log(&ws)[before..].to_string();
        let target = s
            .controller
            .writes("api")
            .into_iter()
            .find(|w| w.status["currentPodHash"] == hash && w.status["currentStepIndex"].as_i64() >= Some(2))
            .expect("the controller's write of step 2");
        let reached_line = text.lines().find(|l| l.contains("rollout gate reached")).unwrap_or_default();
        if round == 0 {
            println!("log line: {reached_line}");
        }
        let reached = Some(reached_line)
            .and_then(|l| l.split_whitespace().next())
            .and_then(|ts| ts.parse::<jiff::Timestamp>().ok())
            .map(std::time::SystemTime::from)
            .expect("the provider's 'rollout gate reached' line");
        let provider = reached.duration_since(target.sent).unwrap_or_default();
        let exit = exited.0 - target.at;
        let reqs = requests(&text, &s.ns);
        rows.push((round, provider, exit, reqs));
        let _ = exited.1;
    }
    // Two pauses to pass (steps 1 and 3): one status patch each, one list, one watch.
    s.new_revision("api", "registry.example/app:99");
    s.wait("api", "the pause at step 1", rollouts::paused_at(1));
    ws.write_with(&ProviderHcl::new(NO_AWS), &s.gate("api", "api", "  promote_to_step = 4\n"));
    ws.ok(&["plan", "-no-color", "-input=false", "-out=tfplan"]);
    let before = log(&ws).len();
    let started = Instant::now();
    ws.ok(&["apply", "-no-color", "-input=false", "tfplan"]);
    let two = requests(&log(&ws)[before..], &s.ns);
    println!("\ntwo pauses (promote_to_step 1 -> 4): apply {:?}, requests {two:?}", started.elapsed());
    println!("\nround | write sent→provider logs 'reached' | write acknowledged→apply exits | apply-phase requests");
    for (round, provider, exit, reqs) in &rows {
        println!("{round} | {provider:?} | {exit:?} | {reqs:?}");
    }
    let mut provider: Vec<Duration> = rows.iter().map(|r| r.1).collect();
    let mut exit: Vec<Duration> = rows.iter().map(|r| r.2).collect();
    provider.sort();
    exit.sort();
    println!(
        "median write→provider {:?} (max {:?}); median write→apply exit {:?} (max {:?})",
        provider[provider.len() / 2],
        provider.last().unwrap(),
        exit[exit.len() / 2],
        exit.last().unwrap()
    );
}

fn hash_of(r: &Json) -> String {
    r["status"]["currentPodHash"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_new_revision_during_the_apply_is_never_promoted() {
    // Upstream resets progress on a new template (`rollout/sync.go` `resetRolloutStatus`: index
    // 0, pauses cleared) and walks the new revision to its first pause: a gate that promoted
    // whatever pause it saw would release it unreviewed.
    let s = Shard::new("gate-newrev");
    let paused = s.canary_paused_at("api", steps4(), false, 1);
    let planned = hash_of(&paused);
    s.controller.behave("api", Behaviour { step_time: Duration::from_millis(1500), ..Default::default() });
    let ws = workspace(&s.gate("api", "api", "  promote_to_step = 4\n"));
    let child = ws.spawn(&["apply", "-auto-approve", "-no-color"]);
    support::wait_until(Duration::from_secs(60), "the gate never promoted the first pause", || {
        log(&ws).contains("promote: status patch")
    });
    s.new_revision("api", "registry.example/app:3");
    let (ok, text) = support::finish(child);
    assert!(!ok, "{text}");
    let live = s.wait("api", "the new revision's first pause", rollouts::paused_at(1));
    let new = hash_of(&live);
    assert_ne!(new, planned);
    for needle in ["New revision during the apply", &format!("revision {new}"), &format!("revision {planned} that")] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert_eq!(count(&requests(&log(&ws), &s.ns), "PATCH status"), 1, "only the planned revision's pause");
    std::thread::sleep(Duration::from_millis(300));
    assert!(s.get("api")["status"]["pauseConditions"].is_array(), "the new revision stays paused");

    // The revision a saved plan shows is the one its apply promotes.
    s.controller.behave("api", Behaviour::default());
    ws.write_with(&ProviderHcl::new(NO_AWS), &s.gate("api", "api", "  promote_to_step = 2\n"));
    ws.apply();
    assert_eq!(ws.state_of("shard_rollout_gate.api")["current_revision"], new.as_str());
    ws.write_with(&ProviderHcl::new(NO_AWS), &s.gate("api", "api", "  promote_to_step = 4\n"));
    s.wait("api", "the pause at step 3", rollouts::paused_at(3));
    ws.ok(&["plan", "-no-color", "-input=false", "-out=tfplan"]);
    let shown: Json = serde_json::from_str(&ws.ok(&["show", "-json", "tfplan"]).stdout).expect("plan JSON");
    let after = &shown["resource_changes"][0]["change"]["after"];
    assert_eq!(after["current_revision"], new.as_str(), "the plan names the revision it promotes: {after:#}");
    s.new_revision("api", "registry.example/app:4");
    let newer = hash_of(&s.wait("api", "the newest revision's first pause", rollouts::paused_at(1)));
    let before = log(&ws).len();
    ws.fails(
        &["apply", "-no-color", "-input=false", "tfplan"],
        &["New revision during the apply", &format!("revision {newer}"), &format!("revision {new} that")],
    );
    assert_eq!(count(&requests(&log(&ws)[before..], &s.ns), "PATCH status"), 0);
    assert_eq!(s.get("api")["status"]["currentStepIndex"], 1);
}

fn abort_by_hand(s: &Shard, name: &str) {
    // `kubectl argo rollouts abort` (cmd/abort/abort.go).
    let patch = json!({ "status": { "abort": true } });
    s.run(rollouts::api(&s.client, &s.ns).patch_status(
        name,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    ))
    .expect("abort");
    s.wait(name, "Degraded (aborted)", |r| {
        r["status"]["phase"] == "Degraded"
            && r["status"]["message"].as_str().unwrap_or("").starts_with("RolloutAborted")
    });
}

#[test]
fn a_stale_abort_or_degraded_does_not_fail_a_fixed_rollout() {
    let s = Shard::new("gate-stale-abort");
    s.canary_paused_at("api", steps4(), false, 1);
    abort_by_hand(&s, "api");
    // A fixed template while the controller has not reached the Rollout yet: the status still
    // says aborted, for the previous generation.
    s.controller.hold("api");
    s.new_revision("api", "registry.example/app:3");
    let ws = workspace(&s.gate("api", "api", "  promote_to_step = 2\n"));
    let child = ws.spawn(&["apply", "-auto-approve", "-no-color"]);
    support::wait_until(Duration::from_secs(60), "the gate never started waiting", || {
        log(&ws).contains("watching rollout")
    });
    std::thread::sleep(Duration::from_millis(700));
    s.controller.release("api");
    let (ok, text) = support::finish(child);
    assert!(ok, "{text}\n{}", ws.log_tail());
    ws.assert_plan_empty();
    let live = s.get("api");
    assert_eq!(ws.state_of("shard_rollout_gate.api")["current_revision"], live["status"]["currentPodHash"]);

    // `kubectl argo rollouts retry` (`{"status":{"abort":false}}`): Degraded until the controller
    // replaces the RolloutAborted condition (`checkPausedConditions`: RolloutRetry).
    abort_by_hand(&s, "api");
    s.controller.hold("api");
    let retry = json!({ "status": { "abort": false } });
    s.run(rollouts::api(&s.client, &s.ns).patch_status(
        "api",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&retry),
    ))
    .expect("retry");
    let p = ws.plan();
    assert!(p.flat().contains("~ promote_to_step = 0 -> 2"), "{}", p.text());
    let child = ws.spawn(&["apply", "-auto-approve", "-no-color"]);
    let started = log(&ws).matches("watching rollout").count();
    support::wait_until(Duration::from_secs(60), "the gate never started waiting", || {
        log(&ws).matches("watching rollout").count() > started
    });
    std::thread::sleep(Duration::from_millis(700));
    s.controller.release("api");
    let (ok, text) = support::finish(child);
    assert!(ok, "{text}\n{}", ws.log_tail());
    ws.assert_plan_empty();
    let live = s.get("api");
    assert_eq!(live["status"]["conditions"][0]["reason"], "RolloutRetry", "{:#}", live["status"]);
}

#[test]
fn a_workload_ref_rollout_is_not_healthy_before_its_new_template_is_seen() {
    use k8s_openapi::api::apps::v1::Deployment;
    let s = Shard::new("gate-workload");
    let deployment = |image: &str| -> Deployment {
        serde_json::from_value(json!({
            "metadata": { "name": "api" },
            "spec": { "replicas": 0, "selector": { "matchLabels": { "app": "api" } },
                      "template": { "metadata": { "labels": { "app": "api" } },
                                    "spec": { "containers": [{ "name": "app", "image": image }] } } }
        }))
        .unwrap()
    };
    let deployments = kube::Api::<Deployment>::namespaced(s.client.clone(), &s.ns);
    s.run(deployments.create(&Default::default(), &deployment("registry.example/app:1"))).expect("create Deployment");
    let mut manifest = rollouts::canary("api", json!([{ "setWeight": 50 }]), false);
    manifest["spec"].as_object_mut().unwrap().remove("template");
    manifest["spec"]["workloadRef"] = json!({ "apiVersion": "apps/v1", "kind": "Deployment", "name": "api" });
    s.create(&manifest);
    let first = s.wait("api", "the first revision Healthy", rollouts::healthy);
    let ws = workspace(&s.gate("api", "api", ""));
    ws.apply();

    let mut revisions = vec![first["status"]["currentPodHash"].clone()];
    for (round, image) in ["registry.example/app:2", "registry.example/app:3"].iter().enumerate() {
        let generation = (round + 2).to_string();
        let image =
            json!({ "spec": { "template": { "spec": { "containers": [{ "name": "app", "image": image }] } } } });
        if round == 0 {
            // The Deployment changed and the controller has not even seen it (the annotation is
            // still the old generation): the gate compares the Deployment's own generation.
            s.controller.hold_all("api");
            s.run(deployments.patch("api", &kube::api::PatchParams::default(), &kube::api::Patch::Strategic(&image)))
                .expect("new Deployment template");
            std::thread::sleep(Duration::from_millis(400));
            assert_eq!(s.get("api")["metadata"]["annotations"]["rollout.argoproj.io/workload-generation"], "1");
        } else {
            // The controller bumped the annotation but has not persisted a status for the new
            // template (Argo CD's health.lua: "Waiting for rollout spec update to be observed").
            s.controller.hold("api");
            s.run(deployments.patch("api", &kube::api::PatchParams::default(), &kube::api::Patch::Strategic(&image)))
                .expect("new Deployment template");
            s.wait("api", "the workload-generation annotation", |r| {
                r["metadata"]["annotations"]["rollout.argoproj.io/workload-generation"] == generation.as_str()
            });
        }
        assert_eq!(s.get("api")["status"]["phase"], "Healthy", "the status is still the old template's");
        let p = ws.plan();
        assert_eq!(p.code, 2, "a new workload template is not Healthy yet:\n{}", p.text());
        assert!(p.flat().contains("waiting for rollout spec update to be observed"), "{}", p.text());
        let watches = log(&ws).matches("watching rollout").count();
        let child = ws.spawn(&["apply", "-auto-approve", "-no-color"]);
        support::wait_until(Duration::from_secs(60), "the gate never started waiting", || {
            log(&ws).matches("watching rollout").count() > watches
        });
        std::thread::sleep(Duration::from_millis(500));
        s.controller.release("api");
        let (ok, text) = support::finish(child);
        assert!(ok, "{text}\n{}", ws.log_tail());
        ws.assert_plan_empty();
        let st = ws.state_of("shard_rollout_gate.api");
        assert!(!revisions.contains(&st["current_revision"]), "{st:#}");
        assert_eq!((st["phase"].as_str(), st["fully_promoted"].as_bool()), (Some("Healthy"), Some(true)));
        assert_eq!(s.get("api")["status"]["workloadObservedGeneration"], generation.as_str());
        revisions.push(st["current_revision"].clone());
    }
}

#[test]
fn timed_pauses_are_waited_out_not_promoted() {
    // `CompletedCanaryPauseStep` / `CompletedBlueGreenPause` (rollout/pause.go) end these by
    // themselves: a gate promoting to a step, or a pure gate, never clears them.
    let s = Shard::new("gate-timed");
    let steps = json!([{ "setWeight": 10 }, { "pause": { "duration": "5s" } }, { "setWeight": 30 }, { "pause": {} }]);
    s.canary_paused_at("api", steps, false, 1);
    let ws = workspace(&s.gate("api", "api", "  promote_to_step = 2\n"));
    ws.apply();
    assert_eq!(count(&requests(&log(&ws), &s.ns), "PATCH status"), 0, "the timed pause was cut short");
    assert_eq!(ws.state_of("shard_rollout_gate.api")["promote_to_step"], 2);

    let mut bg = rollouts::blue_green("web");
    bg["spec"]["strategy"]["blueGreen"].as_object_mut().unwrap().remove("autoPromotionEnabled");
    bg["spec"]["strategy"]["blueGreen"]["autoPromotionSeconds"] = json!(4);
    s.create(&bg);
    s.wait("web", "the first revision Healthy", rollouts::healthy);
    s.new_revision("web", "registry.example/app:2");
    s.wait("web", "the BlueGreenPause", |r| r["status"]["pauseConditions"][0]["reason"] == "BlueGreenPause");
    // A pure gate waits the bake out (promote_full would skip it, as `promote --full` does).
    let ws = workspace(&s.gate("web", "web", ""));
    ws.apply();
    assert_eq!(count(&requests(&log(&ws), &s.ns), "PATCH status"), 0, "autoPromotionSeconds was cut short");
    assert!(rollouts::healthy(&s.get("web")));
}

#[test]
fn an_operators_pause_is_not_lifted_unless_lift_manual_pause() {
    let s = Shard::new("gate-manual");
    s.canary_paused_at("api", steps4(), false, 1);
    // `kubectl argo rollouts pause` (cmd/pause/pause.go): an incident pause.
    let pause = json!({ "spec": { "paused": true } });
    s.run(rollouts::api(&s.client, &s.ns).patch(
        "api",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&pause),
    ))
    .expect("pause");
    s.wait("api", "manually paused", |r| r["status"]["message"] == "manually paused");
    let ws = workspace(&s.gate("api", "api", "  promote_to_step = 2\n"));
    ws.fails(
        &["apply", "-auto-approve", "-no-color"],
        &["Rollout paused by hand", "spec.paused: true", "lift_manual_pause = true"],
    );
    assert!(!requests(&log(&ws), &s.ns).iter().any(|r| r.starts_with("PATCH")), "the gate wrote");
    assert_eq!(s.get("api")["spec"]["paused"], true);

    ws.write_with(
        &ProviderHcl::new(NO_AWS),
        &s.gate("api", "api", "  promote_to_step = 2\n  lift_manual_pause = true\n"),
    );
    ws.apply();
    assert!(log(&ws).contains(r#"patch="{\"spec\":{\"paused\":false}}""#));
    assert_eq!(s.get("api")["spec"]["paused"], false);
}

#[test]
fn promote_to_weight_stops_once_the_canary_has_that_weight() {
    let s = Shard::new("gate-weight");
    let steps = json!([{ "setWeight": 10 }, { "pause": {} }, { "setWeight": 30 }, { "pause": {} },
                       { "setWeight": 60 }, { "pause": {} }]);
    s.canary_paused_at("api", steps, false, 1);
    let too_far = workspace(&s.gate("api", "api", "  promote_to_weight = 70\n"));
    too_far.fails(&["plan", "-no-color"], &["Target does not fit the Rollout", "no setWeight step of 70 or more"]);

    let ws = workspace(&s.gate("api", "api", "  promote_to_weight = 25\n"));
    ws.apply();
    let live = s.wait("api", "the pause after setWeight 30", rollouts::paused_at(3));
    assert_eq!(live["status"]["currentStepIndex"], 3, "never past the target");
    let st = ws.state_of("shard_rollout_gate.api");
    assert_eq!((st["promote_to_weight"].clone(), st["canary_weight"].clone()), (json!(25), json!(30)));

    // A new revision restarts the canary: the plan shows the weight reached, then the target.
    s.new_revision("api", "registry.example/app:3");
    s.wait("api", "the new revision's first pause", rollouts::paused_at(1));
    let p = ws.plan();
    assert_eq!(p.code, 2, "{}", p.text());
    assert!(p.flat().contains("~ promote_to_weight = 10 -> 25"), "{}", p.text());
    ws.apply();
    s.wait("api", "the pause after setWeight 30 again", rollouts::paused_at(3));
}

#[test]
fn promote_to_the_step_count_means_stable() {
    // Completing the last step is not the end: `shouldFullPromote` (rollout/sync.go) promotes the
    // revision to stable once its ReplicaSet is available (1.5 s here).
    let s = Shard::new("gate-laststep");
    s.canary_paused_at("api", steps4(), false, 1);
    s.controller.behave("api", Behaviour { step_time: Duration::from_millis(1500), ..Default::default() });
    let ws = workspace(&s.gate("api", "api", "  promote_to_step = 4\n"));
    ws.apply();
    let st = ws.state_of("shard_rollout_gate.api");
    assert_eq!((st["promote_to_step"].as_i64(), st["fully_promoted"].as_bool()), (Some(4), Some(true)), "{st:#}");
    assert_eq!(st["stable_revision"], st["current_revision"]);
    assert_eq!(count(&requests(&log(&ws), &s.ns), "PATCH status"), 2, "the pauses at steps 1 and 3");
}

#[test]
fn retry_aborted_retries_the_planned_revision_once() {
    // `kubectl argo rollouts retry` as declared state: `{"status":{"abort":false}}` (cmd/retry),
    // then Argo restarts the steps (`checkPausedConditions`: RolloutRetry).
    let s = Shard::new("gate-retry");
    let paused = s.canary_paused_at("api", steps4(), false, 1);
    abort_by_hand(&s, "api");
    let ws = workspace(&s.gate("api", "api", "  promote_to_step = 2\n"));
    ws.fails(&["apply", "-auto-approve", "-no-color"], &["Rollout aborted", "RolloutAborted"]);
    ws.write_with(&ProviderHcl::new(NO_AWS), &s.gate("api", "api", "  promote_to_step = 2\n  retry_aborted = true\n"));
    ws.apply();
    let text = log(&ws);
    assert_eq!(text.matches(r#"patch="{\"status\":{\"abort\":false}}""#).count(), 1, "one retry");
    let live = s.get("api");
    assert_ne!(live["status"]["abort"], true);
    assert_eq!(live["status"]["currentPodHash"], paused["status"]["currentPodHash"]);
    assert!(live["status"]["currentStepIndex"].as_i64() >= Some(2), "{:#}", live["status"]);
}

/// A credential plugin script in `ws` that logs each run to `<name>.runs` and prints the token
/// its environment holds as an ExecCredential.
fn plugin(ws: &Workspace, name: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = ws.path(name);
    let runs = ws.path(&format!("{name}.runs"));
    let script = format!(
        "#!/bin/sh\necho run >> '{}'\nprintf '{{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"%s\"}}}}' \"$BENCH_TOKEN\"\n",
        runs.display()
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

fn plugin_runs(ws: &Workspace, name: &str) -> usize {
    std::fs::read_to_string(ws.path(&format!("{name}.runs"))).unwrap_or_default().lines().count()
}

/// Issue 16, item 8: the `cluster` block is stored in state, and Terraform gives ReadResource no
/// configuration. A refresh must never run a plugin command that only state names (whoever can
/// write state would choose what runs with the runner's credentials): such a gate is refreshed at
/// plan, with the command the configuration names, and the plan still shows lost progress.
#[test]
fn a_credential_plugin_named_only_by_state_is_never_run() {
    let s = Shard::new("gate-exec");
    s.canary_paused_at("api", steps4(), false, 1);
    let ws = workspace("");
    let good = plugin(&ws, "good.sh");
    let evil = plugin(&ws, "evil.sh");
    let config = format!(
        "resource \"shard_rollout_gate\" \"api\" {{\n  namespace = \"{}\"\n  name      = \"api\"\n  promote_to_step = 2\n  \
         cluster {{\n    host                   = \"{}\"\n    cluster_ca_certificate = file(\"{}\")\n    exec {{\n      \
         command = \"{good}\"\n      env     = {{ BENCH_TOKEN = \"{}\" }}\n    }}\n  }}\n}}\n",
        s.ns,
        s.bench.host(),
        s.bench.connection().ca_file.display(),
        s.bench.connection().admin_token
    );
    ws.write_with(&ProviderHcl::new(NO_AWS), &config);
    ws.apply();
    s.wait("api", "the pause at step 3", rollouts::paused_at(3));
    assert!(plugin_runs(&ws, "good.sh") > 0, "the configured plugin gave the token");

    // Progress lost (a new revision) still shows in the plan, refreshed with the configured plugin.
    s.new_revision("api", "registry.example/app:3");
    let restarted = s.wait("api", "the new revision's first pause", rollouts::paused_at(1));
    let runs_before = plugin_runs(&ws, "good.sh");
    let changes = ws.planned_changes();
    assert!(changes.iter().any(|(a, _)| a == "shard_rollout_gate.api"), "the plan shows an update: {changes:?}");
    assert!(plugin_runs(&ws, "good.sh") > runs_before, "the plan read the Rollout with the configured plugin");
    ws.apply();
    let live = s.wait("api", "the pause at step 3 again", rollouts::paused_at(3));
    assert_eq!(live["status"]["currentPodHash"], restarted["status"]["currentPodHash"]);

    // Someone with write access to state names another command.
    let state_path = ws.path("terraform.tfstate");
    let mut state: Json = serde_json::from_str(&support::read(&state_path)).unwrap();
    let instance = &mut state["resources"][0]["instances"][0]["attributes"];
    assert_eq!(instance["cluster"]["exec"]["command"], json!(good), "{instance:#}");
    instance["cluster"]["exec"]["command"] = json!(evil);
    state["serial"] = json!(state["serial"].as_i64().unwrap() + 1);
    std::fs::write(&state_path, serde_json::to_string_pretty(&state).unwrap()).unwrap();

    ws.ok(&["plan", "-refresh-only", "-no-color", "-input=false"]);
    ws.ok(&["apply", "-refresh-only", "-auto-approve", "-no-color", "-input=false"]);
    ws.ok(&["plan", "-no-color", "-input=false"]);
    assert_eq!(plugin_runs(&ws, "evil.sh"), 0, "a command only state named was run");
    // The configured command is what the apply runs, and it puts its own block back in state.
    ws.apply();
    assert_eq!(plugin_runs(&ws, "evil.sh"), 0, "a command only state named was run");
    let st = ws.state_of("shard_rollout_gate.api");
    assert_eq!(st["cluster"]["exec"]["command"], json!(good));
}

/// `action "shard_rollout_<verb>"` blocks for one Rollout (Terraform 1.14+ actions).
fn rollout_actions(s: &Shard, name: &str) -> String {
    ["promote", "abort", "retry"]
        .iter()
        .map(|verb| {
            format!(
                "action \"shard_rollout_{verb}\" \"{name}\" {{\n  config {{\n    namespace = \"{}\"\n    name      = \"{name}\"\n  {}  }}\n}}\n",
                s.ns,
                s.cluster_block().replace('\n', "\n  ")
            )
        })
        .collect()
}

#[test]
fn promote_abort_and_retry_actions_send_the_clis_patches_now() {
    if !support::terraform_at_least(1, 14) {
        eprintln!("skipped: actions need Terraform 1.14 or later");
        return;
    }
    let s = Shard::new("gate-actions");
    s.canary_paused_at("api", steps4(), false, 1);
    let ws = workspace(&rollout_actions(&s, "api"));
    let invoke = |verb: &str| {
        ws.ok(&["apply", "-auto-approve", "-no-color", &format!("-invoke=action.shard_rollout_{verb}.api")])
    };
    let promoted = invoke("promote");
    // Progress is streamed: what the action read, what it sent.
    assert!(promoted.stdout.contains("step 1 of 4 (pause), phase Paused"), "{}", promoted.stdout);
    assert!(
        promoted.stdout.contains(r#"kubectl argo rollouts promote: status {"status":{"pauseConditions":null}}"#),
        "{}",
        promoted.stdout
    );
    s.wait("api", "the next pause (step 3)", rollouts::paused_at(3));

    invoke("abort");
    let aborted = s.wait("api", "aborted, back at step 0", |r| {
        r["status"]["abort"] == true && r["status"]["currentStepIndex"] == 0
    });
    assert!(aborted["status"]["conditions"].to_string().contains("RolloutAborted"), "{aborted:#}");

    invoke("retry");
    // Retried, the controller starts the steps again and stops at the first pause.
    let retried = s.wait("api", "the first pause again", rollouts::paused_at(1));
    assert_ne!(retried["status"]["abort"], true);

    // A Rollout that is not there: an error naming it, nothing written.
    let missing = workspace(&rollout_actions(&s, "nope"));
    missing.fails(
        &["apply", "-auto-approve", "-no-color", "-invoke=action.shard_rollout_abort.nope"],
        &["Rollout not found", "nope"],
    );
    assert!(s.controller.errors().is_empty(), "{:?}", s.controller.errors());
}

/// Terraform 1.14+ `terraform query` on a shard's cluster: the Rollouts there become gates
/// whose imports (by identity, naming the cluster) plan nothing else.
#[test]
fn query_adopts_the_rollouts_of_a_shards_namespace() {
    if !support::terraform_at_least(1, 14) {
        eprintln!("skipped: list resources need Terraform 1.14 or later");
        return;
    }
    let s = Shard::new("gate-query");
    for name in ["api", "web"] {
        s.create(&rollouts::canary(name, steps4(), false));
        s.wait(name, "the first revision Healthy", rollouts::healthy);
    }
    let ws = workspace("");
    std::fs::write(
        ws.path("rollouts.tfquery.hcl"),
        format!(
            "list \"shard_rollout_gate\" \"shard\" {{\n  provider = shard\n  config {{\n    namespace = \"{}\"\n  {}  }}\n}}\n",
            s.ns,
            s.cluster_block().replace('\n', "\n  ")
        ),
    )
    .unwrap();
    let listed = ws.ok(&["query", "-no-color"]);
    assert!(listed.stdout.contains(&format!("{}/api (", s.ns)), "{}", listed.stdout);
    assert!(listed.stdout.contains(&format!("{}/web (", s.ns)), "{}", listed.stdout);
    ws.ok(&["query", "-no-color", "-generate-config-out=generated.tf"]);
    let generated = support::read(&ws.path("generated.tf"));
    assert_eq!(generated.matches("import {").count(), 2, "{generated}");
    // The identity names the cluster, so the import reaches it and not the provider's hub.
    assert!(generated.contains("config_context=bench"), "{generated}");
    std::fs::remove_file(ws.path("rollouts.tfquery.hcl")).unwrap();
    let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
    assert!(plan.stdout.contains("2 to import, 0 to add, 0 to change, 0 to destroy"), "{}\n{generated}", plan.stdout);
    let before = s.get("api")["metadata"]["resourceVersion"].clone();
    ws.apply();
    assert_eq!(s.get("api")["metadata"]["resourceVersion"], before, "adoption wrote to the Rollout");
    assert_eq!(ws.state_of("shard_rollout_gate.shard_0")["phase"], "Healthy");
}
