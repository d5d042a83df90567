//! `shard_argocd_cluster_registration`: a shard as an Argo CD cluster Secret on the hub, written
//! declaratively (no Argo CD API, no admin token, no connection to the shard), optionally
//! waiting until the Applications Argo CD generates for it are Synced and Healthy, and on
//! destroy until they are gone.
//!
//! The Secret is written with server-side apply under this provider's field manager, so labels,
//! annotations and data keys others add survive and only the fields this resource owns are
//! compared. Field names and encodings are Argo CD's own (see [`crate::argo::argocd`]).
//! A write-only `bearer_token` is never stored: a hash of what was written is kept in private
//! state, and a Secret whose token differs from it shows as drift.
//!
//! Here: the model and the resource's contract; [`schema`] (attributes and plan-time checks),
//! [`drift`] (the model against the live Secret: refresh and import), [`hub`] (every call to
//! the hub), [`apply`] (create, update and delete).

mod apply;
mod drift;
mod hub;
mod schema;

use crate::argo::argocd::SECRET_TYPE_LABEL;
use crate::argo::argocd::{
    self, AppStatus, AwsAuthConfig, ClusterConfig, ClusterSecret, ExecProviderConfig, LiveCluster, TlsClientConfig,
};
use crate::clients::ShardData;
use crate::clients::eks::describe_cluster;
use crate::clients::kubernetes::fields::{annotation_field, data_field, label_field};
use crate::clients::kubernetes::names;
use crate::clients::pem::normalise_ca;
use crate::framework::schema::{IdentityAttribute, IdentitySchema};
use crate::framework::timeouts::{Op, Timeouts};
use crate::framework::{
    Attr, AttrPath, CreateRequest, Ctx, DeleteRequest, Diagnostics, ImportRequest, Outcome, PlanRequest, ReadRequest,
    Resource, Schema, UpdateRequest, ValidateRequest,
};
use crate::protocol::value::Value;
use async_trait::async_trait;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const DEFAULT_WAIT: &str = "20m";
/// Private state key: SHA-256 of the bearer token last written.
const TOKEN_HASH: &str = "bearer_token_sha256";

#[derive(Default)]
pub struct ClusterRegistrationResource;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Model {
    id: Attr<String>,
    name: String,
    namespace: Attr<String>,
    secret_name: Attr<String>,
    eks_cluster_name: Option<String>,
    server: Attr<String>,
    ca_data: Attr<String>,
    insecure: bool,
    aws_auth: Option<AwsAuth>,
    exec: Option<Exec>,
    /// Write-only: always null here (the value comes from the configuration).
    bearer_token: Option<String>,
    bearer_token_version: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
    project: Option<String>,
    namespaces: Option<Vec<String>>,
    cluster_resources: Option<bool>,
    controller_shard: Option<i64>,
    wait_for_sync: Option<WaitForSync>,
    wait_for_removal: bool,
    force_conflicts: bool,
    applications: Attr<Vec<AppEntry>>,
    timeouts: Option<Timeouts>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
struct AwsAuth {
    role_arn: Option<String>,
    cluster_name: Option<String>,
    profile: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
struct Exec {
    command: String,
    args: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    api_version: Option<String>,
    install_hint: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
struct WaitForSync {
    min_applications: i64,
    timeout: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
struct AppEntry {
    name: String,
    sync_status: String,
    health_status: String,
}

impl From<&AppStatus> for AppEntry {
    fn from(a: &AppStatus) -> AppEntry {
        AppEntry { name: a.name.clone(), sync_status: a.sync_status.clone(), health_status: a.health_status.clone() }
    }
}

/// `<namespace>/<secret_name>`: the id and the import id.
pub fn resource_id(namespace: &str, secret_name: &str) -> String {
    format!("{namespace}/{secret_name}")
}

fn known_str(a: &Attr<String>) -> Option<&str> {
    a.known().map(String::as_str)
}

impl Model {
    fn namespace(&self) -> &str {
        known_str(&self.namespace).unwrap_or(argocd::DEFAULT_ARGOCD_NAMESPACE)
    }
    fn secret_name(&self) -> String {
        known_str(&self.secret_name).map(str::to_string).unwrap_or_else(|| argocd::secret_name_for(&self.name))
    }
    fn server(&self) -> &str {
        known_str(&self.server).unwrap_or_default()
    }
    /// The cluster name Argo CD's awsAuthConfig uses: the block's, else eks_cluster_name.
    fn aws_cluster_name(&self) -> Option<String> {
        self.aws_auth.as_ref().and_then(|a| a.cluster_name.clone()).or_else(|| self.eks_cluster_name.clone())
    }
    fn describe(&self) -> String {
        format!("Secret {}/{}", self.namespace(), self.secret_name())
    }

    /// `config` as this model writes it; `token` is the write-only value from the configuration.
    fn cluster_config(&self, token: Option<&str>) -> Result<ClusterConfig, Diagnostics> {
        let ca_data = match known_str(&self.ca_data) {
            Some(ca) => {
                let pem = normalise_ca(ca)
                    .map_err(|e| Diagnostics::attr_error(AttrPath::attr("ca_data"), "Invalid CA certificate", e))?;
                // PEM text ends with a newline (as EKS's certificateAuthority.data decodes).
                let pem = format!("{}\n", pem.trim_end());
                base64::engine::general_purpose::STANDARD.encode(pem.as_bytes())
            }
            None => String::new(),
        };
        let mut config = ClusterConfig {
            tls: TlsClientConfig { insecure: self.insecure, ca_data, ..Default::default() },
            ..Default::default()
        };
        if let Some(a) = &self.aws_auth {
            config.aws_auth = Some(AwsAuthConfig {
                cluster_name: self.aws_cluster_name().unwrap_or_default(),
                role_arn: a.role_arn.clone().unwrap_or_default(),
                profile: a.profile.clone().unwrap_or_default(),
            });
        }
        if let Some(e) = &self.exec {
            config.exec = Some(ExecProviderConfig {
                command: e.command.clone(),
                args: e.args.clone().unwrap_or_default(),
                env: e.env.clone().unwrap_or_default(),
                api_version: e.api_version.clone().unwrap_or_default(),
                install_hint: e.install_hint.clone().unwrap_or_default(),
                ..Default::default()
            });
        }
        if let Some(t) = token {
            config.bearer_token = t.to_string();
        }
        Ok(config)
    }

    fn cluster_secret(&self, token: Option<&str>) -> Result<ClusterSecret, Diagnostics> {
        Ok(ClusterSecret {
            namespace: self.namespace().to_string(),
            secret_name: self.secret_name(),
            name: self.name.clone(),
            server: self.server().to_string(),
            namespaces: self.namespaces.clone().unwrap_or_default(),
            cluster_resources: self.cluster_resources.unwrap_or(false),
            project: self.project.clone(),
            shard: self.controller_shard,
            config: self.cluster_config(token)?,
            labels: self.labels.clone().unwrap_or_default(),
            annotations: self.annotations.clone().unwrap_or_default(),
        })
    }

    /// Secret fields this state says the resource owns (conflicts on them are drift to repair).
    fn owned_fields(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = ["name", "server", "config"].iter().map(|k| data_field(k)).collect();
        if self.namespaces.as_ref().is_some_and(|n| !n.is_empty()) {
            out.insert(data_field("namespaces"));
        }
        if self.cluster_resources == Some(true) {
            out.insert(data_field("clusterResources"));
        }
        if self.project.as_ref().is_some_and(|p| !p.is_empty()) {
            out.insert(data_field("project"));
        }
        if self.controller_shard.is_some() {
            out.insert(data_field("shard"));
        }
        out.extend(self.labels.iter().flatten().map(|(k, _)| label_field(k)));
        out.extend(self.annotations.iter().flatten().map(|(k, _)| annotation_field(k)));
        out.insert(label_field(SECRET_TYPE_LABEL));
        out
    }
}

/// The endpoint and CA (PEM) of an EKS cluster, within the operation's deadline.
async fn eks_endpoint(ctx: &Ctx<ShardData>, cluster: &str) -> Result<(String, String), Diagnostics> {
    let failed = |detail: String| {
        Diagnostics::attr_error(AttrPath::attr("eks_cluster_name"), "Cannot describe the EKS cluster", detail)
    };
    let described = match ctx.bounded(describe_cluster(&ctx.data.aws, cluster)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(failed(format!("EKS cluster {cluster}: {e}"))),
        Err(i) => return Err(failed(format!("DescribeCluster of EKS cluster {cluster}: {i}"))),
    };
    described.endpoint_and_ca().map_err(|e| failed(format!("EKS cluster {cluster} {e}")))
}

/// The namespace Argo CD runs in on the hub: the provider's `hub.argocd_namespace`, else
/// `argocd`; None while the provider's value is unknown.
fn hub_namespace(ctx: &Ctx<ShardData>) -> Option<String> {
    match ctx.data.hub_argocd_namespace() {
        Attr::Known(ns) => Some(ns),
        Attr::Unknown => None,
        Attr::Null => Some(argocd::DEFAULT_ARGOCD_NAMESPACE.to_string()),
    }
}

fn set(planned: &mut Value, name: &str, v: Value) {
    if let Some(slot) = planned.get_mut(name) {
        *slot = v;
    }
}

#[async_trait]
impl Resource<ShardData> for ClusterRegistrationResource {
    type Model = Model;

    fn name(&self) -> &'static str {
        "argocd_cluster_registration"
    }

    fn default_timeout(&self, op: Op) -> Duration {
        match op {
            Op::Create | Op::Update => Duration::from_secs(30 * 60),
            Op::Delete => Duration::from_secs(20 * 60),
            Op::Read => Duration::from_secs(5 * 60),
        }
    }

    fn schema(&self) -> Schema {
        schema::schema(|op| self.default_timeout(op))
    }

    fn identity(&self) -> Option<IdentitySchema> {
        Some(IdentitySchema {
            version: 0,
            attributes: vec![
                IdentityAttribute::string("namespace", true, "Namespace of the cluster Secret."),
                IdentityAttribute::string("secret_name", true, "Name of the cluster Secret."),
            ],
        })
    }

    fn import_id(&self, identity: &Value) -> Result<String, Diagnostics> {
        match (identity.get("namespace").as_str(), identity.get("secret_name").as_str()) {
            (Some(ns), Some(name)) => Ok(resource_id(ns, name)),
            _ => Err(Diagnostics::error("Incomplete identity", "namespace and secret_name are required")),
        }
    }

    async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
        schema::validate_config(&req.config)
    }

    async fn modify_plan(&self, ctx: &Ctx<ShardData>, req: &mut PlanRequest<Model>) {
        if req.planned.is_null() {
            return;
        }
        if ctx.data.hub.is_none() {
            req.diags.push_error(
                "No hub connection",
                "shard_argocd_cluster_registration writes to the Argo CD hub: set provider \"shard\" { hub { ... } }",
            );
            return;
        }
        let config = req.config.clone();
        let planned = &mut req.planned;
        if planned.get("namespace").is_unknown()
            && config.get("namespace").is_null()
            && let Some(ns) = hub_namespace(ctx)
        {
            set(planned, "namespace", Value::str(ns));
        }
        if planned.get("secret_name").is_unknown()
            && config.get("secret_name").is_null()
            && let Some(name) = planned.get("name").as_str()
        {
            let derived = argocd::secret_name_for(name);
            set(planned, "secret_name", Value::str(derived));
        }
        if let (Some(ns), Some(name)) = (planned.get("namespace").as_str(), planned.get("secret_name").as_str()) {
            let id = resource_id(ns, name);
            set(planned, "id", Value::str(id));
        }
        // Endpoint and CA: from EKS when not configured. On create they stay unknown until apply
        // (one DescribeCluster then); on update they are compared with EKS now, so a cluster
        // recreated under the same name (new endpoint, new CA) is registered again.
        let eks = config.get("eks_cluster_name").clone();
        let creating = req.prior.is_none();
        let endpoint_unset = config.get("server").is_null();
        let ca_unset = config.get("ca_data").is_null();
        if eks.is_null() {
            if ca_unset {
                set(planned, "ca_data", Value::Null);
            }
        } else if eks.is_unknown() {
            if endpoint_unset {
                set(planned, "server", Value::Unknown);
            }
            if ca_unset {
                set(planned, "ca_data", Value::Unknown);
            }
        } else if !creating && (endpoint_unset || ca_unset) && ctx.data.aws.settings().unknown.is_empty() {
            let cluster = eks.as_str().unwrap_or_default().to_string();
            match eks_endpoint(ctx, &cluster).await {
                Ok((endpoint, ca)) => {
                    if endpoint_unset && planned.get("server").as_str() != Some(argocd::trim_server(&endpoint)) {
                        set(planned, "server", Value::str(argocd::trim_server(&endpoint)));
                    }
                    let same_ca = planned
                        .get("ca_data")
                        .as_str()
                        .and_then(|c| normalise_ca(c).ok())
                        .is_some_and(|c| c.trim() == ca.trim());
                    if ca_unset && !same_ca {
                        set(planned, "ca_data", Value::str(ca));
                    }
                }
                Err(d) => req.diags.extend(d),
            }
        }
        // Anything else changing: the Applications seen after apply are not known yet.
        if let Some(prior) = &req.prior
            && let Ok(prior_value) = crate::framework::resource::encode(prior)
        {
            let mut a = planned.clone();
            let mut b = prior_value;
            set(&mut a, "applications", Value::Null);
            set(&mut b, "applications", Value::Null);
            if a.conform(&self.schema().value_type()) != b.conform(&self.schema().value_type()) {
                set(planned, "applications", Value::Unknown);
            }
        }
    }

    async fn create(&self, ctx: &Ctx<ShardData>, req: CreateRequest<Model>) -> Result<Outcome<Model>, Diagnostics> {
        apply::converge(ctx, req.planned, &req.config, req.private, None).await
    }

    async fn read(&self, ctx: &Ctx<ShardData>, req: ReadRequest<Model>) -> Result<Outcome<Model>, Diagnostics> {
        let state = req.state;
        let client = ctx.data.hub_client(ctx).await?;
        let Some(secret) = hub::get_secret(ctx, &client, state.namespace(), &state.secret_name()).await? else {
            return Ok(Outcome::gone());
        };
        let live = LiveCluster::from_secret(&secret);
        if !live.is_cluster {
            ctx.warn(
                format!("{} is no longer an Argo CD cluster Secret", state.describe()),
                format!(
                    "its label {SECRET_TYPE_LABEL}: cluster is gone, so Argo CD ignores it; the plan writes it again"
                ),
            );
            return Ok(Outcome::gone());
        }
        let mut warnings = Vec::new();
        let mut m = drift::refresh(&state, &live, &req.private, &mut warnings);
        if !warnings.is_empty() {
            ctx.warn(
                format!("{} changed outside Terraform", state.describe()),
                format!("{}; the plan writes it again", warnings.join("; ")),
            );
        }
        match hub::list_apps(ctx, &client, m.namespace(), &live.server, &live.name).await {
            Ok(apps) => m.applications = Attr::Known(apps.iter().map(AppEntry::from).collect()),
            Err(e) if e.is_not_found() || e.is_missing_type() => m.applications = Attr::Known(Vec::new()),
            Err(e) => {
                // Listing Applications only informs `applications`; the registration stands.
                tracing::warn!(error = %e, "cannot list Applications; keeping the last list seen");
                if m.applications.is_unknown() || m.applications.is_null() {
                    m.applications = Attr::Known(Vec::new());
                }
            }
        }
        Ok(Outcome::ok(m))
    }

    async fn update(&self, ctx: &Ctx<ShardData>, req: UpdateRequest<Model>) -> Result<Outcome<Model>, Diagnostics> {
        apply::converge(ctx, req.planned, &req.config, req.private, Some(&req.prior)).await
    }

    async fn delete(&self, ctx: &Ctx<ShardData>, req: DeleteRequest<Model>) -> Result<(), Diagnostics> {
        apply::remove(ctx, &req.state).await
    }

    async fn import(&self, ctx: &Ctx<ShardData>, req: ImportRequest) -> Result<Outcome<Model>, Diagnostics> {
        let usage = "expected `<namespace>/<secret_name>`, e.g. argocd/cluster-shard-2";
        let (ns, name) = req
            .id
            .split_once('/')
            .filter(|(ns, name)| names::dns_label(ns).is_ok() && names::dns_subdomain(name).is_ok())
            .ok_or_else(|| Diagnostics::error("Invalid import id", format!("{:?}: {usage}", req.id)))?;
        let client = ctx.data.hub_client(ctx).await?;
        let secret = hub::get_secret(ctx, &client, ns, name).await?;
        let Some(secret) = secret else {
            return Err(Diagnostics::error("Cannot import", format!("no Secret {ns}/{name} on {}", client.host)));
        };
        let live = LiveCluster::from_secret(&secret);
        if !live.is_cluster {
            return Err(Diagnostics::error(
                "Cannot import",
                format!("Secret {ns}/{name} is not an Argo CD cluster Secret (no label {SECRET_TYPE_LABEL}: cluster)"),
            ));
        }
        Ok(Outcome::ok(drift::imported(ns, name, &secret, &live)?))
    }
}
