//! Argo CD and Argo Rollouts as upstream defines them: how Argo CD reads a cluster Secret and
//! judges Applications ([`argocd`]), how Argo Rollouts' tools compute a Rollout's phase and what
//! their promote and abort write ([`rollouts`]). Pure functions over objects, no I/O, each rule
//! citing the upstream code it follows; the resources do the Kubernetes calls.

pub mod argocd;
pub mod rollouts;
