//! The gate's model: its Terraform state, and how a Rollout's state fills it.

use crate::argo::rollouts::{self, Policy, RolloutView, Target};
use crate::clients::kubernetes::Connection;
use crate::framework::Attr;
use crate::framework::timeouts::Timeouts;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Model {
    pub(super) id: Attr<String>,
    pub(super) namespace: String,
    pub(super) name: String,
    /// The `cluster` block (no token: it is stored in state); values may be unknown at plan.
    pub(super) cluster: Option<Connection>,
    /// The `cluster` block as the import id's suffix: part of the identity, so an import by
    /// identity (what `terraform query -generate-config-out` writes) reaches the same cluster.
    pub(super) cluster_ref: Attr<String>,
    pub(super) promote_to_step: Option<i64>,
    pub(super) promote_full: Option<bool>,
    pub(super) promote_to_weight: Option<i64>,
    pub(super) abort_on_failure: bool,
    pub(super) promote_inconclusive: bool,
    pub(super) lift_manual_pause: bool,
    pub(super) retry_aborted: bool,
    pub(super) strategy: Attr<String>,
    pub(super) phase: Attr<String>,
    pub(super) message: Attr<String>,
    pub(super) current_step: Attr<i64>,
    pub(super) step_count: Attr<i64>,
    pub(super) canary_weight: Attr<i64>,
    pub(super) stable_revision: Attr<String>,
    pub(super) current_revision: Attr<String>,
    pub(super) fully_promoted: Attr<bool>,
    pub(super) timeouts: Option<Timeouts>,
}

/// `cluster` as the import id's `,key=value` suffix (see `import_id`): the EKS cluster name, the
/// kubeconfig and context, or the host with its CA; empty for the provider's hub. An `exec`
/// plugin is left out: a command is configuration, never taken from state or an identity
/// (issue 16, item 8), so such a gate is imported by id with its `exec_command`. Unknown while
/// any of those values is.
pub(super) fn cluster_ref(cluster: Option<&Connection>) -> Attr<String> {
    let Some(c) = cluster else { return Attr::Known(String::new()) };
    let mut parts = Vec::new();
    for (key, value) in [
        ("eks_cluster_name", &c.eks_cluster_name),
        ("config_path", &c.config_path),
        ("config_context", &c.config_context),
        ("host", &c.host),
        ("cluster_ca_certificate", &c.cluster_ca_certificate),
    ] {
        match value {
            Attr::Known(v) => parts.push(format!("{key}={v}")),
            Attr::Unknown => return Attr::Unknown,
            Attr::Null => {}
        }
    }
    match c.insecure {
        Attr::Known(true) => parts.push("insecure=true".into()),
        Attr::Unknown => return Attr::Unknown,
        _ => {}
    }
    Attr::Known(parts.join(","))
}

impl Model {
    /// A gate on `namespace/name` with no target and nothing read yet (import starts here).
    pub(super) fn unread(namespace: String, name: String, cluster: Option<Connection>) -> Model {
        Model {
            id: Attr::Known(format!("{namespace}/{name}")),
            namespace,
            name,
            cluster_ref: cluster_ref(cluster.as_ref()),
            cluster,
            promote_to_step: None,
            promote_full: None,
            promote_to_weight: None,
            abort_on_failure: false,
            promote_inconclusive: false,
            lift_manual_pause: false,
            retry_aborted: false,
            strategy: Attr::Null,
            phase: Attr::Null,
            message: Attr::Null,
            current_step: Attr::Null,
            step_count: Attr::Null,
            canary_weight: Attr::Null,
            stable_revision: Attr::Null,
            current_revision: Attr::Null,
            fully_promoted: Attr::Null,
            timeouts: None,
        }
    }

    pub(super) fn target(&self) -> Target {
        match (self.promote_to_step, self.promote_full, self.promote_to_weight) {
            (Some(n), _, _) => Target::Step(n),
            (None, Some(true), _) => Target::Full,
            (None, _, Some(w)) => Target::Weight(w),
            _ => Target::Healthy,
        }
    }

    /// What the gate may do beyond a plain promote, and the revision the plan was made for
    /// (`current_revision`, known in the plan of a promoting gate; see `modify_plan`).
    pub(super) fn policy(&self) -> Policy {
        Policy {
            revision: self.current_revision.known().cloned().filter(|_| self.target() != Target::Healthy),
            promote_inconclusive: self.promote_inconclusive,
            lift_manual_pause: self.lift_manual_pause,
            retry_aborted: self.retry_aborted,
        }
    }

    pub(super) fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// This model as state: the computed values from `view`, and the desired-progress
    /// attributes holding the progress reached (the target once it holds).
    pub(super) fn observed(&self, view: &RolloutView) -> Model {
        let (phase, message) = view.phase();
        let non_empty = |s: &str| if s.is_empty() { Attr::Null } else { Attr::Known(s.to_string()) };
        Model {
            id: Attr::Known(self.key()),
            cluster_ref: cluster_ref(self.cluster.as_ref()),
            promote_to_step: self.promote_to_step.map(|n| rollouts::step_reached(view, n)),
            promote_full: self.promote_full.map(|f| f && rollouts::holds(view, Target::Full)),
            promote_to_weight: self.promote_to_weight.map(|w| rollouts::weight_reached(view, w)),
            strategy: Attr::Known(view.strategy.name().to_string()),
            phase: Attr::Known(phase),
            message: Attr::Known(message),
            current_step: view.current_step().into(),
            step_count: view.step_count().into(),
            canary_weight: view.canary_weight().into(),
            stable_revision: non_empty(&view.stable_rs),
            current_revision: non_empty(&view.current_pod_hash),
            fully_promoted: Attr::Known(view.fully_promoted()),
            ..self.clone()
        }
    }

    pub(super) fn describe_cluster(&self) -> String {
        match &self.cluster {
            None => "the provider's hub".into(),
            Some(c) => c.resolve().map(|s| s.describe()).unwrap_or_else(|_| "its cluster".into()),
        }
    }
}
