//! Shared clients, built lazily from the provider configuration and reused by every resource in
//! one provider process: AWS (ELBv2, EKS), the ELBv2 helpers every traffic resource uses, and
//! Kubernetes connections.

pub mod arn;
pub mod aws;
pub mod elbv2;
pub mod entry_edit;
pub mod kubernetes;
pub mod listener_lock;

/// What every resource and data source of this provider receives.
pub struct ShardData {
    pub aws: aws::AwsClients,
    /// The Argo CD hub cluster connection, if configured.
    pub hub: Option<kubernetes::Connection>,
    pub terraform_version: String,
}
