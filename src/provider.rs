//! The `shard` provider: its configuration, the data every resource shares, and the registry
//! of resource, data source and ephemeral resource types (adding a type = one file + one line here).

use crate::clients::ShardData;
use crate::clients::aws::{AssumeRole, AwsClients, AwsSettings, Endpoints};
use crate::clients::aws_rules;
use crate::clients::kubernetes::{self as kube, Connection};
use crate::framework::schema::{Attribute, NestedBlock, validators};
use crate::framework::{
    AnyAction, AnyDataSource, AnyEphemeralResource, AnyListResource, AnyResource, Attr, AttrPath, Diagnostics,
    Provider, Schema, decode,
};
use crate::protocol::value::Value;
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;

/// Registry address used in docs, examples and the debug reattach line.
pub const REGISTRY_ADDRESS: &str = "registry.terraform.io/shardkit/shard";

pub struct ShardProvider;

pub fn resources() -> Vec<Arc<dyn AnyResource<ShardData>>> {
    vec![
        Arc::new(crate::resources::weight::WeightResource::default()),
        Arc::new(crate::resources::argocd_cluster_registration::ClusterRegistrationResource),
        Arc::new(crate::resources::rollout_gate::RolloutGateResource),
        Arc::new(crate::resources::dns_weight::DnsWeightResource::default()),
        #[cfg(feature = "bench-probes")]
        Arc::new(crate::resources::bench_probes::noop()),
        #[cfg(feature = "bench-probes")]
        Arc::new(crate::resources::bench_probes::wide()),
    ]
}

pub fn data_sources() -> Vec<Arc<dyn AnyDataSource<ShardData>>> {
    vec![
        Arc::new(crate::data_sources::listener::ListenerDataSource),
        Arc::new(crate::data_sources::eks_cluster::EksClusterDataSource),
        Arc::new(crate::data_sources::dns_records::DnsRecordsDataSource),
    ]
}

pub fn ephemeral_resources() -> Vec<Arc<dyn AnyEphemeralResource<ShardData>>> {
    vec![Arc::new(crate::ephemeral_resources::eks_token::EksTokenEphemeralResource)]
}

/// List resources (`terraform query`), each named after the resource type it lists.
pub fn list_resources() -> Vec<Arc<dyn AnyListResource<ShardData>>> {
    vec![
        Arc::new(crate::resources::weight::WeightResource::default()),
        Arc::new(crate::resources::argocd_cluster_registration::ClusterRegistrationResource),
        Arc::new(crate::resources::rollout_gate::RolloutGateResource),
    ]
}

/// Actions (`terraform apply -invoke=action.TYPE.NAME`).
pub fn actions() -> Vec<Arc<dyn AnyAction<ShardData>>> {
    vec![
        Arc::new(crate::resources::weight::DrainAction),
        Arc::new(crate::resources::weight::RestoreAction),
        Arc::new(crate::resources::rollout_gate::PromoteAction),
        Arc::new(crate::resources::rollout_gate::AbortAction),
        Arc::new(crate::resources::rollout_gate::RetryAction),
    ]
}

#[derive(Debug, Deserialize, Default)]
struct Config {
    region: Attr<String>,
    profile: Attr<String>,
    assume_role: Option<AssumeRoleConfig>,
    endpoints: Option<EndpointsConfig>,
    hub: Option<Connection>,
    lock_priority: Attr<i64>,
}

#[derive(Debug, Deserialize)]
struct AssumeRoleConfig {
    role_arn: Attr<String>,
    session_name: Attr<String>,
    external_id: Attr<String>,
}

#[derive(Debug, Deserialize)]
struct EndpointsConfig {
    elbv2: Attr<String>,
    eks: Attr<String>,
    sts: Attr<String>,
    cloudwatch: Attr<String>,
    route53: Attr<String>,
}

/// Collects known values and the names of unknown ones.
fn take(attr: Attr<String>, name: &str, unknown: &mut Vec<String>) -> Option<String> {
    match attr {
        Attr::Known(v) => Some(v),
        Attr::Unknown => {
            unknown.push(name.to_string());
            None
        }
        Attr::Null => None,
    }
}

#[async_trait]
impl Provider for ShardProvider {
    type Data = ShardData;

    fn type_name(&self) -> &'static str {
        "shard"
    }

    fn schema(&self) -> Schema {
        let endpoint = |name: &str, service: &str| {
            // Route 53 is global: one endpoint per partition, whatever the region.
            let default = if name == "route53" { "the partition's global endpoint" } else { "the regional endpoint" };
            Attribute::string(name).optional().validate(validators::url()).description(&format!(
                "Custom {service} endpoint URL (VPC endpoint, LocalStack, moto). Default: {default}."
            ))
        };
        Schema::new(
            "Manages sharded EKS services behind one shared ALB: per-shard traffic weights, Argo CD \
             cluster registration and Argo Rollouts gates. AWS credentials come from the default chain \
             (environment, profile, SSO, IRSA, instance role).",
            vec![
                Attribute::string("region")
                    .optional()
                    .validate(validators::string(aws_rules::region))
                    .description("AWS region. Default: `AWS_REGION`, else the profile's region."),
                Attribute::string("profile").optional().description(
                    "Named profile from the shared AWS config files. Default: `AWS_PROFILE`, else `default`.",
                ),
                Attribute::number("lock_priority").optional().validate(validators::int_between(1, 50_000)).description(
                    "Listener rule priority `shard_weight`'s cross-process lock uses, 1..50000. It must be free on \
                         every shared listener and the same in every shard directory sharing one. Give the ingress \
                         stack's rules explicit priorities: terraform-provider-aws numbers a rule without one \
                         \"highest + 1\", which is out of range while a lock rule holds 50000. Default: `50000` (the \
                         lowest).",
                ),
            ],
        )
        .with_block(NestedBlock::single(
            "assume_role",
            "Role to assume for every AWS call (`sts:AssumeRole`).",
            vec![
                Attribute::string("role_arn")
                    .required()
                    .validate(validators::string(aws_rules::iam_role_arn))
                    .description("ARN of the role to assume."),
                Attribute::string("session_name")
                    .optional()
                    .validate(validators::string(aws_rules::role_session_name))
                    .description("Session name. Default: `terraform-provider-shard`."),
                Attribute::string("external_id")
                    .optional()
                    .sensitive()
                    .validate(validators::string(aws_rules::external_id))
                    .description("External ID the role's trust policy requires."),
            ],
        ))
        .with_block(NestedBlock::single(
            "endpoints",
            "Custom service endpoints.",
            vec![
                endpoint("elbv2", "Elastic Load Balancing v2"),
                endpoint("eks", "EKS"),
                endpoint("sts", "STS"),
                endpoint("cloudwatch", "CloudWatch (shard_weight's metric_guard)"),
                endpoint("route53", "Route 53 (shard_dns_weight, shard_dns_records)"),
            ],
        ))
        .with_block(kube::connection_block(
            "hub",
            "The Argo CD hub cluster, where cluster Secrets and Applications live. Set exactly one source: `host`, \
             `config_path` or `eks_cluster_name`.",
            kube::BlockKind::Provider,
        ))
    }

    async fn validate(&self, config: &Value) -> Diagnostics {
        let c = match decode::<Config>("provider configuration", config) {
            Ok(c) => c,
            Err(d) => return d,
        };
        let mut d = c.hub.map(|hub| hub.validate(&AttrPath::attr("hub"))).unwrap_or_default();
        // Plain HTTP to AWS is allowed (a VPC proxy, a test double) and loud: STS answers
        // AssumeRole with credentials, EKS with the CA every Kubernetes connection trusts, and
        // ELBv2 with the listener the writes are based on. Loopback endpoints (moto, LocalStack)
        // never leave the machine and are not warned about.
        if let Some(e) = c.endpoints {
            for (name, value, what) in [
                ("sts", e.sts, "AssumeRole's temporary credentials and the EKS token's signed request travel"),
                ("eks", e.eks, "the cluster CA every eks_cluster_name connection trusts travels"),
                ("elbv2", e.elbv2, "listener and target group answers travel"),
                ("cloudwatch", e.cloudwatch, "the metrics a metric_guard judges a ramp by travel"),
                ("route53", e.route53, "the weighted records the DNS writes are based on travel"),
            ] {
                if let Attr::Known(url) = value
                    && validators::is_remote_plaintext(&url)
                {
                    d.push_attr_warning(
                        AttrPath::attr("endpoints").then(name),
                        "AWS endpoint over plain HTTP",
                        format!("{url} is http://: {what} unencrypted and can be altered on the way. Use https://."),
                    );
                }
            }
        }
        d
    }

    async fn configure(&self, config: Value, terraform_version: &str) -> Result<ShardData, Diagnostics> {
        let c: Config = decode("provider configuration", &config)?;
        let mut unknown = Vec::new();
        let region = take(c.region, "region", &mut unknown);
        let profile = take(c.profile, "profile", &mut unknown);
        let assume_role = match c.assume_role {
            Some(r) => take(r.role_arn, "assume_role.role_arn", &mut unknown).map(|role_arn| AssumeRole {
                role_arn,
                session_name: take(r.session_name, "assume_role.session_name", &mut unknown),
                external_id: take(r.external_id, "assume_role.external_id", &mut unknown),
            }),
            None => None,
        };
        let endpoints = match c.endpoints {
            Some(e) => Endpoints {
                elbv2: take(e.elbv2, "endpoints.elbv2", &mut unknown),
                eks: take(e.eks, "endpoints.eks", &mut unknown),
                sts: take(e.sts, "endpoints.sts", &mut unknown),
                cloudwatch: take(e.cloudwatch, "endpoints.cloudwatch", &mut unknown),
                route53: take(e.route53, "endpoints.route53", &mut unknown),
            },
            None => Endpoints::default(),
        };
        let lock_priority = match c.lock_priority {
            Attr::Known(p) => i32::try_from(p).map_err(|_| {
                Diagnostics::attr_error(
                    AttrPath::attr("lock_priority"),
                    "Invalid lock_priority",
                    format!("{p} is not a listener rule priority (1..50000)"),
                )
            })?,
            Attr::Null => crate::clients::listener_lock::DEFAULT_LOCK_PRIORITY,
            Attr::Unknown => {
                return Err(Diagnostics::attr_error(
                    AttrPath::attr("lock_priority"),
                    "lock_priority must be known when planning",
                    "set it to a constant; every shard directory sharing a listener must use the same value",
                ));
            }
        };
        tracing::debug!(?region, ?endpoints, unknown = ?unknown, lock_priority, "provider configured");
        let aws = AwsClients::new(AwsSettings { region, profile, assume_role, endpoints, unknown });
        aws.prepare_elbv2();
        Ok(ShardData {
            aws,
            hub: c.hub,
            kube: Default::default(),
            lock_priority,
            listener_reads: Default::default(),
            terraform_version: terraform_version.to_string(),
        })
    }

    fn resources(&self) -> Vec<Arc<dyn AnyResource<ShardData>>> {
        resources()
    }

    fn data_sources(&self) -> Vec<Arc<dyn AnyDataSource<ShardData>>> {
        data_sources()
    }

    fn ephemeral_resources(&self) -> Vec<Arc<dyn AnyEphemeralResource<ShardData>>> {
        ephemeral_resources()
    }

    fn list_resources(&self) -> Vec<Arc<dyn AnyListResource<ShardData>>> {
        list_resources()
    }

    fn actions(&self) -> Vec<Arc<dyn AnyAction<ShardData>>> {
        actions()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::model::{Coverage, ModelFields, ModelShape, differences, reads_of};

    /// Model fields that are deliberately not attributes of that type's schema, with the reason.
    /// Every entry must still be needed (the test fails on a stale one).
    const NOT_ATTRIBUTES: &[(&str, &str, &str)] = &[
        ("shard_rollout_gate", "cluster.token", "Connection is shared with the provider's hub block; never serialized"),
        (
            "shard_rollout_gate",
            "cluster.argocd_namespace",
            "Connection is shared with the provider's hub block; never serialized",
        ),
    ];

    fn check(type_name: &str, what: &str, schema: &Schema, fields: &ModelFields, coverage: Coverage) -> Vec<String> {
        differences(&schema.block, fields, coverage)
            .into_iter()
            .filter(|d| {
                !NOT_ATTRIBUTES.iter().any(|(t, path, _)| *t == type_name && d.starts_with(&format!("{path}: ")))
            })
            .map(|d| format!("{type_name} ({what}): {d}"))
            .collect()
    }

    /// The differences between every registered type's serde model and its schema. A misspelled
    /// `Option<T>` field would otherwise decode as None without a word.
    fn model_drift() -> (Vec<String>, usize) {
        let mut problems = Vec::new();
        let mut checked = 0;
        // Resources and ephemeral resources: their model is read from and written to Terraform.
        let mut whole = |name: String, schema: Schema, shape: Result<ModelShape, String>| {
            match shape {
                Ok(shape) => {
                    problems.extend(check(&name, "decoded", &schema, &shape.reads, Coverage::All));
                    // Written state has no config-only fields; the exceptions are never serialized.
                    let writes = shape.writes.expect("the model is written back");
                    problems.extend(check(&name, "encoded", &schema, &writes, Coverage::All));
                }
                Err(e) => problems.push(format!("{name}: cannot list the model's fields: {e}")),
            }
            checked += 1;
        };
        for r in resources() {
            whole(format!("shard_{}", r.name()), r.schema(), r.model_shape());
        }
        for e in ephemeral_resources() {
            whole(format!("shard_{}", e.name()), e.schema(), e.model_shape());
        }
        for d in data_sources() {
            let name = format!("shard_{}", d.name());
            match d.config_fields() {
                Ok(f) => problems.extend(check(&name, "configuration", &d.schema(), &f, Coverage::Configurable)),
                Err(e) => problems.push(format!("{name}: cannot list the configuration's fields: {e}")),
            }
            match d.state_fields() {
                Ok(f) => problems.extend(check(&name, "state", &d.schema(), &f, Coverage::All)),
                Err(e) => problems.push(format!("{name}: cannot list the state's fields: {e}")),
            }
            checked += 1;
        }
        match reads_of::<Config>() {
            Ok(f) => problems.extend(check("provider", "configuration", &ShardProvider.schema(), &f, Coverage::All)),
            Err(e) => problems.push(format!("provider: cannot list the configuration's fields: {e}")),
        }
        (problems, checked)
    }

    #[test]
    fn every_model_field_is_a_schema_attribute_and_back() {
        let (problems, checked) = model_drift();
        assert_eq!(checked, resources().len() + data_sources().len() + ephemeral_resources().len());
        assert!(problems.is_empty(), "models and schemas disagree:\n{}", problems.join("\n"));
    }

    #[test]
    fn every_exception_is_still_needed() {
        for (type_name, path, _) in NOT_ATTRIBUTES {
            let r = resources().into_iter().find(|r| format!("shard_{}", r.name()) == *type_name).unwrap();
            let shape = r.model_shape().unwrap();
            let found = differences(&r.schema().block, &shape.reads, Coverage::All)
                .iter()
                .any(|d| d.starts_with(&format!("{path}: a model field")));
            assert!(found, "{type_name} {path} is listed as not an attribute but the model no longer has it");
        }
    }
}
