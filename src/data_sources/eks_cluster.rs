//! `shard_eks_cluster`: an EKS cluster's endpoint, CA, OIDC issuer, version and status from
//! `eks:DescribeCluster` with the provider's AWS settings — what a Kubernetes or Helm provider
//! configuration, or a `shard_argocd_cluster_registration`, needs.

use crate::clients::ShardData;
use crate::clients::eks::describe_cluster;
use crate::framework::schema::{Attribute, validators};
use crate::framework::{AttrPath, Ctx, DataSource, Diagnostics, Schema};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub struct EksClusterDataSource;

#[derive(Debug, Deserialize)]
pub struct Config {
    name: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct EksClusterState {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub endpoint: Option<String>,
    pub ca_data: Option<String>,
    pub certificate_authority_data: Option<String>,
    pub oidc_issuer_url: Option<String>,
    pub version: Option<String>,
    pub platform_version: Option<String>,
}

#[async_trait]
impl DataSource<ShardData> for EksClusterDataSource {
    type Config = Config;
    type State = EksClusterState;

    fn name(&self) -> &'static str {
        "eks_cluster"
    }

    fn schema(&self) -> Schema {
        let c = |n: &str, d: &str| Attribute::string(n).computed().description(d);
        Schema::new(
            "Reads an EKS cluster (`eks:DescribeCluster`): endpoint, CA, OIDC issuer, version and status. \
             Endpoint and CA are null until the cluster is ACTIVE.",
            vec![
                Attribute::string("name")
                    .required()
                    .validate(validators::string(crate::clients::aws_rules::eks_cluster_name))
                    .description("Name of the EKS cluster."),
                c("arn", "ARN of the cluster."),
                c("status", "`CREATING`, `ACTIVE`, `UPDATING`, `DELETING`, `FAILED` or `PENDING`."),
                c("endpoint", "API server URL, without a trailing `/`. Null until the cluster is `ACTIVE`."),
                c(
                    "ca_data",
                    "PEM CA bundle of the API server, decoded from `certificate_authority_data`. Null until the cluster is `ACTIVE`; a value that is not base64 of a PEM certificate is an error naming the cluster.",
                ),
                c(
                    "certificate_authority_data",
                    "The CA as EKS returns it: base64 of the PEM (what `base64decode()` expects, for configurations written for the AWS provider's data source).",
                ),
                c("oidc_issuer_url", "OIDC issuer of the cluster, for IAM roles for service accounts (IRSA)."),
                c("version", "Kubernetes version, e.g. `1.31`."),
                c("platform_version", "EKS platform version, e.g. `eks.12`."),
            ],
        )
    }

    async fn read(&self, ctx: &Ctx<ShardData>, c: Config) -> Result<EksClusterState, Diagnostics> {
        let cluster = describe_cluster(&ctx.data.aws, &c.name).await?;
        let ca_data = cluster.ca_pem().map_err(|e| {
            Diagnostics::attr_error(
                AttrPath::attr("name"),
                "Unusable certificate authority",
                format!("EKS cluster {}: {e}", c.name),
            )
        })?;
        Ok(EksClusterState {
            name: cluster.name,
            arn: cluster.arn,
            status: cluster.status,
            endpoint: cluster.endpoint,
            ca_data,
            certificate_authority_data: cluster.certificate_authority_data,
            oidc_issuer_url: cluster.oidc_issuer_url,
            version: cluster.version,
            platform_version: cluster.platform_version,
        })
    }
}
