//! Shared clients, built lazily from the provider configuration and reused by every resource in
//! one provider process: AWS (ELBv2, EKS), the ELBv2 helpers every traffic resource uses, and
//! Kubernetes connections.

pub mod arn;
pub mod attempts;
pub mod aws;
pub mod aws_rules;
pub mod cloudwatch;
pub mod dns_lock;
pub mod eks;
pub mod eks_token;
pub mod elbv2;
pub mod entry_edit;
pub mod fleet;
pub mod forward;
pub mod kubernetes;
pub mod listener_lock;
pub mod listener_reads;
pub mod live_token;
pub mod metric_guard;
pub mod paging;
pub mod pem;
pub mod route53;
pub mod route53_records;
pub mod server_clock;

use crate::framework::{Attr, Ctx};

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
        owner: &forward::ActionOwner,
    ) -> Result<Option<Vec<aws_sdk_elasticloadbalancingv2::types::Action>>, aws::AwsError> {
        match owner {
            forward::ActionOwner::Listener(arn) => self.listener_reads.default_actions(&self.aws, arn).await,
            forward::ActionOwner::Rule(_) => elbv2::find_actions(&self.aws, owner).await,
        }
    }

    /// The client for a connection block (a resource's `cluster`, or the provider's `hub`),
    /// built within the operation's deadline.
    pub async fn kube_client<D>(
        &self,
        ctx: &Ctx<D>,
        connection: &kubernetes::Connection,
    ) -> Result<kubernetes::KubeClient, kubernetes::KubeError> {
        self.kube.connect(ctx, &self.aws, &connection.resolve()?).await
    }

    /// The hub's client; an error says how to configure it when the block is absent.
    pub async fn hub_client<D>(&self, ctx: &Ctx<D>) -> Result<kubernetes::KubeClient, kubernetes::KubeError> {
        match &self.hub {
            Some(hub) => self.kube_client(ctx, hub).await,
            None => Err(kubernetes::KubeError::Config {
                origin: "provider".into(),
                message: "no hub block: set provider \"shard\" { hub { ... } } to reach the Argo CD cluster".into(),
            }),
        }
    }

    /// The hub's `argocd_namespace` as configured (null without a hub block or the setting).
    pub fn hub_argocd_namespace(&self) -> Attr<String> {
        self.hub.as_ref().map(|h| h.argocd_namespace.clone()).unwrap_or(Attr::Null)
    }
}
