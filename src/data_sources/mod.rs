//! Data source types, one file each.

pub mod eks_cluster;
pub mod listener;
