//! `list "shard_rollout_gate"`: the Argo Rollouts in a namespace of a shard's cluster, each as a
//! gate with no target (it waits for Healthy) whose identity names the cluster, so that
//! `terraform query -generate-config-out` writes working import blocks for a shard directory.

use super::RolloutGateResource;
use super::follow::{client_for, gate_failure, resolved_view, rollout_api};
use super::model::Model;
use crate::argo::rollouts;
use crate::clients::ShardData;
use crate::clients::kubernetes::{BlockKind, Call, Connection, connection_block, names};
use crate::framework::schema::{Attribute, validators};
use crate::framework::{AttrPath, Ctx, Diagnostics, ListResource, Listing, Schema, ValidateRequest};
use async_trait::async_trait;
use kube::api::ListParams;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct ListConfig {
    namespace: String,
    label_selector: Option<String>,
    cluster: Option<Connection>,
}

#[async_trait]
impl ListResource<ShardData> for RolloutGateResource {
    type Config = ListConfig;

    fn name(&self) -> &'static str {
        "rollout_gate"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "The Argo Rollouts (`argoproj.io/v1alpha1`) in a namespace of a shard's cluster, each as a \
             `shard_rollout_gate` with no target (a gate that waits for Healthy; add `promote_to_step` or \
             `promote_full` to the generated blocks). With `terraform query -generate-config-out=FILE`, an `import` \
             block and a `resource` block per Rollout.",
            vec![
                Attribute::string("namespace")
                    .required()
                    .validate(validators::string(names::dns_label))
                    .description("Namespace of the Rollouts."),
                Attribute::string("label_selector")
                    .optional()
                    .description("Only Rollouts matching this Kubernetes label selector (e.g. `app.kubernetes.io/part-of=payments`)."),
            ],
        )
        .with_block(connection_block(
            "cluster",
            "The shard's cluster; set exactly one source: `eks_cluster_name`, `config_path` or `host`. Default: the provider's `hub`. A cluster reached through an `exec` plugin is listed, but its gates are imported by id (a command is never part of an identity).",
            BlockKind::Resource,
        ))
    }

    async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
        match crate::framework::decode::<Option<Connection>>("cluster", req.config.get("cluster")) {
            Ok(Some(c)) => c.validate(&AttrPath::attr("cluster")),
            _ => Diagnostics::new(),
        }
    }

    async fn list(&self, ctx: &Ctx<ShardData>, config: ListConfig, out: &mut Listing) -> Result<(), Diagnostics> {
        // A gate on no Rollout yet: only its namespace and cluster are used to connect.
        let probe = Model::unread(config.namespace.clone(), String::new(), config.cluster.clone());
        let client = client_for(ctx, &probe).await?;
        let api = rollout_api(&client, &config.namespace);
        let mut params = ListParams::default();
        if let Some(selector) = config.label_selector.as_deref().filter(|s| !s.trim().is_empty()) {
            params = params.labels(selector);
        }
        let call = Call::on("list", &rollouts::api_resource()).namespace(&config.namespace);
        ctx.progress(format!("listing the Rollouts in {} on {}", config.namespace, client.host));
        let list = client.call(ctx, call, || api.list(&params)).await.map_err(|e| gate_failure(&probe, e))?;
        for object in list.items {
            let Some(name) = object.metadata.name.clone() else { continue };
            let m = Model::unread(config.namespace.clone(), name, config.cluster.clone());
            let view = resolved_view(ctx, &client, &m, &object).await;
            let shown = format!("{} ({})", m.key(), view.describe());
            if !out.push(shown, &m.observed(&view)).await? {
                break;
            }
        }
        Ok(())
    }
}
