//! Managed resource types, one file each.

pub mod argocd_cluster_registration;
pub mod rollout_gate;
pub mod weight;
