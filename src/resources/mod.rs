//! Managed resource types, one file each.

pub mod argocd_cluster_registration;
pub mod dns_weight;
pub mod rollout_gate;
pub mod weight;
