//! `shard_eks_cluster`: an EKS cluster's endpoint, CA, OIDC issuer, version and status from
//! `eks:DescribeCluster` with the provider's AWS settings — what a Kubernetes or Helm provider
//! configuration, or a `shard_argocd_cluster_registration`, needs.

use crate::clients::ShardData;
use crate::clients::aws::api_error;
use crate::clients::kubernetes::normalise_ca;
use crate::framework::schema::{Attribute, validators};
use crate::framework::{AttrPath, Ctx, DataSource, Diagnostics, Schema};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub struct EksClusterDataSource;

#[derive(Debug, Deserialize)]
pub struct Config {
    name: String,
}

#[derive(Debug, Serialize, PartialEq)]
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
                    .validate(validators::non_empty())
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
        let aws = &ctx.data.aws;
        let client = aws.eks().await?;
        let endpoint = aws.settings().endpoints.eks.clone().unwrap_or_else(|| "the regional EKS endpoint".into());
        tracing::debug!(aws_call = "DescribeCluster", cluster = %c.name, "aws call");
        let out = client
            .describe_cluster()
            .name(&c.name)
            .send()
            .await
            .map_err(|e| Diagnostics::from(api_error("DescribeCluster", &c.name, &endpoint, &e)))?;
        let cluster =
            out.cluster().ok_or_else(|| Diagnostics::error("DescribeCluster returned no cluster", c.name.clone()))?;
        let raw_ca = cluster.certificate_authority().and_then(|a| a.data()).filter(|d| !d.is_empty());
        let ca_data = match raw_ca {
            Some(raw) => Some(normalise_ca(raw).map_err(|e| {
                Diagnostics::attr_error(
                    AttrPath::attr("name"),
                    "Unusable certificate authority",
                    format!(
                        "EKS cluster {}: certificateAuthority.data is not base64 of a PEM certificate: {e}",
                        c.name
                    ),
                )
            })?),
            None => None,
        };
        let text = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
        Ok(EksClusterState {
            name: c.name.clone(),
            arn: cluster.arn().unwrap_or_default().to_string(),
            status: cluster.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            endpoint: text(cluster.endpoint()).map(|e| e.trim_end_matches('/').to_string()),
            ca_data,
            certificate_authority_data: raw_ca.map(str::to_string),
            oidc_issuer_url: text(cluster.identity().and_then(|i| i.oidc()).and_then(|o| o.issuer())),
            version: text(cluster.version()),
            platform_version: text(cluster.platform_version()),
        })
    }
}
