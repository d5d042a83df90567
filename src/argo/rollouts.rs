//! Argo Rollouts (argoproj.io/v1alpha1 `Rollout`) as the provider reads and promotes them: the
//! phase the way Argo's own tools compute it, the patches its CLI sends, and what a gate should do
//! next. Pure functions over the object's JSON, unit-tested without a cluster.
//!
//! Upstream references (github.com/argoproj/argo-rollouts, master as of 2026-11):
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    Canary {
        steps: Vec<Json>,
        traffic_routing: bool,
        max_weight: i64,
    },
    BlueGreen,
    /// Neither strategy set (an invalid spec, or a newer strategy this provider does not know).
    Unknown,
}

impl Strategy {
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Canary { .. } => "canary",
            Strategy::BlueGreen => "blueGreen",
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
            Strategy::BlueGreen
        } else {
            Strategy::Unknown
        };
        let conditions = status["conditions"]
            .as_array()
            .map(|cs| cs.iter().map(|c| (text(&c["type"]), text(&c["reason"]), text(&c["message"]))).collect())
            .unwrap_or_default();
        RolloutView {
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
            return (PROGRESSING.into(), "waiting for rollout spec update to be observed".into());
        }
        if self.unpausing() {
            return (PROGRESSING.into(), "waiting for rollout to unpause".into());
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
        let inconclusive = self.is_canary() && self.step_analysis_status.as_deref() == Some("Inconclusive");
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
}

impl Target {
    pub fn describe(&self) -> String {
        match self {
            Target::Step(n) => format!("step {n}"),
            Target::Full => "full promotion (Healthy, fully promoted)".into(),
            Target::Healthy => "Healthy and fully promoted".into(),
        }
    }
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
    /// The target does not fit the Rollout (steps on blue-green, past the last step).
    Impossible(String),
    /// Not yet; why.
    Wait(String),
}

/// The problem with `target` for a Rollout of this strategy (by name: `canary`, `blueGreen`,
/// `unknown`) and canary step count, if any. Checked at plan time from the refreshed state or
/// one read, and again at apply on every state the watch brings.
pub fn target_problem(key: &str, strategy: &str, step_count: Option<i64>, target: Target) -> Option<String> {
    match (target, strategy) {
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
pub fn holds(view: &RolloutView, target: Target) -> bool {
    if view.abort {
        return false;
    }
    match target {
        Target::Step(n) => view.current_step().is_some_and(|i| i >= n),
        Target::Full | Target::Healthy => view.phase().0 == HEALTHY && view.fully_promoted(),
    }
}

/// The step a `promote_to_step = target` gate has reached: the target once held, else the step
/// the Rollout is on (an aborted canary is back at 0, as Argo's controller resets it).
pub fn step_reached(view: &RolloutView, target: i64) -> i64 {
    if holds(view, Target::Step(target)) {
        return target;
    }
    if view.abort { 0 } else { view.current_step().unwrap_or(0).min(target) }
}

/// The gate's next move. Fails fast on an aborted or Degraded Rollout; promotes only a Rollout
/// that is paused below the target (one promote per pause, never past the target, never skipping
/// a step that is not a pause); otherwise waits for the controller.
pub fn decide(view: &RolloutView, target: Target) -> Decision {
    let (phase, message) = view.phase();
    if view.abort {
        let message = if message.is_empty() { "the rollout was aborted".to_string() } else { message };
        return Decision::Failed { aborted: true, message };
    }
    if phase == DEGRADED {
        return Decision::Failed { aborted: false, message };
    }
    let key = format!("{}/{}", view.namespace, view.name);
    if let Some(problem) = target_problem(&key, view.strategy.name(), view.step_count(), target) {
        return Decision::Impossible(problem);
    }
    if !view.generation_observed() {
        return Decision::Wait(view.describe());
    }
    match target {
        Target::Step(n) => {
            let i = view.current_step().unwrap_or(0);
            if i >= n {
                return Decision::Reached;
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
            if !view.pause_reasons.is_empty() {
                return Decision::Promote(view.promote_patches());
            }
            if view.spec_paused {
                // Paused by hand with no pause condition: the CLI would also advance the step,
                // which passes a pause step but would skip any other (analysis, setWeight). The
                // gate advances only past a pause step; elsewhere it only unpauses.
                return if is_pause_step(view.current_step_spec()) {
                    Decision::Promote(view.promote_patches())
                } else {
                    Decision::Promote(Patches { spec: Some(json!({ "spec": { "paused": false } })), status: None })
                };
            }
            Decision::Wait(view.describe())
        }
        Target::Full | Target::Healthy if phase == HEALTHY && view.fully_promoted() => Decision::Reached,
        Target::Healthy => Decision::Wait(view.describe()),
        Target::Full if view.is_canary() => {
            let patches = view.promote_full_patches();
            // promoteFull already requested and not yet acted on: nothing more to send.
            let patches = Patches { status: patches.status.filter(|_| !view.promote_full), ..patches };
            if patches.is_empty() { Decision::Wait(view.describe()) } else { Decision::Promote(patches) }
        }
        Target::Full => {
            // Blue-green: promote the preview to active the way `promote` does (clear the
            // BlueGreenPause); pre/post-promotion analysis still runs.
            if view.unpausing() && !view.spec_paused {
                return Decision::Wait(view.describe());
            }
            if !view.pause_reasons.is_empty() || view.spec_paused {
                let mut patches = view.promote_patches();
                if view.pause_reasons.is_empty() {
                    patches.status = None;
                }
                return Decision::Promote(patches);
            }
            Decision::Wait(view.describe())
        }
    }
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
        assert!(matches!(decide(&canary(steps(), paused_at(1)), target), Decision::Promote(_)));
        assert_eq!(decide(&canary(steps(), paused_at(3)), target), Decision::Reached, "never past the target");
        let mut running = paused_at(2);
        running["pauseConditions"] = Json::Null;
        running["controllerPause"] = json!(false);
        running["phase"] = json!("Progressing");
        assert!(matches!(decide(&canary(steps(), running), target), Decision::Wait(_)), "setWeight runs by itself");
        let mut unpausing = paused_at(1);
        unpausing["pauseConditions"] = Json::Null;
        assert!(matches!(decide(&canary(steps(), unpausing), target), Decision::Wait(_)), "promoted once only");
        assert!(matches!(decide(&canary(steps(), paused_at(1)), Target::Step(9)), Decision::Impossible(_)));
    }

    #[test]
    fn aborted_or_degraded_fails_with_argos_message() {
        let mut s = paused_at(0);
        s["abort"] = json!(true);
        s["phase"] = json!("Degraded");
        s["message"] =
            json!("RolloutAborted: Rollout aborted update to revision 2: Step-based analysis phase error/failed");
        match decide(&canary(steps(), s), Target::Step(1)) {
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
        assert_eq!(
            decide(&v, Target::Full),
            Decision::Promote(Patches { spec: None, status: Some(json!({"status":{"pauseConditions":null}})) })
        );
        assert!(matches!(decide(&v, Target::Step(1)), Decision::Impossible(_)));
        assert_eq!(v.step_count(), None);
    }

    #[test]
    fn preconditions_ride_in_the_patch() {
        let p = with_precondition(&abort_patch(), Some("42"));
        assert_eq!(p, json!({ "status": { "abort": true }, "metadata": { "resourceVersion": "42" } }));
    }
}
