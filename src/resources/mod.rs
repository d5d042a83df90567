//! Managed resource types, one file each.

pub mod rollout_gate;
pub mod weight;
