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
//! Here: the resource's contract; [`model`] (state and the Secret it describes), [`schema`]
//! (attributes and plan-time checks),
//! [`drift`] (the model against the live Secret: refresh and import), [`hub`] (every call to
//! the hub), [`apply`] (create, update and delete).

mod apply;
mod drift;
mod hub;
mod list;
mod model;
mod schema;

use apply::{eks_endpoint, hub_namespace};
pub use model::Model;
use model::{AppEntry, resource_id};

use crate::argo::argocd::{self, LiveCluster, SECRET_TYPE_LABEL};
use crate::clients::ShardData;
use crate::clients::kubernetes::names;
use crate::clients::pem::normalise_ca;
use crate::framework::schema::{IdentityAttribute, IdentitySchema};
use crate::framework::timeouts::Op;
use crate::framework::{
    Attr, AttrPath, CreateRequest, Ctx, DeleteRequest, Diagnostics, ImportRequest, Outcome, PlanRequest, ReadRequest,
    Resource, Schema, UpdateRequest, ValidateRequest,
};
use crate::protocol::value::Value;
use async_trait::async_trait;
use std::time::Duration;

fn set(planned: &mut Value, name: &str, v: Value) {
    if let Some(slot) = planned.get_mut(name) {
        *slot = v;
    }
}

#[derive(Default)]
pub struct ClusterRegistrationResource;

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
        if let (Some(prior), Some(name)) = (&req.prior, req.planned.get("name").as_str())
            && prior.name != name
        {
            req.diags.push_attr_warning(
                AttrPath::attr("name"),
                "Renaming the cluster redeploys its Applications",
                format!(
                    "{:?} becomes {name:?}: ApplicationSet templates that use {{{{name}}}} (Application names, \
                     destination.name) generate new Applications for the new name and delete the old ones, which \
                     redeploys the shard's workload. Keep the name unless that is intended.",
                    prior.name
                ),
            );
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
        // With insecure, no CA is written at all (client-go refuses a CA with insecure), so none
        // is read from EKS either.
        let insecure = config.get("insecure").as_bool() == Some(true);
        let ca_unset = config.get("ca_data").is_null();
        if insecure && ca_unset {
            set(planned, "ca_data", Value::Null);
        }
        let ca_unset = ca_unset && !insecure;
        if eks.is_null() {
            if config.get("ca_data").is_null() {
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
