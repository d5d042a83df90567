//! `shard_eks_token`: a short-lived EKS bearer token, made in-process exactly as
//! `aws eks get-token` makes it (a presigned STS GetCallerIdentity bound to the cluster name;
//! see [`crate::clients::eks_token`]), with the provider's AWS credentials. Ephemeral: never in
//! state or plan, so the `argo-cluster/` stack can configure its kubernetes/helm providers without
//! the aws CLI and without a token in its state.

use crate::clients::ShardData;
use crate::clients::eks_token::{self, TOKEN_VALIDITY};
use crate::framework::schema::{Attribute, validators};
use crate::framework::{Attr, AttrPath, Ctx, Diagnostics, EphemeralResource, Opened, Schema};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

pub struct EksTokenEphemeralResource;

#[derive(Debug, Deserialize, Serialize)]
pub struct Model {
    cluster_name: String,
    token: Attr<String>,
    expiration: Attr<String>,
}

/// RFC 3339 text of a time.
fn rfc3339(at: SystemTime) -> String {
    let secs = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    jiff::Timestamp::from_second(secs).map(|t| t.to_string()).unwrap_or_default()
}

#[async_trait]
impl EphemeralResource<ShardData> for EksTokenEphemeralResource {
    type Model = Model;

    fn name(&self) -> &'static str {
        "eks_token"
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(60)
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "A short-lived bearer token for an EKS cluster's API server (what `aws eks get-token` prints), signed \
             in-process with the provider's AWS credentials. Ephemeral (Terraform 1.10+): never stored in state or \
             plan. EKS accepts it for 15 minutes.",
            vec![
                Attribute::string("cluster_name")
                    .required()
                    .validate(validators::string(crate::clients::aws_rules::eks_cluster_name))
                    .description("Name of the EKS cluster the token is for. The signature binds the token to this name: another cluster refuses it."),
                Attribute::string("token").computed().sensitive().description("The bearer token (`k8s-aws-v1.…`)."),
                Attribute::string("expiration")
                    .computed()
                    .description("When EKS stops accepting the token (RFC 3339; a minute before the 15-minute limit)."),
            ],
        )
    }

    async fn open(&self, ctx: &Ctx<ShardData>, config: Model) -> Result<Opened<Model>, Diagnostics> {
        let cluster = config.cluster_name;
        let fail = |e: String| {
            Diagnostics::attr_error(
                AttrPath::attr("cluster_name"),
                "Cannot make an EKS token",
                format!("EKS cluster {cluster}: {e}"),
            )
        };
        let signer = eks_token::signer_for(&ctx.data.aws, &cluster).await.map_err(fail)?;
        let signed_at = SystemTime::now();
        let token =
            ctx.bounded(signer.token()).await.map_err(|i| fail(i.to_string()))?.map_err(|e| fail(e.to_string()))?;
        tracing::debug!(%cluster, "EKS token signed");
        let expiration = rfc3339(signed_at + TOKEN_VALIDITY - Duration::from_secs(60));
        Ok(Opened::new(Model { cluster_name: cluster, token: Attr::Known(token), expiration: Attr::Known(expiration) }))
    }
}

#[cfg(test)]
mod tests {
    use super::rfc3339;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn expiration_is_rfc3339_in_utc_whole_seconds() {
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::new(1_795_000_000, 999_000_000)), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400 + 86_399)), "2000-02-29T23:59:59Z");
    }
}
