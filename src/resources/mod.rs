//! Managed resource types, one file each.

pub mod argocd_cluster_registration;
#[cfg(feature = "bench-probes")]
pub mod bench_probes;
pub mod dns_weight;
pub mod rollout_gate;
pub mod weight;
