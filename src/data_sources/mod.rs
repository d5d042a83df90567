//! Data source types, one file each.

pub mod dns_records;
pub mod eks_cluster;
pub mod listener;
