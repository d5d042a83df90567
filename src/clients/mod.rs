//! Shared clients: AWS (built lazily from the provider configuration) and the ELBv2 helpers
//! every traffic resource uses; the Kubernetes connection block shape.

pub mod arn;
pub mod aws;
pub mod elbv2;
pub mod kube;
pub mod listener_lock;
