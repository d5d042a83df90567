//! Managed resource types, one file each.

pub mod weight;
