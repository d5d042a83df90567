//! Shared clients, built lazily from the provider configuration and reused by every resource in
//! one provider process: AWS (ELBv2, EKS), the ELBv2 helpers every traffic resource uses, and
//! Kubernetes connections.

pub mod argocd;
pub mod arn;
pub mod aws;
pub mod eks_token;
pub mod elbv2;
pub mod entry_edit;
pub mod kubernetes;
pub mod listener_lock;
pub mod listener_reads;
pub mod rollouts;

/// What every resource and data source of this provider receives.
pub struct ShardData {
    pub aws: aws::AwsClients,
    /// The Argo CD hub cluster connection, if configured.
    pub hub: Option<kubernetes::Connection>,
    /// Kubernetes clients, one per connection, built on first use.
    pub kube: kubernetes::KubeClients,
    /// The listener rule priority of shard_weight's lock.
    pub lock_priority: i32,
    /// Refresh reads of listeners, coalesced into shared DescribeListeners calls.
    pub listener_reads: listener_reads::ListenerReads,
    pub terraform_version: String,
}

impl ShardData {
    /// The owner's current actions for a refresh (None: it no longer exists). Listener reads
    /// made at the same time share one DescribeListeners call; never use this under the lock.
    pub async fn refresh_actions(
        &self,
        owner: &elbv2::ActionOwner,
    ) -> Result<Option<Vec<aws_sdk_elasticloadbalancingv2::types::Action>>, aws::AwsError> {
        match owner {
            elbv2::ActionOwner::Listener(arn) => self.listener_reads.default_actions(&self.aws, arn).await,
            elbv2::ActionOwner::Rule(_) => elbv2::find_actions(&self.aws, owner).await,
        }
    }

    /// The client for a connection block (a resource's `cluster`, or the provider's `hub`).
    pub async fn kube_client(
        &self,
        connection: &kubernetes::Connection,
    ) -> Result<kubernetes::KubeClient, kubernetes::KubeError> {
        self.kube.client(&self.aws, &connection.resolve()?).await
    }

    /// The namespace Argo CD runs in on the hub (None while the provider's value is unknown).
    pub fn argocd_namespace(&self) -> Option<String> {
        match self.hub.as_ref().map(|h| &h.argocd_namespace) {
            Some(crate::framework::Attr::Known(ns)) => Some(ns.clone()),
            Some(crate::framework::Attr::Unknown) => None,
            _ => Some(argocd::DEFAULT_ARGOCD_NAMESPACE.to_string()),
        }
    }

    /// The hub's client; an error says how to configure it when the block is absent.
    pub async fn hub_client(&self) -> Result<kubernetes::KubeClient, kubernetes::KubeError> {
        match &self.hub {
            Some(hub) => self.kube_client(hub).await,
            None => Err(kubernetes::KubeError::Config {
                origin: "provider".into(),
                message: "no hub block: set provider \"shard\" { hub { ... } } to reach the Argo CD cluster".into(),
            }),
        }
    }
}
