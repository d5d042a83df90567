//! terraform-provider-shard: one service as many identical EKS shards behind one shared ALB.
//!
//! Three layers: [`protocol`] (the wire), [`framework`] (what resource authors use), and the
//! provider itself ([`provider`], [`resources`], [`data_sources`], [`ephemeral_resources`], shared I/O in
//! [`clients`], and Argo CD / Argo Rollouts semantics without I/O in [`argo`]).

pub mod argo;
pub mod clients;
pub mod data_sources;
pub mod ephemeral_resources;
pub mod framework;
pub mod protocol;
pub mod provider;
pub mod resources;
