//! `list "shard_argocd_cluster_registration"`: the Argo CD cluster Secrets on the hub, each as
//! the registration an import would produce, so that `terraform query -generate-config-out`
//! adopts clusters registered by hand, by the Argo CD CLI or by another tool.

use super::drift;
use super::hub::cluster_secrets;
use super::{ClusterRegistrationResource, hub_namespace};
use crate::argo::argocd::LiveCluster;
use crate::clients::ShardData;
use crate::clients::kubernetes::names;
use crate::framework::schema::{Attribute, validators};
use crate::framework::{Ctx, Diagnostics, ListResource, Listing, Schema};
use async_trait::async_trait;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct ListConfig {
    namespace: Option<String>,
    label_selector: Option<String>,
}

/// Checks a label selector's shape before it reaches the API server (which would answer 400).
fn selector(s: &str) -> Result<(), String> {
    if s.len() > 1024 {
        return Err("is longer than 1024 characters".into());
    }
    if s.chars().any(|c| c.is_control()) {
        return Err("contains a control character".into());
    }
    Ok(())
}

#[async_trait]
impl ListResource<ShardData> for ClusterRegistrationResource {
    type Config = ListConfig;

    fn name(&self) -> &'static str {
        "argocd_cluster_registration"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "The Argo CD cluster Secrets on the hub (label `argocd.argoproj.io/secret-type: cluster`), each as a \
             `shard_argocd_cluster_registration`. With `terraform query -generate-config-out=FILE`, an `import` block \
             and a `resource` block per registered cluster.",
            vec![
                Attribute::string("namespace").optional().validate(validators::string(names::dns_label)).description(
                    "Namespace Argo CD runs in. Default: the provider's `hub.argocd_namespace`, else `argocd`.",
                ),
                Attribute::string("label_selector").optional().validate(validators::string(selector)).description(
                    "Only Secrets matching this Kubernetes label selector as well (e.g. `env=prod,shard`).",
                ),
            ],
        )
    }

    async fn list(&self, ctx: &Ctx<ShardData>, config: ListConfig, out: &mut Listing) -> Result<(), Diagnostics> {
        let Some(namespace) = config.namespace.or_else(|| hub_namespace(ctx)) else {
            return Err(Diagnostics::error(
                "Unknown namespace",
                "the provider's hub.argocd_namespace is not known yet",
            ));
        };
        let client = ctx.data.hub_client(ctx).await?;
        ctx.progress(format!("listing the cluster Secrets in {namespace} on {}", client.host));
        for secret in cluster_secrets(ctx, &client, &namespace, config.label_selector.as_deref()).await? {
            let Some(secret_name) = secret.metadata.name.clone() else { continue };
            let live = LiveCluster::from_secret(&secret);
            // A Secret Argo CD cannot read either (no valid config) is reported, not listed.
            let m = match drift::imported(&namespace, &secret_name, &secret, &live) {
                Ok(m) => m,
                Err(d) => {
                    ctx.warn("Cluster Secret not listed", format!("{namespace}/{secret_name}: {d}"));
                    continue;
                }
            };
            if !out.push(format!("{} ({})", live.name, live.server), &m).await? {
                break;
            }
        }
        Ok(())
    }
}
