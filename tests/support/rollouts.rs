//! A stand-in for the Argo Rollouts controller, for tests and the sandbox.
//!
//! There is no Argo Rollouts controller on the bench. [`RolloutController`] **plays the
//! controller**: a tokio task that watches the Rollouts of one namespace on a real API server and
//! writes their `status` subresource the way argo-rollouts' `rollout` package does, for the parts
//! of the state machine a gate depends on. It is not a reimplementation: there are no
//! ReplicaSets, Services, Pods or AnalysisRuns; their effects are simulated with timers and
//! per-Rollout [`Behaviour`]s (how long a step takes, what analysis concludes).
//!
//! What it mirrors (github.com/argoproj/argo-rollouts, `rollout/` and `utils/`):
//! - a new revision (spec.template changed): `resetRolloutStatus` (sync.go): new
//!   `currentPodHash`, `currentStepIndex` back to 0, pause conditions, `controllerPause`, `abort`
//!   and `promoteFull` cleared; the first revision is promoted at once ("Initial deploy",
//!   `shouldFullPromote`); going back to the stable hash skips the steps;
//! - `observedGeneration` = `metadata.generation` as a string on every write (`persistRolloutStatus`);
//! - canary steps (`syncRolloutStatusCanary`, canary.go): `setWeight` (and the other
//!   non-pause steps) complete after `step_time`; `pause: {}` adds a `CanaryPauseStep` pause
//!   condition with `controllerPause: true` and completes when a promote cleared the condition
//!   (`CompletedCanaryPauseStep`, pause.go: controllerPause with no condition left), a timed
//!   pause also when its duration is over; `status.canary.weights` only with traffic routing
//!   (trafficrouting.go; 0 for the canary once fully promoted);
//! - analysis steps: `Successful` completes the step; `Failed` aborts with "Step-based analysis
//!   phase error/failed: MESSAGE" (analysis.go `AddAbort`); `Inconclusive` pauses with
//!   `InconclusiveAnalysisRun` and `currentStepAnalysisRunStatus.status = Inconclusive`;
//! - `promoteFull` (and reaching the end of the steps): `promoteStable` — `stableRS =
//!   currentPodHash`, `currentStepIndex = len(steps)`;
//! - `abort`: `currentStepIndex` back to 0, pause conditions cleared, a `RolloutAborted`
//!   condition "Rollout aborted update to revision N[: reason]";
//! - blue-green (`syncRolloutStatusBlueGreen`, bluegreen.go): preview up after `step_time`, then
//!   with `autoPromotionEnabled: false` a `BlueGreenPause` until promoted, then active =
//!   current, then stable = current;
//! - a stalled revision: after `progress_deadline`, Degraded `ProgressDeadlineExceeded` (no
//!   abort, as with `progressDeadlineAbort: false`);
//! - phase and message: `CalculateRolloutPhase` (rolloututil.go), minus replica counts;
//! - the end of the steps: `shouldFullPromote` (sync.go) promotes to stable only once the new
//!   ReplicaSet is available, simulated as `step_time` after the last step completed;
//! - retry (`{"status":{"abort":false}}` on an aborted Rollout): `checkPausedConditions`
//!   (sync.go) replaces the `RolloutAborted` condition with `RolloutRetry` "Retrying Rollout
//!   after abort", and the canary starts again from step 0;
//! - blue-green `autoPromotionSeconds` (with auto-promotion not disabled): a `BlueGreenPause`
//!   that `CompletedBlueGreenPause` (pause.go) ends once `startTime + autoPromotionSeconds` has
//!   passed (`needsBlueGreenControllerPause`, bluegreen.go);
//! - `spec.workloadRef` (templateref.go): the pod template is the referenced Deployment's;
//!   when the Deployment's generation changes the controller first patches the
//!   `rollout.argoproj.io/workload-generation` annotation (`updateRolloutsReferenceAnnotation`,
//!   a metadata patch: no generation bump), and `persistRolloutStatus` (sync.go) copies it into
//!   `status.workloadObservedGeneration` with the status of the new template.
//!
//! [`RolloutController::hold`] holds back the status writes of one Rollout (a busy controller
//! whose work queue has not reached it yet): the window in which the status still describes the
//! previous spec, which upstream's `GetRolloutPhase` reports as "waiting for rollout spec update
//! to be observed". The workload annotation is still kept up to date meanwhile, as upstream's
//! workload informer does it outside the Rollout's reconcile; [`RolloutController::hold_all`]
//! holds that back too (the informer has not seen the Deployment change yet).

#![allow(dead_code)]

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value as Json, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::now_rfc3339;

pub fn rollout_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"), "rollouts")
}

pub fn api(client: &kube::Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &rollout_resource())
}

/// What analysis steps conclude.
#[derive(Debug, Clone, PartialEq)]
pub enum Analysis {
    Successful,
    Failed(String),
    Inconclusive(String),
}

/// How the simulated cluster behaves for one Rollout.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// How long a setWeight (or experiment, setCanaryScale, …) step takes, and a blue-green
    /// preview to come up.
    pub step_time: Duration,
    pub analysis: Analysis,
    pub analysis_time: Duration,
    /// Never finish progressing: Degraded `ProgressDeadlineExceeded` this long after the revision
    /// started.
    pub progress_deadline: Option<Duration>,
}

impl Default for Behaviour {
    fn default() -> Behaviour {
        Behaviour {
            step_time: Duration::from_millis(200),
            analysis: Analysis::Successful,
            analysis_time: Duration::from_millis(300),
            progress_deadline: None,
        }
    }
}

/// One status write of the controller, as the API server acknowledged it.
#[derive(Debug, Clone)]
pub struct Write {
    /// When the API server answered the write.
    pub at: std::time::Instant,
    /// The same moment on the wall clock (to compare with log timestamps).
    pub wall: std::time::SystemTime,
    /// When the write was sent (wall clock): a watcher may see it before the writer's answer.
    pub sent: std::time::SystemTime,
    pub name: String,
    pub status: Json,
}

#[derive(Default)]
struct Shared {
    behaviours: Mutex<HashMap<String, Behaviour>>,
    writes: Mutex<Vec<Write>>,
    /// Rollouts whose status writes are held back (the test decides when the controller acts).
    held: Mutex<HashSet<String>>,
    /// Rollouts whose workload annotation is held back too (the informer has not seen the
    /// workload change yet).
    held_workload: Mutex<HashSet<String>>,
    /// Failed watches and writes, for failure messages.
    errors: Mutex<Vec<String>>,
}

/// The controller task; stops when dropped.
pub struct RolloutController {
    shared: Arc<Shared>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    wake: Arc<tokio::sync::Notify>,
}

impl RolloutController {
    /// Starts reconciling every Rollout in `namespace`. Call inside a Tokio runtime (a
    /// multi-thread one if the caller blocks, e.g. on a Terraform run).
    pub fn start(client: kube::Client, namespace: &str) -> RolloutController {
        let shared = Arc::new(Shared::default());
        let stop = CancellationToken::new();
        let wake = Arc::new(tokio::sync::Notify::new());
        let deployments = Api::namespaced_with(client.clone(), namespace, &deployment_resource());
        let task = tokio::spawn(run(api(&client, namespace), deployments, shared.clone(), stop.clone(), wake.clone()));
        RolloutController { shared, stop, task: Some(task), wake }
    }

    /// Sets how the Rollout `name` behaves from now on (others keep the default).
    pub fn behave(&self, name: &str, behaviour: Behaviour) {
        self.shared.behaviours.lock().unwrap().insert(name.to_string(), behaviour);
        self.wake.notify_one();
    }

    /// Holds back the status writes for `name` until [`release`](Self::release).
    pub fn hold(&self, name: &str) {
        self.shared.held.lock().unwrap().insert(name.to_string());
    }

    /// Holds back everything for `name`, the `workload-generation` annotation too.
    pub fn hold_all(&self, name: &str) {
        self.shared.held_workload.lock().unwrap().insert(name.to_string());
        self.hold(name);
    }

    /// Lets the controller write the status of `name` again (at once).
    pub fn release(&self, name: &str) {
        self.shared.held_workload.lock().unwrap().remove(name);
        self.shared.held.lock().unwrap().remove(name);
        self.wake.notify_one();
    }

    /// The controller's failed watches and writes so far.
    pub fn errors(&self) -> Vec<String> {
        self.shared.errors.lock().unwrap().clone()
    }

    /// The status writes made for `name`, oldest first.
    pub fn writes(&self, name: &str) -> Vec<Write> {
        self.shared.writes.lock().unwrap().iter().filter(|w| w.name == name).cloned().collect()
    }
}

impl Drop for RolloutController {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Per-Rollout memory the real controller keeps in ReplicaSets and AnalysisRuns: when the
/// current step (or the revision) started, and the revision numbers of pod template hashes.
#[derive(Default)]
struct Memory {
    step_started: HashMap<String, (String, i64, Instant)>,
    revision_started: HashMap<String, (String, Instant)>,
    revisions: HashMap<String, Vec<String>>,
    /// When the current blue-green pause started (its condition's startTime).
    pause_started: HashMap<String, (String, Instant)>,
}

fn deployment_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", "Deployment"), "deployments")
}

/// For a `workloadRef` Rollout: the referenced Deployment's template and generation, after
/// bringing the `workload-generation` annotation up to date (upstream
/// `updateRolloutsReferenceAnnotation`). None when there is no such Deployment.
async fn resolve_workload(
    api: &Api<DynamicObject>,
    deployments: &Api<DynamicObject>,
    rollout: &mut DynamicObject,
) -> Option<(Json, i64)> {
    let doc = serde_json::to_value(&*rollout).unwrap_or_default();
    let name = doc["spec"]["workloadRef"]["name"].as_str()?;
    let deployment = serde_json::to_value(deployments.get_opt(name).await.ok()??).unwrap_or_default();
    let generation = deployment["metadata"]["generation"].as_i64().unwrap_or(1);
    let annotated = doc["metadata"]["annotations"][WORKLOAD_GENERATION].as_str().and_then(|g| g.parse::<i64>().ok());
    if annotated != Some(generation) {
        let patch = json!({ "metadata": { "annotations": { WORKLOAD_GENERATION: generation.to_string() } } });
        let rollout_name = rollout.metadata.name.clone().unwrap_or_default();
        if let Ok(written) = api.patch(&rollout_name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            *rollout = written;
        }
    }
    Some((deployment["spec"]["template"].clone(), generation))
}

const WORKLOAD_GENERATION: &str = "rollout.argoproj.io/workload-generation";

async fn run(
    api: Api<DynamicObject>,
    deployments: Api<DynamicObject>,
    shared: Arc<Shared>,
    stop: CancellationToken,
    wake: Arc<tokio::sync::Notify>,
) {
    let mut events = watcher(api.clone(), watcher::Config::default()).default_backoff().boxed();
    let mut cache: HashMap<String, DynamicObject> = HashMap::new();
    let mut due: HashMap<String, Instant> = HashMap::new();
    let mut memory = Memory::default();
    loop {
        let next_due = due.values().min().copied();
        let mut touched: Vec<String> = Vec::new();
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake.notified() => touched.extend(cache.keys().cloned()),
            _ = async { match next_due { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                let now = Instant::now();
                touched.extend(due.iter().filter(|(_, t)| **t <= now).map(|(n, _)| n.clone()));
            }
            event = events.next() => match event {
                Some(Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o))) => {
                    let name = o.metadata.name.clone().unwrap_or_default();
                    // The event of our own earlier write may arrive after we cached a later one:
                    // keep the newest (an informer's cache is monotonic the same way).
                    if cache.get(&name).is_none_or(|cached| version(cached) <= version(&o)) {
                        cache.insert(name.clone(), o);
                        touched.push(name);
                    }
                }
                Some(Ok(watcher::Event::Delete(o))) => {
                    let name = o.metadata.name.clone().unwrap_or_default();
                    cache.remove(&name);
                    due.remove(&name);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => shared.errors.lock().unwrap().push(format!("watch: {e}")),
                None => return,
            },
        }
        for name in touched {
            due.remove(&name);
            let Some(obj) = cache.get(&name) else { continue };
            let mut obj = obj.clone();
            let mut workload = None;
            if serde_json::to_value(&obj).unwrap_or_default()["spec"]["workloadRef"].is_object() {
                // No Deployment informer here: look again soon.
                due.insert(name.clone(), Instant::now() + Duration::from_millis(150));
                if shared.held_workload.lock().unwrap().contains(&name) {
                    continue;
                }
                workload = resolve_workload(&api, &deployments, &mut obj).await;
                if workload.is_none() {
                    continue;
                }
                cache.insert(name.clone(), obj.clone());
            }
            if shared.held.lock().unwrap().contains(&name) {
                continue;
            }
            let behaviour = shared.behaviours.lock().unwrap().get(&name).cloned().unwrap_or_default();
            let doc = serde_json::to_value(&obj).unwrap_or_default();
            let (status, requeue) = reconcile(&doc, workload.as_ref(), &behaviour, &mut memory, Instant::now());
            if let Some(after) = requeue {
                due.insert(name.clone(), Instant::now() + after);
            }
            if status == doc["status"] {
                continue;
            }
            // A merge patch of the whole status: fields set to null are removed, as the real
            // controller's two-way merge patch does.
            let patch = json!({ "status": merge_patch(&doc["status"], &status) });
            let sent = std::time::SystemTime::now();
            match api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(written) => {
                    let (at, wall) = (std::time::Instant::now(), std::time::SystemTime::now());
                    let status = serde_json::to_value(&written).unwrap_or_default()["status"].clone();
                    shared.writes.lock().unwrap().push(Write { at, wall, sent, name: name.clone(), status });
                    cache.insert(name.clone(), written);
                    // Keep going from the written state (the real controller requeues too).
                    due.insert(name, Instant::now());
                }
                Err(e) => {
                    // Conflict or the object is gone: the watch brings the news.
                    let mut errors = shared.errors.lock().unwrap();
                    if errors.len() < 10 {
                        errors.push(format!("{name}: {e} (patch {patch})"));
                    }
                    due.insert(name, Instant::now() + Duration::from_millis(50));
                }
            }
        }
    }
}

/// metadata.resourceVersion as a number (etcd's revision on kube-apiserver; opaque in general,
/// good enough to order the events of one test server).
fn version(obj: &DynamicObject) -> u64 {
    obj.metadata.resource_version.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// A pod template hash: a stable hash of spec.template, as hex (Argo uses the
/// `rollouts-pod-template-hash` of the ReplicaSet it creates).
pub fn template_hash(template: &Json) -> String {
    let text = serde_json::to_string(template).unwrap_or_default();
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{:010x}", h & 0xff_ffff_ffff)
}

/// One reconcile: the status this controller writes for `ro` now, and when to look again.
/// `workload`: the referenced Deployment's template and generation for a `workloadRef` Rollout.
fn reconcile(
    ro: &Json,
    workload: Option<&(Json, i64)>,
    b: &Behaviour,
    mem: &mut Memory,
    now: Instant,
) -> (Json, Option<Duration>) {
    let name = ro["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let generation = ro["metadata"]["generation"].as_i64().unwrap_or(1);
    let spec = &ro["spec"];
    let old = ro["status"].clone();
    let mut st = if old.is_object() { old.clone() } else { json!({}) };
    st["observedGeneration"] = json!(generation.to_string());
    let template = match workload {
        Some((template, workload_generation)) => {
            st["workloadObservedGeneration"] = json!(workload_generation.to_string());
            template.clone()
        }
        None => spec["template"].clone(),
    };
    let hash = template_hash(&template);
    let revisions = mem.revisions.entry(name.clone()).or_default();
    if !revisions.contains(&hash) {
        revisions.push(hash.clone());
    }
    let revision = revisions.iter().position(|h| *h == hash).unwrap_or(0) + 1;
    let canary = spec["strategy"]["canary"].is_object();
    let steps = spec["strategy"]["canary"]["steps"].as_array().cloned().unwrap_or_default();
    let n = steps.len() as i64;
    let stable = st["stableRS"].as_str().unwrap_or_default().to_string();
    let current = st["currentPodHash"].as_str().unwrap_or_default().to_string();
    let mut requeue: Option<Duration> = None;
    let soonest = |d: Duration, r: &mut Option<Duration>| *r = Some(r.map_or(d, |x: Duration| x.min(d)));

    // A new revision.
    if current != hash {
        mem.revision_started.insert(name.clone(), (hash.clone(), now));
        st["currentPodHash"] = json!(hash);
        clear_pause(&mut st);
        remove(&mut st, &["abort", "abortedAt", "promoteFull"]);
        remove_conditions(&mut st);
        st["canary"] = json!({});
        if stable.is_empty() || stable == hash {
            // "Initial deploy" / rollback to stable: promoted at once, steps skipped.
            promote_stable(&mut st, &hash, canary, n);
            if !canary {
                st["blueGreen"] = json!({ "activeSelector": hash, "previewSelector": hash });
            }
        } else if canary {
            if n > 0 {
                st["currentStepIndex"] = json!(0);
            } else {
                remove(&mut st, &["currentStepIndex"]);
            }
        } else {
            st["blueGreen"]["previewSelector"] = json!(hash);
        }
        finish(&mut st, spec, canary, &steps, revision);
        return (st, Some(Duration::ZERO));
    }

    let aborted = st["abort"].as_bool().unwrap_or(false);
    let promote_full = st["promoteFull"].as_bool().unwrap_or(false);
    let paused = spec["paused"].as_bool().unwrap_or(false);
    let fully_promoted = !stable.is_empty() && stable == hash;
    let since_revision = mem.revision_started.get(&name).filter(|(h, _)| *h == hash).map(|(_, t)| now - *t);

    if promote_full && !fully_promoted {
        clear_pause(&mut st);
        remove(&mut st, &["abort", "abortedAt"]);
        promote_stable(&mut st, &hash, canary, n);
        if !canary {
            st["blueGreen"]["activeSelector"] = json!(hash);
        }
    } else if aborted {
        // Abort: back to step 0 (or the end, if nothing was being rolled out), no pauses.
        clear_pause(&mut st);
        if canary && n > 0 {
            st["currentStepIndex"] = json!(if fully_promoted { n } else { 0 });
        }
        if st["abortedAt"].is_null() {
            st["abortedAt"] = json!(now_rfc3339());
        }
    } else if paused {
        // Manually paused: nothing moves (`haltProgress`).
    } else if st["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["reason"] == "RolloutAborted")) {
        // Retried (abort cleared by `kubectl argo rollouts retry`): `checkPausedConditions`.
        remove(&mut st, &["abortedAt"]);
        set_condition(&mut st, "Progressing", "Unknown", "RolloutRetry", "Retrying Rollout after abort");
        soonest(Duration::ZERO, &mut requeue);
    } else if let (Some(deadline), false) = (b.progress_deadline, fully_promoted) {
        let elapsed = since_revision.unwrap_or_default();
        if elapsed >= deadline {
            let message = format!("ReplicaSet \"{name}-{hash}\" has timed out progressing.");
            set_condition(&mut st, "Progressing", "False", "ProgressDeadlineExceeded", &message);
        } else {
            soonest(deadline - elapsed, &mut requeue);
        }
    } else if canary {
        let index = st["currentStepIndex"].as_i64().unwrap_or(0);
        if index >= n {
            // `shouldFullPromote`: once the new ReplicaSet is available (`step_time` here).
            let elapsed = now - step_clock(mem, &name, &hash, n, now);
            if !fully_promoted && elapsed >= b.step_time {
                promote_stable(&mut st, &hash, true, n);
            } else if !fully_promoted {
                soonest(b.step_time - elapsed, &mut requeue);
            }
        } else {
            let step = &steps[index as usize];
            let started = step_clock(mem, &name, &hash, index, now);
            let elapsed = now - started;
            let conditions = reasons(&st);
            let controller_pause = st["controllerPause"].as_bool().unwrap_or(false);
            let mut advance = false;
            if step.get("experiment").is_none_or(|e| e.is_null())
                && let Some(c) = st["canary"].as_object_mut()
            {
                // Not an experiment step (a promote moved past it): the experiment is one of
                // `otherExs`, cancelled, and no longer the current one (experiment.go).
                c.remove("currentExperiment");
            }
            if step.get("pause").is_some_and(|p| !p.is_null()) {
                let has = conditions.iter().any(|r| r == "CanaryPauseStep");
                if controller_pause && !has {
                    advance = true; // promoted: CompletedCanaryPauseStep
                } else if has {
                    if let Some(d) = duration_of(&step["pause"]["duration"]) {
                        if elapsed >= d {
                            advance = true;
                        } else {
                            soonest(d - elapsed, &mut requeue);
                        }
                    }
                } else {
                    add_pause(&mut st, "CanaryPauseStep");
                }
            } else if step.get("analysis").is_some_and(|a| !a.is_null()) {
                if conditions.iter().any(|r| r == "InconclusiveAnalysisRun") {
                    // Waits for a human (promote clears it and moves on).
                } else if elapsed < b.analysis_time {
                    soonest(b.analysis_time - elapsed, &mut requeue);
                } else {
                    match &b.analysis {
                        Analysis::Successful => advance = true,
                        Analysis::Failed(why) => {
                            st["abort"] = json!(true);
                            st["_abortReason"] = json!(format!("Step-based analysis phase error/failed: {why}"));
                            st["canary"]["currentStepAnalysisRunStatus"] =
                                json!({ "name": format!("{name}-{hash}-{index}"), "status": "Failed", "message": why });
                            finish(&mut st, spec, canary, &steps, revision);
                            return (st, Some(Duration::ZERO));
                        }
                        Analysis::Inconclusive(why) => {
                            st["canary"]["currentStepAnalysisRunStatus"] = json!({
                                "name": format!("{name}-{hash}-{index}"), "status": "Inconclusive", "message": why });
                            add_pause(&mut st, "InconclusiveAnalysisRun");
                        }
                    }
                }
            } else if step.get("experiment").is_some_and(|e| !e.is_null()) {
                // `rollout/experiment.go` `reconcileExperiments`: the step's Experiment runs for
                // the analysis time, then by its phase: Successful completes the step
                // (`canary.go` `completedCurrentCanaryStep` needs exactly that), Failed aborts
                // ("Experiment analysis phase is error/failed: …"), Inconclusive adds the
                // `InconclusiveExperiment` pause condition on every reconcile it is missing
                // (`CalculatePauseConditions`): a promote that only clears the pause conditions
                // is paused again, as upstream.
                let experiment = format!("{name}-{hash}-{index}");
                st["canary"]["currentExperiment"] = json!(experiment);
                if elapsed < b.analysis_time {
                    soonest(b.analysis_time - elapsed, &mut requeue);
                } else {
                    match &b.analysis {
                        Analysis::Successful => advance = true,
                        Analysis::Failed(why) => {
                            st["abort"] = json!(true);
                            st["_abortReason"] = json!(format!("Experiment analysis phase is error/failed: {why}"));
                            finish(&mut st, spec, canary, &steps, revision);
                            return (st, Some(Duration::ZERO));
                        }
                        Analysis::Inconclusive(_) => {
                            if !conditions.iter().any(|r| r == "InconclusiveExperiment") {
                                add_pause(&mut st, "InconclusiveExperiment");
                            }
                        }
                    }
                }
            } else if elapsed >= b.step_time {
                advance = true; // setWeight & co: replicas (simulated) are where the step wants them
            } else {
                soonest(b.step_time - elapsed, &mut requeue);
            }
            if advance {
                st["currentStepIndex"] = json!(index + 1);
                clear_pause(&mut st);
                if let Some(c) = st["canary"].as_object_mut() {
                    c.remove("currentStepAnalysisRunStatus");
                    c.remove("currentExperiment");
                }
                soonest(Duration::ZERO, &mut requeue);
            }
        }
    } else {
        // Blue-green.
        let bg = spec["strategy"]["blueGreen"].clone();
        let active = st["blueGreen"]["activeSelector"].as_str().unwrap_or_default().to_string();
        if active != hash {
            let elapsed = since_revision.unwrap_or_default();
            if elapsed < b.step_time {
                soonest(b.step_time - elapsed, &mut requeue);
            } else {
                let manual = bg["autoPromotionEnabled"].as_bool() == Some(false);
                let seconds = bg["autoPromotionSeconds"].as_u64().unwrap_or(0);
                let has = reasons(&st).iter().any(|r| r == "BlueGreenPause");
                let controller_pause = st["controllerPause"].as_bool().unwrap_or(false);
                // `CompletedBlueGreenPause`: auto-promotion after autoPromotionSeconds from the
                // pause condition's start (when not disabled).
                let timed_out = !manual
                    && seconds > 0
                    && has
                    && mem
                        .pause_started
                        .get(&name)
                        .is_some_and(|(h, t)| *h == hash && now - *t >= Duration::from_secs(seconds));
                if (!manual && seconds == 0) || timed_out || (controller_pause && !has) {
                    st["blueGreen"]["activeSelector"] = json!(hash);
                    clear_pause(&mut st);
                    soonest(b.step_time, &mut requeue);
                } else if !has {
                    add_pause(&mut st, "BlueGreenPause");
                    mem.pause_started.insert(name.clone(), (hash.clone(), now));
                    if !manual {
                        soonest(Duration::from_secs(seconds), &mut requeue);
                    }
                } else if !manual && let Some((_, t)) = mem.pause_started.get(&name) {
                    soonest(Duration::from_secs(seconds).saturating_sub(now - *t), &mut requeue);
                }
            }
        } else if !fully_promoted {
            promote_stable(&mut st, &hash, false, 0);
        }
    }
    finish(&mut st, spec, canary, &steps, revision);
    (st, requeue)
}

/// When the current (hash, step) started, starting its clock on first sight.
fn step_clock(mem: &mut Memory, name: &str, hash: &str, index: i64, now: Instant) -> Instant {
    let entry = mem.step_started.entry(name.to_string()).or_insert_with(|| (hash.to_string(), index, now));
    if entry.0 != hash || entry.1 != index {
        *entry = (hash.to_string(), index, now);
    }
    entry.2
}

fn duration_of(v: &Json) -> Option<Duration> {
    match v {
        Json::Number(n) => n.as_u64().map(Duration::from_secs),
        Json::String(s) => {
            let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
            let n: u64 = num.parse().ok()?;
            Some(match unit {
                "" | "s" => Duration::from_secs(n),
                "ms" => Duration::from_millis(n),
                "m" => Duration::from_secs(n * 60),
                "h" => Duration::from_secs(n * 3600),
                _ => return None,
            })
        }
        _ => None,
    }
}

fn reasons(st: &Json) -> Vec<String> {
    st["pauseConditions"]
        .as_array()
        .map(|cs| cs.iter().filter_map(|c| c["reason"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn add_pause(st: &mut Json, reason: &str) {
    let mut conditions = st["pauseConditions"].as_array().cloned().unwrap_or_default();
    conditions.push(json!({ "reason": reason, "startTime": now_rfc3339() }));
    st["pauseConditions"] = json!(conditions);
    st["controllerPause"] = json!(true);
}

fn clear_pause(st: &mut Json) {
    remove(st, &["pauseConditions", "controllerPause"]);
}

/// A JSON merge patch from `old` to `new` (RFC 7386), as the controller's two-way merge patch:
/// a field gone at any depth is sent as null, nested objects are patched field by field.
fn merge_patch(old: &Json, new: &Json) -> Json {
    let (Some(before), Some(after)) = (old.as_object(), new.as_object()) else { return new.clone() };
    let mut patch = after.clone();
    for (key, was) in before {
        match after.get(key) {
            None => {
                patch.insert(key.clone(), Json::Null);
            }
            Some(now) if was.is_object() && now.is_object() => {
                patch.insert(key.clone(), merge_patch(was, now));
            }
            Some(_) => {}
        }
    }
    Json::Object(patch)
}

fn remove(st: &mut Json, keys: &[&str]) {
    if let Some(m) = st.as_object_mut() {
        for k in keys {
            m.remove(*k);
        }
    }
}

fn remove_conditions(st: &mut Json) {
    remove(st, &["conditions", "_abortReason"]);
}

/// Sets a condition of `kind`, unless one with the same reason and message is there already.
fn set_condition(st: &mut Json, kind: &str, status: &str, reason: &str, message: &str) {
    let same = |c: &Json| c["type"] == kind && c["reason"] == reason && c["message"] == message;
    if st["conditions"].as_array().is_some_and(|cs| cs.iter().any(same)) {
        return;
    }
    let mut conditions: Vec<Json> =
        st["conditions"].as_array().cloned().unwrap_or_default().into_iter().filter(|c| c["type"] != kind).collect();
    let t = now_rfc3339();
    conditions.push(json!({ "type": kind, "status": status, "reason": reason, "message": message,
                            "lastTransitionTime": t, "lastUpdateTime": t }));
    st["conditions"] = json!(conditions);
}

/// `promoteStable`: the current revision becomes the stable one.
fn promote_stable(st: &mut Json, hash: &str, canary: bool, steps: i64) {
    clear_pause(st);
    remove(st, &["promoteFull", "abort", "abortedAt", "_abortReason"]);
    st["stableRS"] = json!(hash);
    if canary {
        if steps > 0 {
            st["currentStepIndex"] = json!(steps);
        } else {
            remove(st, &["currentStepIndex"]);
        }
    }
}

/// Weights (traffic routing only) and phase/message, from the status just computed.
fn finish(st: &mut Json, spec: &Json, canary: bool, steps: &[Json], revision: usize) {
    let hash = st["currentPodHash"].as_str().unwrap_or_default().to_string();
    let stable = st["stableRS"].as_str().unwrap_or_default().to_string();
    let fully_promoted = !stable.is_empty() && stable == hash;
    let aborted = st["abort"].as_bool().unwrap_or(false);
    // The reason of an abort the controller decided travels into the condition (the real
    // controller keeps it in memory too); `_abortReason` never reaches the API server.
    let reason = st["_abortReason"].as_str().map(str::to_string);
    remove(st, &["_abortReason"]);
    let has_abort_condition =
        st["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["reason"] == "RolloutAborted"));
    if aborted && !has_abort_condition {
        let message = match reason {
            Some(r) => format!("Rollout aborted update to revision {revision}: {r}"),
            None => format!("Rollout aborted update to revision {revision}"),
        };
        set_condition(st, "Progressing", "False", "RolloutAborted", &message);
    }
    if canary && spec["strategy"]["canary"]["trafficRouting"].is_object() {
        let max = spec["strategy"]["canary"]["trafficRouting"]["maxTrafficWeight"].as_i64().unwrap_or(100);
        let index = st["currentStepIndex"].as_i64().unwrap_or(0);
        let weight = if fully_promoted || aborted {
            0
        } else {
            let upto = (index.max(0) as usize).min(steps.len().saturating_sub(1));
            steps.get(..=upto).unwrap_or(&[]).iter().rev().find_map(|s| s["setWeight"].as_i64()).unwrap_or(0)
        };
        st["canary"]["weights"] = json!({
            "canary": { "weight": weight, "podTemplateHash": hash },
            "stable": { "weight": max - weight, "podTemplateHash": stable },
            "verified": true,
        });
    }
    let (phase, message) = phase_of(st, spec, canary);
    st["phase"] = json!(phase);
    // Go's `json:"message,omitempty"`: an empty message is not written.
    if message.is_empty() {
        remove(st, &["message"]);
    } else {
        st["message"] = json!(message);
    }
}

/// `CalculateRolloutPhase` without replica counts.
fn phase_of(st: &Json, spec: &Json, canary: bool) -> (String, String) {
    for c in st["conditions"].as_array().cloned().unwrap_or_default() {
        let reason = c["reason"].as_str().unwrap_or_default();
        if reason == "RolloutAborted" || reason == "ProgressDeadlineExceeded" {
            return ("Degraded".into(), format!("{reason}: {}", c["message"].as_str().unwrap_or_default()));
        }
    }
    if spec["paused"].as_bool().unwrap_or(false) {
        return ("Paused".into(), "manually paused".into());
    }
    if let Some(reason) = reasons(st).first() {
        return ("Paused".into(), reason.clone());
    }
    let hash = st["currentPodHash"].as_str().unwrap_or_default();
    let stable = st["stableRS"].as_str().unwrap_or_default();
    if !canary && st["blueGreen"]["activeSelector"].as_str().unwrap_or_default() != hash {
        return ("Progressing".into(), "active service cutover pending".into());
    }
    if stable.is_empty() || stable != hash {
        let why = if canary {
            "waiting for all steps to complete"
        } else {
            "waiting for post-promotion verification to complete"
        };
        return ("Progressing".into(), why.into());
    }
    ("Healthy".into(), String::new())
}

/// A canary Rollout manifest with these steps (traffic routing: an ALB-style block, so that
/// `status.canary.weights` is written).
pub fn canary(name: &str, steps: Json, traffic_routing: bool) -> Json {
    let mut strategy = json!({ "canary": { "steps": steps, "canaryService": format!("{name}-canary"),
                                           "stableService": format!("{name}-stable") } });
    if traffic_routing {
        strategy["canary"]["trafficRouting"] = json!({ "alb": { "ingress": name, "servicePort": 80 } });
    }
    manifest(name, strategy)
}

/// A blue-green Rollout manifest (`autoPromotionEnabled: false`: the preview waits for a promote).
pub fn blue_green(name: &str) -> Json {
    manifest(
        name,
        json!({ "blueGreen": { "activeService": format!("{name}-active"), "previewService": format!("{name}-preview"),
                               "autoPromotionEnabled": false } }),
    )
}

fn manifest(name: &str, strategy: Json) -> Json {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": { "name": name },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": name } },
            "template": { "metadata": { "labels": { "app": name } },
                          "spec": { "containers": [{ "name": "app", "image": "registry.example/app:1" }] } },
            "strategy": strategy,
        }
    })
}

/// Creates a Rollout from a manifest.
pub async fn create(client: &kube::Client, namespace: &str, manifest: &Json) {
    let obj: DynamicObject = serde_json::from_value(manifest.clone()).expect("Rollout manifest");
    api(client, namespace).create(&PostParams::default(), &obj).await.expect("create Rollout");
}

/// A new revision: changes the pod template's image.
pub async fn set_image(client: &kube::Client, namespace: &str, name: &str, image: &str) {
    let patch = json!({ "spec": { "template": { "spec": { "containers": [{ "name": "app", "image": image }] } } } });
    api(client, namespace).patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("new revision");
}

/// The Rollout as JSON.
pub async fn get(client: &kube::Client, namespace: &str, name: &str) -> Json {
    serde_json::to_value(api(client, namespace).get(name).await.expect("get Rollout")).unwrap()
}

/// Waits (following a watch) until the Rollout satisfies `pred`; after `limit`, an error with
/// the last status seen.
pub async fn wait_for(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    limit: Duration,
    what: &str,
    pred: impl Fn(&Json) -> bool,
) -> Result<Json, String> {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher(api(client, namespace), config).default_backoff().applied_objects().boxed();
    let mut last = Json::Null;
    let found = tokio::time::timeout(limit, async {
        while let Some(Ok(obj)) = stream.next().await {
            last = serde_json::to_value(&obj).unwrap();
            if pred(&last) {
                return Some(last.clone());
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(obj)) => Ok(obj),
        _ => Err(format!(
            "Rollout {namespace}/{name}: {what} not reached within {limit:?}; status: {:#}",
            last["status"]
        )),
    }
}

/// Paused on a canary pause step at `index` (the controller set the condition).
pub fn paused_at(index: i64) -> impl Fn(&Json) -> bool {
    move |r: &Json| {
        r["status"]["currentStepIndex"] == json!(index)
            && r["status"]["pauseConditions"].as_array().is_some_and(|c| !c.is_empty())
            && r["status"]["observedGeneration"].as_str().map(str::to_string)
                == r["metadata"]["generation"].as_i64().map(|g| g.to_string())
    }
}

/// Healthy and fully promoted.
pub fn healthy(r: &Json) -> bool {
    r["status"]["phase"] == "Healthy" && r["status"]["stableRS"] == r["status"]["currentPodHash"]
}
