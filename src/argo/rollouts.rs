//! Argo Rollouts (argoproj.io/v1alpha1 `Rollout`) as the provider reads and promotes them: the
//! phase the way Argo's own tools compute it, the patches its CLI sends, and what a gate should do
//! next. Pure functions over the object's JSON, unit-tested without a cluster.
//!
//! Upstream references (github.com/argoproj/argo-rollouts, commit 9f8d111d of 2026-08-17; Argo CD
//! 37ee0097 for the Rollout health check):
//! - phase: `utils/rollout/rolloututil.go` `GetRolloutPhase`, `isGenerationObserved`,
//!   `IsUnpausing`, `CalculateRolloutPhase`, `IsFullyPromoted`;
//! - promote: `pkg/kubectl-argo-rollouts/cmd/promote/promote.go` `PromoteRollout`, `getPatches`
//!   (JSON merge patches on the `status` subresource, then the spec);
//! - abort: `pkg/kubectl-argo-rollouts/cmd/abort/abort.go` (`{"status":{"abort":true}}`);
//! - the current step and desired weight: `utils/replicaset/canary.go` `GetCurrentCanaryStep`,
//!   `GetCurrentSetWeight`; step names: `rolloututil.go` `CanaryStepString`;
//! - what the controller does with those fields: `rollout/pause.go` (`CompletedCanaryPauseStep`:
//!   `controllerPause` with no `CanaryPauseStep` condition left means "promoted"), `rollout/canary.go`
//!   `syncRolloutStatusCanary` (abort resets `currentStepIndex` to 0; `promoteFull` jumps to the end).

use kube::api::{ApiResource, GroupVersionKind};
use serde_json::{Value as Json, json};

/// The Rollout kind, for `Api<DynamicObject>`.
pub fn api_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"), "rollouts")
}

pub const HEALTHY: &str = "Healthy";
pub const PROGRESSING: &str = "Progressing";
pub const PAUSED: &str = "Paused";
pub const DEGRADED: &str = "Degraded";

/// The pause reasons Argo writes into `status.pauseConditions[].reason`.
pub const CANARY_PAUSE_STEP: &str = "CanaryPauseStep";
pub const BLUE_GREEN_PAUSE: &str = "BlueGreenPause";
pub const INCONCLUSIVE_ANALYSIS: &str = "InconclusiveAnalysisRun";
pub const INCONCLUSIVE_EXPERIMENT: &str = "InconclusiveExperiment";

/// The message of upstream `GetRolloutPhase` while the controller has not seen the latest spec
/// (or, for a `workloadRef` Rollout, the latest workload).
pub const SPEC_UPDATE_PENDING: &str = "waiting for rollout spec update to be observed";
/// The annotation the controller keeps at the referenced workload's generation
/// (`rollout/templateref.go` `updateRolloutsReferenceAnnotation`).
pub const WORKLOAD_GENERATION_ANNOTATION: &str = "rollout.argoproj.io/workload-generation";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    Canary {
        steps: Vec<Json>,
        traffic_routing: bool,
        max_weight: i64,
    },
    /// `autoPromotionEnabled` (default true) and `autoPromotionSeconds` (default 0).
    BlueGreen {
        auto_promotion_enabled: bool,
        auto_promotion_seconds: i64,
    },
    /// Neither strategy set (an invalid spec, or a newer strategy this provider does not know).
    Unknown,
}

impl Strategy {
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Canary { .. } => "canary",
            Strategy::BlueGreen { .. } => "blueGreen",
            Strategy::Unknown => "unknown",
        }
    }
}

/// The fields of a Rollout the gate reads. Missing or null fields read as Go's zero values, as
/// the Go types do.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutView {
    pub namespace: String,
    pub name: String,
    pub generation: Option<i64>,
    pub resource_version: Option<String>,
    pub strategy: Strategy,
    /// `spec.paused` (a manual pause, or `kubectl argo rollouts pause`).
    pub spec_paused: bool,
    pub abort: bool,
    pub pause_reasons: Vec<String>,
    pub controller_pause: bool,
    pub current_step_index: Option<i64>,
    pub stable_rs: String,
    pub current_pod_hash: String,
    pub promote_full: bool,
    /// A string since Argo Rollouts v0.10 (a hash before).
    pub observed_generation: String,
    pub status_phase: String,
    pub status_message: String,
    /// `status.canary.weights.canary.weight` (set only with traffic routing).
    pub routed_canary_weight: Option<i64>,
    /// `status.canary.currentStepAnalysisRunStatus.status`.
    pub step_analysis_status: Option<String>,
    /// (type, reason, message) of `status.conditions`.
    pub conditions: Vec<(String, String, String)>,
    /// `spec.workloadRef` is set: the pod template lives in another object (a Deployment).
    pub workload_ref: bool,
    /// `spec.workloadRef`'s (apiVersion, kind, name).
    pub workload: Option<(String, String, String)>,
    /// The referenced workload's own `metadata.generation`, when the caller read it
    /// ([`RolloutView::with_workload_generation`]).
    pub workload_live_generation: Option<i64>,
    /// The `rollout.argoproj.io/workload-generation` annotation.
    pub workload_generation: Option<i64>,
    /// `status.workloadObservedGeneration` (a string, as observedGeneration).
    pub workload_observed_generation: Option<i64>,
    /// The inconclusive (or otherwise) analysis runs and experiment the status names:
    /// (what, name, status, message).
    pub analyses: Vec<(String, String, String, String)>,
}

fn text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

impl RolloutView {
    /// Reads a Rollout as the API returns it (`metadata`, `spec`, `status`).
    pub fn from_json(obj: &Json) -> RolloutView {
        let meta = &obj["metadata"];
        let spec = &obj["spec"];
        let status = &obj["status"];
        let strategy = if spec["strategy"]["canary"].is_object() {
            let canary = &spec["strategy"]["canary"];
            let routing = &canary["trafficRouting"];
            Strategy::Canary {
                steps: canary["steps"].as_array().cloned().unwrap_or_default(),
                traffic_routing: routing.is_object(),
                // `weightutil.MaxTrafficWeight`: trafficRouting.maxTrafficWeight, default 100.
                max_weight: routing["maxTrafficWeight"].as_i64().unwrap_or(100),
            }
        } else if spec["strategy"]["blueGreen"].is_object() {
            let bg = &spec["strategy"]["blueGreen"];
            Strategy::BlueGreen {
                auto_promotion_enabled: bg["autoPromotionEnabled"].as_bool().unwrap_or(true),
                auto_promotion_seconds: bg["autoPromotionSeconds"].as_i64().unwrap_or(0),
            }
        } else {
            Strategy::Unknown
        };
        let conditions = status["conditions"]
            .as_array()
            .map(|cs| cs.iter().map(|c| (text(&c["type"]), text(&c["reason"]), text(&c["message"]))).collect())
            .unwrap_or_default();
        // Lua's `tonumber`: a number or a numeric string.
        let number = |v: &Json| v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
        let mut analyses = Vec::new();
        for (what, run) in [
            ("step analysis", &status["canary"]["currentStepAnalysisRunStatus"]),
            ("background analysis", &status["canary"]["currentBackgroundAnalysisRunStatus"]),
            ("pre-promotion analysis", &status["blueGreen"]["prePromotionAnalysisRunStatus"]),
            ("post-promotion analysis", &status["blueGreen"]["postPromotionAnalysisRunStatus"]),
        ] {
            if run.is_object() {
                analyses.push((what.into(), text(&run["name"]), text(&run["status"]), text(&run["message"])));
            }
        }
        if let Some(name) = status["canary"]["currentExperiment"].as_str() {
            analyses.push(("experiment".into(), name.into(), String::new(), String::new()));
        }
        RolloutView {
            workload_ref: spec["workloadRef"].is_object(),
            workload: spec["workloadRef"].is_object().then(|| {
                let r = &spec["workloadRef"];
                (text(&r["apiVersion"]), text(&r["kind"]), text(&r["name"]))
            }),
            workload_live_generation: None,
            workload_generation: number(&meta["annotations"][WORKLOAD_GENERATION_ANNOTATION]),
            workload_observed_generation: number(&status["workloadObservedGeneration"]),
            analyses,
            namespace: text(&meta["namespace"]),
            name: text(&meta["name"]),
            generation: meta["generation"].as_i64(),
            resource_version: meta["resourceVersion"].as_str().map(str::to_string),
            strategy,
            spec_paused: spec["paused"].as_bool().unwrap_or(false),
            abort: status["abort"].as_bool().unwrap_or(false),
            pause_reasons: status["pauseConditions"]
                .as_array()
                .map(|cs| cs.iter().map(|c| text(&c["reason"])).collect())
                .unwrap_or_default(),
            controller_pause: status["controllerPause"].as_bool().unwrap_or(false),
            current_step_index: status["currentStepIndex"].as_i64(),
            stable_rs: text(&status["stableRS"]),
            current_pod_hash: text(&status["currentPodHash"]),
            promote_full: status["promoteFull"].as_bool().unwrap_or(false),
            observed_generation: text(&status["observedGeneration"]),
            status_phase: text(&status["phase"]),
            status_message: text(&status["message"]),
            routed_canary_weight: status["canary"]["weights"]["canary"]["weight"].as_i64(),
            step_analysis_status: status["canary"]["currentStepAnalysisRunStatus"]["status"]
                .as_str()
                .map(str::to_string),
            conditions,
        }
    }

    pub fn is_canary(&self) -> bool {
        matches!(self.strategy, Strategy::Canary { .. })
    }

    fn steps(&self) -> &[Json] {
        match &self.strategy {
            Strategy::Canary { steps, .. } => steps,
            _ => &[],
        }
    }

    /// Upstream `isGenerationObserved`: an unparsable observedGeneration (v0.9 hash) counts as
    /// observed, and so does one ahead of metadata.generation.
    pub fn generation_observed(&self) -> bool {
        let Ok(observed) = self.observed_generation.parse::<i64>() else { return true };
        let generation = self.generation.unwrap_or(0);
        observed >= generation
    }

    /// Argo CD's Rollout health check (`resource_customizations/argoproj.io/Rollout/health.lua`
    /// `isWorkloadGenerationObserved`; upstream `rolloututil.go` `isWorkloadGenerationObserved`
    /// does the same on the resolved object): for a `workloadRef` Rollout, the controller has
    /// seen the workload's latest generation. The controller bumps the annotation (a metadata
    /// patch, no generation change) when the workload changes, and copies it into
    /// `status.workloadObservedGeneration` when it persists the status for it
    /// (`rollout/sync.go` `persistRolloutStatus`). A missing side counts as observed, as in Go.
    ///
    /// The annotation lags the workload itself (the controller patches it after its informer saw
    /// the change): when the caller read the workload's own generation, a status that has not
    /// caught up with it is not observed either.
    pub fn workload_generation_observed(&self) -> bool {
        if !self.workload_ref {
            return true;
        }
        let annotated = match (self.workload_generation, self.workload_observed_generation) {
            (Some(wanted), Some(seen)) => wanted == seen,
            _ => true,
        };
        let live = match (self.workload_live_generation, self.workload_observed_generation) {
            (Some(live), Some(seen)) => seen >= live,
            _ => true,
        };
        annotated && live
    }

    /// This view with the referenced workload's own `metadata.generation`.
    pub fn with_workload_generation(mut self, generation: Option<i64>) -> RolloutView {
        self.workload_live_generation = generation;
        self
    }

    /// The status describes the latest spec (and workload): upstream `GetRolloutPhase`'s first
    /// and third checks. Until then abort, Degraded, steps and pauses are the old spec's.
    pub fn spec_observed(&self) -> bool {
        self.generation_observed() && self.workload_generation_observed()
    }

    /// Upstream `IsUnpausing`: someone cleared the pause conditions (a promote) and the
    /// controller has not reacted yet.
    pub fn unpausing(&self) -> bool {
        self.controller_pause && self.pause_reasons.is_empty()
    }

    /// Upstream `IsFullyPromoted` (stableRS == currentPodHash), but not for a Rollout the
    /// controller has not yet reconciled at all (both empty).
    pub fn fully_promoted(&self) -> bool {
        !self.stable_rs.is_empty() && self.stable_rs == self.current_pod_hash
    }

    /// Upstream `GetRolloutPhase`: (phase, message).
    pub fn phase(&self) -> (String, String) {
        if !self.generation_observed() {
            return (PROGRESSING.into(), SPEC_UPDATE_PENDING.into());
        }
        if self.unpausing() {
            return (PROGRESSING.into(), "waiting for rollout to unpause".into());
        }
        if !self.workload_generation_observed() {
            // `GetRolloutPhase`: "...observed for the reference workload"; Argo CD's health.lua
            // says the same as for the spec.
            return (PROGRESSING.into(), SPEC_UPDATE_PENDING.into());
        }
        if !self.status_phase.is_empty() {
            return (self.status_phase.clone(), self.status_message.clone());
        }
        self.calculate_phase()
    }

    /// The part of upstream `CalculateRolloutPhase` that needs no ReplicaSet counts (controllers
    /// before v1.0 left status.phase empty; every later one writes it).
    fn calculate_phase(&self) -> (String, String) {
        for (kind, reason, message) in &self.conditions {
            if kind == "InvalidSpec" {
                return (DEGRADED.into(), format!("InvalidSpec: {message}"));
            }
            if reason == "RolloutAborted" || reason == "ProgressDeadlineExceeded" {
                return (DEGRADED.into(), format!("{reason}: {message}"));
            }
        }
        if self.spec_paused {
            return (PAUSED.into(), "manually paused".into());
        }
        if let Some(reason) = self.pause_reasons.first() {
            return (PAUSED.into(), reason.clone());
        }
        if !self.fully_promoted() {
            let why =
                if self.is_canary() { "waiting for all steps to complete" } else { "active service cutover pending" };
            return (PROGRESSING.into(), why.into());
        }
        (HEALTHY.into(), String::new())
    }

    /// Number of canary steps (None for blue-green).
    pub fn step_count(&self) -> Option<i64> {
        self.is_canary().then(|| self.steps().len() as i64)
    }

    /// Upstream `GetCurrentCanaryStep`'s index: status.currentStepIndex, 0 when unset (None for
    /// blue-green).
    pub fn current_step(&self) -> Option<i64> {
        self.is_canary().then(|| self.current_step_index.unwrap_or(0))
    }

    /// The step the Rollout is on, if it is on one (None past the last step).
    pub fn current_step_spec(&self) -> Option<&Json> {
        let i = self.current_step()?;
        self.steps().get(usize::try_from(i).ok()?)
    }

    /// The canary's share of traffic as `kubectl argo rollouts get` shows it (upstream
    /// `info/rollout_info.go`, `GetCurrentSetWeight`): 0 once aborted, the maximum past the last
    /// step, else the routed weight when traffic routing reports one, else the last setWeight at
    /// or before the current step. None for blue-green.
    pub fn canary_weight(&self) -> Option<i64> {
        let Strategy::Canary { steps, max_weight, .. } = &self.strategy else { return None };
        if self.abort {
            return Some(0);
        }
        let index = self.current_step().unwrap_or(0);
        if steps.is_empty() || index >= steps.len() as i64 {
            return Some(*max_weight);
        }
        if let Some(w) = self.routed_canary_weight {
            return Some(w);
        }
        let upto = usize::try_from(index).unwrap_or(0);
        Some(steps[..=upto].iter().rev().find_map(|s| s["setWeight"].as_i64()).unwrap_or(0))
    }

    /// "step 1 of 4 (pause)", "step 4 of 4 (done)".
    pub fn step_text(&self) -> Option<String> {
        let (i, n) = (self.current_step()?, self.step_count()?);
        let what = self.current_step_spec().map(step_string).unwrap_or_else(|| "all steps done".into());
        Some(format!("step {i} of {n} ({what})"))
    }

    /// What a timeout or failure message says about where the Rollout is.
    pub fn describe(&self) -> String {
        let (phase, message) = self.phase();
        let mut out = match self.step_text() {
            Some(step) => format!("{step}, phase {phase}"),
            None => format!("phase {phase}"),
        };
        if !message.is_empty() {
            out.push_str(&format!(" ({message})"));
        }
        if self.abort {
            out.push_str(", aborted");
        }
        out
    }

    /// The patches `kubectl argo rollouts promote NAME` sends for this object (upstream
    /// `getPatches`, default branch): `spec.paused=false` if the spec is paused; on the status,
    /// clear the pause conditions, or (inconclusive step analysis with controllerPause) clear
    /// them and controllerPause and advance the step, or (canary with no pause conditions)
    /// advance the step. Clearing conditions and advancing the index never happen together
    /// except for the inconclusive analysis.
    pub fn promote_patches(&self) -> Patches {
        let spec = self.spec_paused.then(|| json!({ "spec": { "paused": false } }));
        let next = || {
            let i = self.current_step().unwrap_or(0);
            if i < self.steps().len() as i64 { i + 1 } else { i }
        };
        // An inconclusive step analysis: the CLI's own patch (promote.go `getPatches`, default
        // case with `isInconclusive`) clears the pauses and controllerPause and moves to the
        // next step. An inconclusive experiment gets the same: the CLI's plain promote only
        // clears the pause conditions, and the controller adds `InconclusiveExperiment` again
        // on the next reconcile (experiment.go `reconcileExperiments`; the step completes only
        // on a Successful experiment, canary.go `completedCurrentCanaryStep`), so only moving
        // the index past the step (what `promote --skip-current-step` sent) promotes through it.
        let inconclusive = self.is_canary()
            && (self.step_analysis_status.as_deref() == Some("Inconclusive")
                || self.pause_reasons.iter().any(|r| r == INCONCLUSIVE_EXPERIMENT));
        let status = if inconclusive && !self.pause_reasons.is_empty() && self.controller_pause {
            Some(json!({ "status": { "pauseConditions": null, "controllerPause": false, "currentStepIndex": next() } }))
        } else if !self.pause_reasons.is_empty() {
            Some(json!({ "status": { "pauseConditions": null } }))
        } else if self.is_canary() && !self.steps().is_empty() {
            Some(json!({ "status": { "pauseConditions": null, "currentStepIndex": next() } }))
        } else {
            None
        };
        Patches { spec, status }
    }

    /// `kubectl argo rollouts promote --full`: `spec.paused=false` if paused, and
    /// `status.promoteFull=true` when currentPodHash != stableRS.
    pub fn promote_full_patches(&self) -> Patches {
        Patches {
            spec: self.spec_paused.then(|| json!({ "spec": { "paused": false } })),
            status: (self.current_pod_hash != self.stable_rs).then(|| json!({ "status": { "promoteFull": true } })),
        }
    }
}

/// `kubectl argo rollouts abort NAME`.
pub fn abort_patch() -> Json {
    json!({ "status": { "abort": true } })
}

/// `kubectl argo rollouts retry rollout NAME` (`cmd/retry/retry.go` `retryRolloutPatch`, on the
/// status subresource).
pub fn retry_patch() -> Json {
    json!({ "status": { "abort": false } })
}

/// Upstream `CanaryStepString`.
pub fn step_string(step: &Json) -> String {
    if let Some(w) = step["setWeight"].as_i64() {
        return format!("setWeight: {w}");
    }
    if step.get("pause").is_some_and(|p| !p.is_null()) {
        return match &step["pause"]["duration"] {
            Json::Null => "pause".into(),
            d => format!("pause: {}", text(d)),
        };
    }
    for kind in ["experiment", "analysis", "setCanaryScale", "plugin", "setHeaderRoute", "setMirrorRoute"] {
        if step.get(kind).is_some_and(|v| !v.is_null()) {
            return kind.into();
        }
    }
    "invalid".into()
}

fn is_pause_step(step: Option<&Json>) -> bool {
    step.is_some_and(|s| s.get("pause").is_some_and(|p| !p.is_null()))
}

/// Merge patches for the status subresource and the main resource (either may be absent).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Patches {
    pub spec: Option<Json>,
    pub status: Option<Json>,
}

impl Patches {
    pub fn is_empty(&self) -> bool {
        self.spec.is_none() && self.status.is_none()
    }
}

/// What the gate waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Canary: promote through pauses until status.currentStepIndex >= N.
    Step(i64),
    /// Canary: `promote --full`; blue-green: promote the preview to active. Then Healthy.
    Full,
    /// Promote nothing: wait until Healthy and fully promoted.
    Healthy,
    /// Canary: promote until the canary's weight is at least W percent: the first `setWeight`
    /// step of W or more has completed (resolved to a `Step` against the Rollout's steps).
    Weight(i64),
}

/// The step target a weight target means on this Rollout: `Step(i + 1)` for the first
/// `setWeight` step `i` of at least `w` percent (that step completed, as `promote_to_step`
/// counts), or why none fits. Other targets are returned as they are.
pub fn resolve(view: &RolloutView, target: Target) -> Result<Target, String> {
    let Target::Weight(w) = target else { return Ok(target) };
    let key = format!("{}/{}", view.namespace, view.name);
    let Strategy::Canary { steps, .. } = &view.strategy else {
        return Err(format!("{key} is not a canary: promote_to_weight needs canary setWeight steps"));
    };
    match steps.iter().position(|s| s["setWeight"].as_i64().is_some_and(|sw| sw >= w)) {
        Some(i) => Ok(Target::Step(i as i64 + 1)),
        None => {
            let weights: Vec<String> =
                steps.iter().filter_map(|s| s["setWeight"].as_i64()).map(|sw| format!("{sw}")).collect();
            Err(format!(
                "{key} has no setWeight step of {w} or more (its setWeight steps: {}): lower promote_to_weight, or use \
                 promote_full",
                if weights.is_empty() { "none".to_string() } else { weights.join(", ") }
            ))
        }
    }
}

impl Target {
    pub fn describe(&self) -> String {
        match self {
            Target::Step(n) => format!("step {n}"),
            Target::Full => "full promotion (Healthy, fully promoted)".into(),
            Target::Healthy => "Healthy and fully promoted".into(),
            Target::Weight(w) => format!("canary weight {w}%"),
        }
    }
}

/// The problem with `target` for a Rollout of this strategy (by name: `canary`, `blueGreen`,
/// `unknown`) and canary step count, if any. Checked at plan time from the refreshed state or
/// one read, and again at apply on every state the watch brings.
pub fn target_problem(key: &str, strategy: &str, step_count: Option<i64>, target: Target) -> Option<String> {
    match (target, strategy) {
        (Target::Weight(_), "blueGreen") => Some(format!(
            "{key} uses the blueGreen strategy, which has no setWeight steps: use promote_full to promote the preview \
             to active"
        )),
        (Target::Step(_), "blueGreen") => Some(format!(
            "{key} uses the blueGreen strategy, which has no steps: use promote_full to promote the preview to active"
        )),
        (Target::Step(n), "canary") => step_count.filter(|count| n > *count).map(|count| {
            format!("{key} has {count} canary step(s) (indexes 0..{count}): promote_to_step can be at most {count}")
        }),
        (_, "unknown") => Some(format!("{key} has neither a canary nor a blueGreen strategy in its spec")),
        _ => None,
    }
}

/// Whether this state holds the target (the refreshed state's notion of "progress reached").
///
/// `Step(n)`: steps `0..n` have completed. Upstream completes step `i` by advancing
/// `currentStepIndex` past it in the same status patch (`rollout/canary.go`
/// `syncRolloutStatusCanary` after `completedCurrentCanaryStep`), so step `n-1` is done exactly
/// when `currentStepIndex > n-1`, i.e. `>= n`. The last step done (`n = step_count`) is not the
/// end: the controller then promotes the revision to stable once it is available
/// (`rollout/sync.go` `shouldFullPromote`, "Completed all N canary steps", then `promoteStable`),
/// so `n = step_count` holds only once `stableRS == currentPodHash` (`IsFullyPromoted`).
/// Nothing holds while the status is the previous spec's (`spec_observed`).
pub fn holds(view: &RolloutView, target: Target) -> bool {
    if view.abort || !view.spec_observed() {
        return false;
    }
    let Ok(target) = resolve(view, target) else { return false };
    match target {
        Target::Step(n) => {
            let done = view.current_step().is_some_and(|i| i >= n);
            let last = view.step_count().is_some_and(|count| n >= count);
            done && (!last || view.fully_promoted())
        }
        Target::Full | Target::Healthy => view.phase().0 == HEALTHY && view.fully_promoted(),
        Target::Weight(_) => false,
    }
}

/// The weight a `promote_to_weight = w` gate has reached: `w` once held, else the canary's
/// weight now, below `w` (as `step_reached`, so the plan shows a diff).
pub fn weight_reached(view: &RolloutView, w: i64) -> i64 {
    if holds(view, Target::Weight(w)) {
        return w;
    }
    view.canary_weight().unwrap_or(0).min(w - 1).max(0)
}

/// The step a `promote_to_step = target` gate has reached: the target once held, else the step
/// the Rollout is on, below the target (an aborted canary is back at 0, as Argo's controller
/// resets it; a status not yet describing the latest spec is at most one below the target, so
/// the plan shows a diff).
pub fn step_reached(view: &RolloutView, target: i64) -> i64 {
    if holds(view, Target::Step(target)) {
        return target;
    }
    if view.abort {
        return 0;
    }
    view.current_step().unwrap_or(0).min(target - 1).max(0)
}

/// What the gate may do beyond the CLI's plain promote, and what it promised at plan time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// The revision (`status.currentPodHash`) this apply promotes; any other one stops it.
    pub revision: Option<String>,
    /// Promote through `InconclusiveAnalysisRun` / `InconclusiveExperiment` pauses.
    pub promote_inconclusive: bool,
    /// Lift an operator's `spec.paused`.
    pub lift_manual_pause: bool,
    /// Retry an aborted Rollout (of the planned revision) once, as `kubectl argo rollouts retry`.
    pub retry_aborted: bool,
}

/// What the gate does about one observed state of the Rollout.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Reached,
    /// Send these patches (status first, as the CLI does), then keep watching.
    Promote(Patches),
    /// The Rollout is Degraded or aborted (`aborted`: status.abort is already set).
    Failed {
        aborted: bool,
        message: String,
    },
    /// The gate stops without touching the Rollout: a person has to decide (an inconclusive
    /// analysis, an operator's pause) or review (a revision other than the one planned for).
    Blocked {
        summary: String,
        message: String,
    },
    /// The target does not fit the Rollout (steps on blue-green, past the last step).
    Impossible(String),
    /// Not yet; why.
    Wait(String),
}

/// Pause reasons that need a person: upstream `rollout/pause.go` `requiresManualAction` returns
/// true for both inconclusive reasons whatever the step, and `haltProgress`
/// (`rollout/context.go`) stops scaling on an inconclusive analysis.
fn inconclusive(reason: &str) -> bool {
    reason == INCONCLUSIVE_ANALYSIS || reason == INCONCLUSIVE_EXPERIMENT
}

/// The timed pause the Rollout is in, if it is in one the controller ends by itself: a
/// `CanaryPauseStep` at a step with `pause.duration` (`rollout/pause.go`
/// `CompletedCanaryPauseStep`: expired once `startTime + duration` has passed; the controller
/// requeues itself for then, `checkEnqueueRolloutDuringWait`), or a `BlueGreenPause` with
/// `autoPromotionSeconds > 0` and auto-promotion not disabled (`CompletedBlueGreenPause`,
/// `bluegreen.go` `needsBlueGreenControllerPause`). `requiresManualAction` is false for both.
pub fn timed_pause(view: &RolloutView) -> Option<String> {
    if view.pause_reasons.is_empty() {
        return None;
    }
    timer(view, |want| view.pause_reasons.iter().all(|r| r == want))
}

/// A timed pause that stands beside another pause reason (an inconclusive analysis): the same
/// timers as [`timed_pause`], which a promote would cut short by clearing every condition.
pub fn timed_pause_among_others(view: &RolloutView) -> Option<String> {
    timer(view, |want| view.pause_reasons.iter().any(|r| r == want))
}

/// The timer of [`timed_pause`] when the pause reasons pass `reasons` for its pause reason.
fn timer(view: &RolloutView, reasons: impl Fn(&str) -> bool) -> Option<String> {
    match &view.strategy {
        Strategy::Canary { .. } if reasons(CANARY_PAUSE_STEP) => {
            let duration = &view.current_step_spec()?["pause"]["duration"];
            (!duration.is_null()).then(|| format!("a timed pause ({}) the controller ends by itself", text(duration)))
        }
        Strategy::BlueGreen { auto_promotion_enabled: true, auto_promotion_seconds }
            if *auto_promotion_seconds > 0 && reasons(BLUE_GREEN_PAUSE) =>
        {
            Some(format!("autoPromotionSeconds: {auto_promotion_seconds}, which the controller ends by itself"))
        }
        _ => None,
    }
}

/// Names the inconclusive analysis or experiment for a message.
fn inconclusive_detail(view: &RolloutView) -> String {
    let reasons: Vec<&str> = view.pause_reasons.iter().map(String::as_str).filter(|r| inconclusive(r)).collect();
    let mut out = format!("paused with {}", reasons.join(", "));
    let runs: Vec<String> = view
        .analyses
        .iter()
        .filter(|(what, _, status, _)| {
            status == "Inconclusive" || (what == "experiment" && reasons.contains(&INCONCLUSIVE_EXPERIMENT))
        })
        .map(
            |(what, name, _, message)| {
                if message.is_empty() { format!("{what} {name}") } else { format!("{what} {name}: {message}") }
            },
        )
        .collect();
    if !runs.is_empty() {
        out.push_str(&format!(" ({})", runs.join("; ")));
    }
    out
}

/// The gate's next move. Waits while the status is the previous spec's; stops on a revision
/// other than the one planned for; fails fast on an aborted or Degraded Rollout; promotes only a
/// Rollout paused below the target at a pause that needs a promote (one promote per pause,
/// never past the target, never skipping a step that is not a pause, never a timed pause,
/// an inconclusive analysis or an operator's pause unless the policy says so); otherwise waits
/// for the controller.
pub fn decide(view: &RolloutView, target: Target, policy: &Policy) -> Decision {
    let key = format!("{}/{}", view.namespace, view.name);
    // Upstream `GetRolloutPhase` (and Argo CD's health.lua) say "waiting for rollout spec update
    // to be observed" before looking at anything else. The controller clears `abort` and the
    // pauses on a new template in the same status patch that records the generation
    // (`rollout/sync.go` `resetRolloutStatus` → `persistRolloutStatus`), so until then an abort,
    // a Degraded phase or a step index is stale.
    if !view.spec_observed() {
        return Decision::Wait(view.describe());
    }
    if let Some(planned) = &policy.revision
        && !view.current_pod_hash.is_empty()
        && *planned != view.current_pod_hash
    {
        // A new template restarts the rollout (`resetRolloutStatus`: index 0, pauses cleared);
        // the gate promotes only the revision it was planned (or started) for.
        return Decision::Blocked {
            summary: "New revision during the apply".into(),
            message: format!(
                "Rollout {key} is now rolling out revision {} (status.currentPodHash), not revision {planned} that \
                 this apply was planned for: the gate does not promote a revision nobody reviewed. Nothing was \
                 promoted or aborted for {}. Review it, then plan and apply again.",
                view.current_pod_hash, view.current_pod_hash
            ),
        };
    }
    let (phase, message) = view.phase();
    if view.abort {
        if policy.retry_aborted && target != Target::Healthy && !view.fully_promoted() {
            // The controller takes it up again from step 0 (`rollout/sync.go`
            // `checkPausedConditions`: RolloutRetry; `canary.go` restarts the steps).
            return Decision::Promote(Patches { spec: None, status: Some(retry_patch()) });
        }
        let message = if message.is_empty() { "the rollout was aborted".to_string() } else { message };
        return Decision::Failed { aborted: true, message };
    }
    if phase == DEGRADED {
        // After `kubectl argo rollouts retry` (`{"status":{"abort":false}}`) the phase stays
        // "Degraded / RolloutAborted" until the controller replaces the condition with
        // `RolloutRetry` (`rollout/sync.go` `checkPausedConditions`): stale, not a failure.
        if message.starts_with("RolloutAborted") {
            return Decision::Wait(format!("{} (retried; waiting for the controller)", view.describe()));
        }
        return Decision::Failed { aborted: false, message };
    }
    if let Some(problem) = target_problem(&key, view.strategy.name(), view.step_count(), target) {
        return Decision::Impossible(problem);
    }
    let target = match resolve(view, target) {
        Ok(t) => t,
        Err(problem) => return Decision::Impossible(problem),
    };
    if holds(view, target) {
        return Decision::Reached;
    }
    if target == Target::Healthy {
        // A pure gate promotes nothing and lifts nothing: pauses are someone else's to end.
        return Decision::Wait(view.describe());
    }
    if view.spec_paused && !policy.lift_manual_pause {
        // `kubectl argo rollouts pause` (`{"spec":{"paused":true}}`): an operator stopped it,
        // and `haltProgress` keeps it stopped. `promote` would lift it (and, on a canary with no
        // pause condition, skip the current step).
        return Decision::Blocked {
            summary: "Rollout paused by hand".into(),
            message: format!(
                "Rollout {key} is paused by hand (spec.paused: true, as `kubectl argo rollouts pause` sets it) at {}: \
                 the gate does not lift an operator's pause. Resume it yourself, or set lift_manual_pause = true.",
                view.describe()
            ),
        };
    }
    if view.pause_reasons.iter().any(|r| inconclusive(r)) && !policy.promote_inconclusive {
        return Decision::Blocked {
            summary: "Inconclusive analysis needs a person".into(),
            message: format!(
                "Rollout {key} is {} at {}: Argo Rollouts waits for a person here (requiresManualAction). The gate does \
                 not promote through it by default: look at the analysis, then promote or abort it yourself, or set \
                 promote_inconclusive = true.",
                inconclusive_detail(view),
                view.describe()
            ),
        };
    }
    match target {
        Target::Step(n) => {
            let i = view.current_step().unwrap_or(0);
            if i >= n {
                // Every step up to the target is done; the controller promotes to stable.
                return Decision::Wait(view.describe());
            }
            if view.unpausing() {
                // Our promote is written; the controller has not moved yet. A still-paused spec
                // (the spec patch did not land) would keep it from moving: unpause it.
                return if view.spec_paused {
                    Decision::Promote(Patches { spec: Some(json!({ "spec": { "paused": false } })), status: None })
                } else {
                    Decision::Wait(view.describe())
                };
            }
            if let Some(timed) = timed_pause(view) {
                if view.spec_paused {
                    return Decision::Promote(Patches {
                        spec: Some(json!({ "spec": { "paused": false } })),
                        status: None,
                    });
                }
                return Decision::Wait(format!("{}: {timed}", view.describe()));
            }
            if let Some(timed) = timed_pause_among_others(view) {
                // A timed pause and an inconclusive analysis at once: the promote (the CLI's
                // `pauseConditions: null`) would clear the timed pause too. Its clock first.
                return Decision::Wait(format!("{}: {timed}; the rest is promoted after it", view.describe()));
            }
            if !view.pause_reasons.is_empty() {
                return Decision::Promote(view.promote_patches());
            }
            if view.spec_paused {
                // Paused by hand with no pause condition (and the policy lets the gate lift it):
                // the CLI would also advance the step, which passes an indefinite pause step but
                // would skip any other (analysis, setWeight, a timed pause). The gate advances
                // only past an indefinite pause step; elsewhere it only unpauses.
                let indefinite = view
                    .current_step_spec()
                    .is_some_and(|s| is_pause_step(Some(s)) && s["pause"]["duration"].is_null());
                return if indefinite {
                    Decision::Promote(view.promote_patches())
                } else {
                    Decision::Promote(Patches { spec: Some(json!({ "spec": { "paused": false } })), status: None })
                };
            }
            Decision::Wait(view.describe())
        }
        // (A weight target was resolved to its step above.)
        Target::Healthy | Target::Weight(_) => Decision::Wait(view.describe()),
        Target::Full => {
            // `kubectl argo rollouts promote --full` on either strategy (promote.go `getPatches`,
            // case full): unpause the spec, and `status.promoteFull` while currentPodHash !=
            // stableRS. The controller then skips the remaining steps, pauses and analysis
            // (canary: `syncRolloutStatusCanary`; blue-green: `isBlueGreenFastTracked` skips the
            // BlueGreenPause and `syncRolloutStatusBlueGreen` clears the pause conditions;
            // analysis.go cancels running analysis on promoteFull).
            let patches = view.promote_full_patches();
            // promoteFull already requested and not yet acted on: nothing more to send.
            let patches = Patches { status: patches.status.filter(|_| !view.promote_full), ..patches };
            if patches.is_empty() { Decision::Wait(view.describe()) } else { Decision::Promote(patches) }
        }
    }
}

/// Whether the gate may abort the Rollout in this state after a failure or a timeout, or why
/// not. The gate aborts only what it meant to promote: never for a pure gate, never a revision
/// other than the one planned for, never an aborted one, and never a Rollout that is only parked
/// at a pause (waiting for a person or a clock is not a failure). Sent with the state's
/// resourceVersion as a precondition ([`with_precondition`]), so the verdict holds for the
/// object the patch reaches.
pub fn abort_verdict(view: &RolloutView, target: Target, policy: &Policy) -> Result<(), String> {
    if target == Target::Healthy {
        return Err("a gate with no target never aborts (it promotes nothing)".into());
    }
    if view.abort {
        return Err("it is already aborted".into());
    }
    if !view.spec_observed() {
        return Err("its latest spec is not observed yet (a new revision may be starting)".into());
    }
    match &policy.revision {
        Some(planned) if *planned == view.current_pod_hash => {}
        Some(planned) => {
            return Err(format!(
                "it is rolling out revision {}, not revision {planned} that the gate was promoting",
                view.current_pod_hash
            ));
        }
        // The gate never saw (and so never promoted) the revision there now.
        None => return Err(format!("the gate never saw revision {} with its spec observed", view.current_pod_hash)),
    }
    if view.fully_promoted() {
        return Err("the revision is already stable".into());
    }
    if view.spec_paused {
        return Err("it is paused by hand (spec.paused): an operator holds it".into());
    }
    if let Some(reason) = view.pause_reasons.first() {
        return Err(format!("it is parked at a pause ({reason}), which is not a failure"));
    }
    Ok(())
}

/// A status or spec patch carrying `metadata.resourceVersion`: the API server applies it only to
/// that version of the object (409 Conflict otherwise), so a decision taken on a stale event
/// never clears a pause the controller set after it.
pub fn with_precondition(patch: &Json, resource_version: Option<&str>) -> Json {
    let mut out = patch.clone();
    if let (Some(rv), Some(obj)) = (resource_version, out.as_object_mut()) {
        obj.insert("metadata".into(), json!({ "resourceVersion": rv }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canary(steps: Json, status: Json) -> RolloutView {
        RolloutView::from_json(&json!({
            "metadata": { "name": "api", "namespace": "app", "generation": 2, "resourceVersion": "7" },
            "spec": { "strategy": { "canary": { "steps": steps } } },
            "status": status,
        }))
    }

    fn steps() -> Json {
        json!([{ "setWeight": 0 }, { "pause": {} }, { "setWeight": 20 }, { "pause": {} }, { "setWeight": 50 }])
    }

    fn paused_at(i: i64) -> Json {
        json!({ "observedGeneration": "2", "currentStepIndex": i, "controllerPause": true,
                "pauseConditions": [{ "reason": "CanaryPauseStep", "startTime": "2026-11-22T10:00:00Z" }],
                "stableRS": "aaa", "currentPodHash": "bbb", "phase": "Paused", "message": "CanaryPauseStep" })
    }

    #[test]
    fn phase_follows_get_rollout_phase() {
        let mut s = paused_at(1);
        assert_eq!(canary(steps(), s.clone()).phase(), (PAUSED.into(), "CanaryPauseStep".into()));
        s["observedGeneration"] = json!("1");
        assert_eq!(canary(steps(), s.clone()).phase().0, PROGRESSING, "generation not observed");
        s["observedGeneration"] = json!("2");
        s["pauseConditions"] = Json::Null;
        assert_eq!(canary(steps(), s).phase(), (PROGRESSING.into(), "waiting for rollout to unpause".into()));
        // v0.9 hash in observedGeneration counts as observed.
        let v = canary(steps(), json!({ "observedGeneration": "7d9f8c", "phase": "Healthy" }));
        assert!(v.generation_observed());
    }

    #[test]
    fn promote_sends_what_the_cli_sends() {
        let v = canary(steps(), paused_at(1));
        assert_eq!(
            v.promote_patches(),
            Patches { spec: None, status: Some(json!({"status":{"pauseConditions":null}})) }
        );
        let mut s = paused_at(1);
        s["pauseConditions"] = Json::Null;
        s["controllerPause"] = json!(false);
        let v = canary(steps(), s);
        assert_eq!(v.promote_patches().status, Some(json!({"status":{"pauseConditions":null,"currentStepIndex":2}})));
        let mut s = paused_at(2);
        s["canary"] = json!({ "currentStepAnalysisRunStatus": { "status": "Inconclusive" } });
        s["pauseConditions"] = json!([{ "reason": "InconclusiveAnalysisRun" }]);
        assert_eq!(
            canary(steps(), s).promote_patches().status,
            Some(json!({"status":{"pauseConditions":null,"controllerPause":false,"currentStepIndex":3}}))
        );
        let full = canary(steps(), paused_at(1)).promote_full_patches();
        assert_eq!(full.status, Some(json!({"status":{"promoteFull":true}})));
    }

    #[test]
    fn the_gate_promotes_only_pauses_below_the_target() {
        let target = Target::Step(3);
        assert!(matches!(decide(&canary(steps(), paused_at(1)), target, &Policy::default()), Decision::Promote(_)));
        assert_eq!(
            decide(&canary(steps(), paused_at(3)), target, &Policy::default()),
            Decision::Reached,
            "never past the target"
        );
        let mut running = paused_at(2);
        running["pauseConditions"] = Json::Null;
        running["controllerPause"] = json!(false);
        running["phase"] = json!("Progressing");
        assert!(
            matches!(decide(&canary(steps(), running), target, &Policy::default()), Decision::Wait(_)),
            "setWeight runs by itself"
        );
        let mut unpausing = paused_at(1);
        unpausing["pauseConditions"] = Json::Null;
        assert!(
            matches!(decide(&canary(steps(), unpausing), target, &Policy::default()), Decision::Wait(_)),
            "promoted once only"
        );
        assert!(matches!(
            decide(&canary(steps(), paused_at(1)), Target::Step(9), &Policy::default()),
            Decision::Impossible(_)
        ));
    }

    #[test]
    fn aborted_or_degraded_fails_with_argos_message() {
        let mut s = paused_at(0);
        s["abort"] = json!(true);
        s["phase"] = json!("Degraded");
        s["message"] =
            json!("RolloutAborted: Rollout aborted update to revision 2: Step-based analysis phase error/failed");
        match decide(&canary(steps(), s), Target::Step(1), &Policy::default()) {
            Decision::Failed { aborted: true, message } => {
                assert!(message.contains("Step-based analysis"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn weights_and_steps_as_the_cli_shows_them() {
        let v = canary(steps(), paused_at(3));
        assert_eq!(v.canary_weight(), Some(20));
        assert_eq!(v.step_text().unwrap(), "step 3 of 5 (pause)");
        let done = canary(steps(), json!({ "currentStepIndex": 5, "stableRS": "b", "currentPodHash": "b" }));
        assert_eq!(done.canary_weight(), Some(100));
        assert!(done.fully_promoted());
        assert_eq!(step_reached(&canary(steps(), paused_at(1)), 3), 1);
        assert_eq!(step_reached(&done, 3), 3);
        assert_eq!(step_string(&json!({ "pause": { "duration": "10m" } })), "pause: 10m");
    }

    #[test]
    fn blue_green_promotes_the_preview_and_rejects_steps() {
        let v = RolloutView::from_json(&json!({
            "metadata": { "name": "web", "namespace": "app", "generation": 1 },
            "spec": { "strategy": { "blueGreen": { "activeService": "web", "autoPromotionEnabled": false } } },
            "status": { "observedGeneration": "1", "controllerPause": true, "pauseConditions": [{ "reason": "BlueGreenPause" }],
                        "stableRS": "a", "currentPodHash": "b", "phase": "Paused" }
        }));
        // `promote --full`, as on a canary: status.promoteFull (promote.go `getPatches`).
        assert_eq!(
            decide(&v, Target::Full, &Policy::default()),
            Decision::Promote(Patches { spec: None, status: Some(json!({"status":{"promoteFull":true}})) })
        );
        assert!(matches!(decide(&v, Target::Step(1), &Policy::default()), Decision::Impossible(_)));
        assert_eq!(v.step_count(), None);
    }

    #[test]
    fn preconditions_ride_in_the_patch() {
        let p = with_precondition(&abort_patch(), Some("42"));
        assert_eq!(p, json!({ "status": { "abort": true }, "metadata": { "resourceVersion": "42" } }));
    }

    fn blocked(d: Decision) -> String {
        match d {
            Decision::Blocked { summary, message } => format!("{summary}: {message}"),
            other => panic!("expected Blocked, got {other:?}"),
        }
    }

    #[test]
    fn a_stale_abort_or_degraded_waits_for_the_controller() {
        // A new template (generation 3) while the status is the aborted revision's: upstream
        // clears abort in the same patch that records generation 3 (`resetRolloutStatus`).
        let mut s = paused_at(0);
        s["pauseConditions"] = Json::Null;
        s["controllerPause"] = Json::Null;
        s["abort"] = json!(true);
        s["phase"] = json!("Degraded");
        s["message"] = json!("RolloutAborted: Rollout aborted update to revision 2");
        let mut stale = canary(steps(), s.clone());
        stale.generation = Some(3);
        assert!(matches!(decide(&stale, Target::Step(2), &Policy::default()), Decision::Wait(_)));
        assert!(!holds(&stale, Target::Step(0)) && !holds(&stale, Target::Full));
        // Observed and still aborted: a failure.
        let aborted = canary(steps(), s.clone());
        assert!(matches!(
            decide(&aborted, Target::Step(2), &Policy::default()),
            Decision::Failed { aborted: true, .. }
        ));
        // After `retry` (abort=false) the Degraded phase is stale until `RolloutRetry`.
        s["abort"] = json!(false);
        assert!(matches!(decide(&canary(steps(), s.clone()), Target::Step(2), &Policy::default()), Decision::Wait(_)));
        s["message"] = json!("ProgressDeadlineExceeded: ReplicaSet \"api-1\" has timed out progressing.");
        assert!(matches!(
            decide(&canary(steps(), s), Target::Step(2), &Policy::default()),
            Decision::Failed { aborted: false, .. }
        ));
    }

    #[test]
    fn a_workload_ref_rollout_waits_for_the_workload_generation() {
        let ro = |annotation: &str, observed: &str| {
            RolloutView::from_json(&json!({
                "metadata": { "name": "api", "namespace": "app", "generation": 1,
                              "annotations": { WORKLOAD_GENERATION_ANNOTATION: annotation } },
                "spec": { "workloadRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "api" },
                          "strategy": { "canary": { "steps": [{ "setWeight": 50 }] } } },
                "status": { "observedGeneration": "1", "workloadObservedGeneration": observed, "phase": "Healthy",
                            "stableRS": "a", "currentPodHash": "a", "currentStepIndex": 1 }
            }))
        };
        let pending = ro("3", "2");
        assert_eq!(pending.phase(), (PROGRESSING.into(), SPEC_UPDATE_PENDING.into()));
        assert!(!holds(&pending, Target::Healthy));
        assert!(matches!(decide(&pending, Target::Healthy, &Policy::default()), Decision::Wait(_)));
        let seen = ro("3", "3");
        assert_eq!(seen.phase().0, HEALTHY);
        assert_eq!(decide(&seen, Target::Healthy, &Policy::default()), Decision::Reached);
        // The Deployment itself is ahead of the annotation: not observed either.
        let ahead = ro("3", "3").with_workload_generation(Some(4));
        assert_eq!(ahead.phase(), (PROGRESSING.into(), SPEC_UPDATE_PENDING.into()));
        assert_eq!(ro("3", "3").with_workload_generation(Some(3)).phase().0, HEALTHY);
        assert_eq!(ro("3", "3").workload, Some(("apps/v1".into(), "Deployment".into(), "api".into())));
    }

    #[test]
    fn another_revision_than_planned_is_never_promoted() {
        let policy = Policy { revision: Some("aaa-old".into()), ..Policy::default() };
        let text = blocked(decide(&canary(steps(), paused_at(1)), Target::Step(3), &policy));
        assert!(text.contains("bbb") && text.contains("aaa-old"), "{text}");
        let same = Policy { revision: Some("bbb".into()), ..Policy::default() };
        assert!(matches!(decide(&canary(steps(), paused_at(1)), Target::Step(3), &same), Decision::Promote(_)));
        // An abort carries the same precondition.
        let mut running = paused_at(2);
        running["pauseConditions"] = Json::Null;
        running["controllerPause"] = Json::Null;
        let running = canary(steps(), running);
        assert!(abort_verdict(&running, Target::Step(3), &policy).unwrap_err().contains("aaa-old"));
        assert_eq!(abort_verdict(&running, Target::Step(3), &same), Ok(()));
    }

    #[test]
    fn a_weight_target_is_the_step_after_the_first_set_weight_that_reaches_it() {
        let steps = json!([{ "setWeight": 10 }, { "pause": {} }, { "setWeight": 30 }, { "pause": {} },
                           { "setWeight": 60 }, { "pause": {} }]);
        let v = canary(steps.clone(), paused_at(1));
        assert_eq!(resolve(&v, Target::Weight(10)), Ok(Target::Step(1)));
        assert_eq!(resolve(&v, Target::Weight(25)), Ok(Target::Step(3)));
        assert_eq!(resolve(&v, Target::Weight(60)), Ok(Target::Step(5)));
        assert!(resolve(&v, Target::Weight(61)).unwrap_err().contains("10, 30, 60"));
        assert_eq!(resolve(&v, Target::Full), Ok(Target::Full));
        // At the pause after setWeight 10, aiming for 30: promote; the state shows 10.
        assert!(matches!(decide(&v, Target::Weight(30), &Policy::default()), Decision::Promote(_)));
        assert_eq!(weight_reached(&v, 30), 10);
        // At the pause after setWeight 30: reached, nothing more is promoted.
        let there = canary(steps.clone(), paused_at(3));
        assert_eq!(decide(&there, Target::Weight(30), &Policy::default()), Decision::Reached);
        assert_eq!(weight_reached(&there, 30), 30);
        assert!(matches!(decide(&v, Target::Weight(90), &Policy::default()), Decision::Impossible(_)));
        assert!(target_problem("app/web", "blueGreen", None, Target::Weight(30)).is_some());
    }

    #[test]
    fn inconclusive_analysis_needs_a_person_unless_opted_in() {
        let mut s = paused_at(2);
        s["canary"] = json!({ "currentStepAnalysisRunStatus": { "name": "api-bbb-2", "status": "Inconclusive",
                                                                "message": "no data" } });
        s["pauseConditions"] = json!([{ "reason": "InconclusiveAnalysisRun" }]);
        let v = canary(steps(), s.clone());
        let text = blocked(decide(&v, Target::Step(4), &Policy::default()));
        assert!(text.contains("InconclusiveAnalysisRun") && text.contains("api-bbb-2: no data"), "{text}");
        assert!(blocked(decide(&v, Target::Full, &Policy::default())).contains("promote_inconclusive"));
        let yes = Policy { promote_inconclusive: true, ..Policy::default() };
        assert_eq!(decide(&v, Target::Step(4), &yes), Decision::Promote(v.promote_patches()));
        s["pauseConditions"] = json!([{ "reason": "InconclusiveExperiment" }]);
        s["canary"] = json!({ "currentExperiment": "api-bbb-2-exp" });
        s["controllerPause"] = json!(true);
        let experiment = canary(steps(), s);
        let text = blocked(decide(&experiment, Target::Step(4), &Policy::default()));
        assert!(text.contains("InconclusiveExperiment") && text.contains("experiment api-bbb-2-exp"), "{text}");
        // Promoted past the step: clearing the pause alone would be re-added by the controller.
        assert_eq!(
            decide(&experiment, Target::Step(4), &yes),
            Decision::Promote(Patches {
                spec: None,
                status: Some(
                    json!({ "status": { "pauseConditions": null, "controllerPause": false, "currentStepIndex": 3 } })
                )
            })
        );
        // A pure gate promotes nothing anyway: it waits.
        assert!(matches!(decide(&v, Target::Healthy, &Policy::default()), Decision::Wait(_)));
    }

    #[test]
    fn timed_pauses_are_left_to_the_controller() {
        let timed =
            json!([{ "setWeight": 10 }, { "pause": { "duration": "10m" } }, { "setWeight": 50 }, { "pause": {} }]);
        let v = canary(timed.clone(), paused_at(1));
        assert!(timed_pause(&v).is_some());
        match decide(&v, Target::Step(3), &Policy::default()) {
            Decision::Wait(why) => assert!(why.contains("timed pause (10m)"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide(&canary(timed, paused_at(3)), Target::Step(4), &Policy::default()),
            Decision::Promote(_)
        ));
        let bg = |enabled: Json, seconds: i64| {
            RolloutView::from_json(&json!({
                "metadata": { "name": "web", "namespace": "app", "generation": 1 },
                "spec": { "strategy": { "blueGreen": { "activeService": "web", "autoPromotionEnabled": enabled,
                                                       "autoPromotionSeconds": seconds } } },
                "status": { "observedGeneration": "1", "controllerPause": true,
                            "pauseConditions": [{ "reason": "BlueGreenPause" }],
                            "stableRS": "a", "currentPodHash": "b", "phase": "Paused" }
            }))
        };
        // A pure gate leaves a blue-green auto-promotion bake to its clock; `promote --full`
        // (promote_full) skips it, as the CLI does, on either strategy.
        assert!(matches!(decide(&bg(Json::Null, 30), Target::Healthy, &Policy::default()), Decision::Wait(_)));
        assert!(matches!(decide(&bg(json!(true), 30), Target::Healthy, &Policy::default()), Decision::Wait(_)));
        assert!(matches!(decide(&bg(json!(true), 30), Target::Full, &Policy::default()), Decision::Promote(_)));
    }

    #[test]
    fn an_operators_pause_is_not_lifted_unless_opted_in() {
        let mut s = paused_at(1);
        s["pauseConditions"] = Json::Null;
        s["controllerPause"] = Json::Null;
        s["phase"] = json!("Paused");
        s["message"] = json!("manually paused");
        let mut v = canary(steps(), s);
        v.spec_paused = true;
        assert!(blocked(decide(&v, Target::Step(3), &Policy::default())).contains("spec.paused"));
        assert!(blocked(decide(&v, Target::Full, &Policy::default())).contains("lift_manual_pause"));
        assert!(matches!(decide(&v, Target::Healthy, &Policy::default()), Decision::Wait(_)));
        let lift = Policy { lift_manual_pause: true, ..Policy::default() };
        assert_eq!(
            decide(&v, Target::Step(3), &lift),
            Decision::Promote(Patches {
                spec: Some(json!({ "spec": { "paused": false } })),
                status: Some(json!({ "status": { "pauseConditions": null, "currentStepIndex": 2 } })),
            })
        );
        let pinned = Policy { revision: Some(v.current_pod_hash.clone()), ..Policy::default() };
        assert!(abort_verdict(&v, Target::Step(3), &pinned).unwrap_err().contains("by hand"));
    }

    #[test]
    fn the_last_step_means_stable_and_pure_gates_never_abort() {
        let mut s = paused_at(5);
        s["pauseConditions"] = Json::Null;
        s["controllerPause"] = Json::Null;
        s["phase"] = json!("Progressing");
        let end = canary(steps(), s.clone());
        assert!(holds(&end, Target::Step(4)), "steps 0..4 done");
        assert!(!holds(&end, Target::Step(5)), "every step done, not yet stable");
        assert_eq!(step_reached(&end, 5), 4);
        assert!(matches!(decide(&end, Target::Step(5), &Policy::default()), Decision::Wait(_)));
        s["stableRS"] = json!("bbb");
        let stable = canary(steps(), s);
        assert_eq!(decide(&stable, Target::Step(5), &Policy::default()), Decision::Reached);
        assert_eq!(step_reached(&stable, 5), 5);
        // Timeouts: a pure gate never aborts; a gate parked at a pause is not failing.
        let pinned = Policy { revision: Some(end.current_pod_hash.clone()), ..Policy::default() };
        assert!(abort_verdict(&end, Target::Healthy, &pinned).is_err());
        assert!(abort_verdict(&canary(steps(), paused_at(1)), Target::Step(3), &pinned).is_err());
        assert_eq!(abort_verdict(&end, Target::Step(5), &pinned), Ok(()));
        // A revision the gate never saw is never aborted.
        assert!(abort_verdict(&end, Target::Step(5), &Policy::default()).unwrap_err().contains("never saw"));
    }

    #[test]
    fn an_aborted_rollout_is_retried_only_when_asked() {
        let mut s = paused_at(0);
        s["pauseConditions"] = Json::Null;
        s["controllerPause"] = Json::Null;
        s["abort"] = json!(true);
        s["phase"] = json!("Degraded");
        s["message"] = json!("RolloutAborted: Rollout aborted update to revision 2");
        let v = canary(steps(), s);
        assert!(matches!(decide(&v, Target::Step(2), &Policy::default()), Decision::Failed { aborted: true, .. }));
        let retry = Policy { retry_aborted: true, revision: Some("bbb".into()), ..Policy::default() };
        assert_eq!(
            decide(&v, Target::Step(2), &retry),
            Decision::Promote(Patches { spec: None, status: Some(json!({ "status": { "abort": false } })) })
        );
        assert!(matches!(decide(&v, Target::Healthy, &retry), Decision::Failed { .. }), "a pure gate changes nothing");
        let other = Policy { revision: Some("ccc".into()), ..retry };
        assert!(matches!(decide(&v, Target::Step(2), &other), Decision::Blocked { .. }), "only the planned revision");
    }

    #[test]
    fn a_timed_pause_beside_an_inconclusive_analysis_is_waited_out_first() {
        let mut st = paused_at(1);
        st["pauseConditions"] = json!([
            { "reason": CANARY_PAUSE_STEP, "startTime": "2026-12-01T10:00:00Z" },
            { "reason": INCONCLUSIVE_ANALYSIS, "startTime": "2026-12-01T10:00:01Z" }
        ]);
        let mut timed_steps = steps();
        timed_steps[1] = json!({ "pause": { "duration": "10m" } });
        let v = canary(timed_steps, st);
        let policy = Policy { promote_inconclusive: true, ..Policy::default() };
        match decide(&v, Target::Step(3), &policy) {
            Decision::Wait(why) => assert!(why.contains("timed pause"), "{why}"),
            other => panic!("promoting would clear the timed pause too: {other:?}"),
        }
    }
}
