//! Adapts a framework [`Provider`] to the tfplugin6 gRPC service: decodes values with each
//! type's schema, runs validators and plan automation, calls the author's code, and encodes
//! results, enforcing Terraform's invariants on the way out.

use super::action::AnyAction;
use super::context::Ctx;
use super::data_source::AnyDataSource;
use super::diag::{AttrPath, Diagnostics};
use super::ephemeral::AnyEphemeralResource;
use super::generate;
use super::list::{AnyListResource, Listed, Listing};
use super::model::ValidateRequest;
use super::plan;
use super::private::Private;
use super::provider::Provider;
use super::resource::{AnyResource, ImportRequest, RawApply, RawOutcome, RawPlan, RawRead};
use super::schema::{AttrKind, Block, IdentitySchema, Schema, run_validators};
use super::timeouts::{Op, parse_duration};
use crate::protocol::tfplugin6::{self as pb, provider_server::Provider as GrpcProvider};
use crate::protocol::value::{Type, Value};
use crate::protocol::{json, msgpack};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

/// A server-streaming response (ListResource, InvokeAction).
type EventStream<T> = Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;

struct Entry<T: ?Sized> {
    imp: Arc<T>,
    schema: Schema,
    ty: Type,
    /// The identity schema and its value type.
    identity: Option<(IdentitySchema, Type)>,
}

/// Entries by full type name (`<prefix>_<name>`), each schema built once.
fn registry<T: ?Sized>(
    prefix: &str,
    imps: Vec<Arc<T>>,
    describe: impl Fn(&T) -> (&'static str, Schema, Option<IdentitySchema>),
) -> HashMap<String, Entry<T>> {
    imps.into_iter()
        .map(|imp| {
            let (name, schema, identity) = describe(&imp);
            let ty = schema.value_type();
            let identity = identity.map(|i| {
                let ty = i.value_type();
                (i, ty)
            });
            (format!("{prefix}_{name}"), Entry { imp, schema, ty, identity })
        })
        .collect()
}

impl<T: ?Sized> Entry<T> {
    /// The identity data to send with a state, for resources that have an identity.
    fn identity_of(&self, state: &Value) -> Option<pb::ResourceIdentityData> {
        let (schema, ty) = self.identity.as_ref()?;
        let identity = schema.of_state(state)?;
        Some(pb::ResourceIdentityData { identity_data: encode(ty, identity) })
    }

    /// The identity Terraform sent, decoded (None when absent or unreadable).
    fn identity_from(&self, data: Option<&pb::ResourceIdentityData>) -> Option<Value> {
        let (_, ty) = self.identity.as_ref()?;
        decode(ty, data?.identity_data.as_ref()).ok().filter(|v| !v.is_null())
    }
}

/// The limit of `op` for an instance: its `timeouts` block entry if set, else the default.
pub fn operation_limit(value: &Value, op: Op, default: Duration) -> Duration {
    value.get("timeouts").get(op.name()).as_str().and_then(|s| parse_duration(s).ok()).unwrap_or(default)
}

/// Paths of write-only attributes the configuration sets.
fn write_only_set(block: &Block, config: &Value, path: &AttrPath, out: &mut Vec<AttrPath>) {
    if config.is_null() || config.is_unknown() {
        return;
    }
    for a in &block.attributes {
        let v = config.get(&a.name);
        if a.write_only && !v.is_null() {
            out.push(path.then(&a.name));
        }
        if let AttrKind::Nested(_, attrs) = &a.kind {
            let inner = Block { attributes: attrs.clone(), ..Block::default() };
            for_each_element(v, &path.then(&a.name), |ev, p| write_only_set(&inner, ev, &p, out));
        }
    }
    for b in &block.blocks {
        for_each_element(config.get(&b.name), &path.then(&b.name), |ev, p| write_only_set(&b.block, ev, &p, out));
    }
}

/// The first Terraform release that supports write-only attributes (tfplugin6.8, Terraform 1.11:
/// https://developer.hashicorp.com/terraform/plugin/framework/resources/write-only-arguments).
pub const WRITE_ONLY_SINCE: &str = "1.11";

/// Errors for write-only attributes `config` sets when the client did not say it honours them
/// (`ClientCapabilities.write_only_attributes_allowed`, sent by Terraform 1.11+). An older client
/// knows no write-only flag in the schema: it would plan and store the value as an ordinary
/// attribute, so the value must be refused, never accepted and dropped. `client` names the
/// Terraform release when ConfigureProvider told it (validation comes before configuration).
fn write_only_refusals(
    block: &Block,
    config: &Value,
    capabilities: Option<&pb::ClientCapabilities>,
    client: Option<&str>,
) -> Diagnostics {
    let mut diags = Diagnostics::new();
    if capabilities.is_some_and(|c| c.write_only_attributes_allowed) {
        return diags;
    }
    let mut set = Vec::new();
    write_only_set(block, config, &AttrPath::root(), &mut set);
    let this = match client {
        Some(v) if !v.is_empty() => format!("This Terraform ({v})"),
        _ => "This Terraform client".to_string(),
    };
    for path in set {
        diags.push_attr_error(
            path.clone(),
            "Write-only attribute not supported by this Terraform",
            format!(
                "{path} is write-only: Terraform {WRITE_ONLY_SINCE} or later sends it to the provider without storing it. \
                 {this} does not support write-only attributes and would store it in state; upgrade Terraform \
                 to {WRITE_ONLY_SINCE} or later, or leave {path} unset"
            ),
        );
    }
    diags
}

/// Calls `f` with a single nested object or each element of a nested collection.
fn for_each_element(v: &Value, path: &AttrPath, mut f: impl FnMut(&Value, AttrPath)) {
    match v {
        Value::List(items) | Value::Set(items) => {
            items.iter().enumerate().for_each(|(i, item)| f(item, path.index(i)));
        }
        Value::Map(m) => m.iter().for_each(|(k, item)| f(item, path.key(k))),
        Value::Null | Value::Unknown => {}
        single => f(single, path.clone()),
    }
}

/// A provider's schemas, sorted by type name.
pub struct Schemas {
    pub provider: Schema,
    pub resources: Vec<(String, Schema)>,
    pub data_sources: Vec<(String, Schema)>,
    pub ephemeral_resources: Vec<(String, Schema)>,
    /// The `config` block of each list resource, by the managed type it lists.
    pub list_resources: Vec<(String, Schema)>,
    pub actions: Vec<(String, Schema)>,
}

/// The gRPC face of a provider. Schemas are built once, at start.
pub struct Server<P: Provider> {
    provider: P,
    provider_schema: Schema,
    provider_type: Type,
    resources: HashMap<String, Entry<dyn AnyResource<P::Data>>>,
    data_sources: HashMap<String, Entry<dyn AnyDataSource<P::Data>>>,
    ephemeral_resources: HashMap<String, Entry<dyn AnyEphemeralResource<P::Data>>>,
    list_resources: HashMap<String, Entry<dyn AnyListResource<P::Data>>>,
    actions: HashMap<String, Entry<dyn AnyAction<P::Data>>>,
    data: RwLock<Option<Arc<P::Data>>>,
    /// The Terraform release ConfigureProvider named, for diagnostics that say what it lacks.
    client: RwLock<Option<String>>,
    /// Cancelled by StopProvider, then replaced: operations that start after a stop run normally
    /// (as terraform-plugin-go does).
    stop: Mutex<CancellationToken>,
}

impl<P: Provider> Server<P> {
    pub fn new(provider: P) -> Server<P> {
        let prefix = provider.type_name();
        let resources = registry(prefix, provider.resources(), |imp| (imp.name(), imp.schema(), imp.identity()));
        let data_sources = registry(prefix, provider.data_sources(), |imp| (imp.name(), imp.schema(), None));
        let ephemeral_resources =
            registry(prefix, provider.ephemeral_resources(), |imp| (imp.name(), imp.schema(), None));
        let list_resources = registry(prefix, provider.list_resources(), |imp| (imp.name(), imp.schema(), None));
        let actions = registry(prefix, provider.actions(), |imp| (imp.name(), imp.schema(), None));
        let provider_schema = provider.schema();
        let provider_type = provider_schema.value_type();
        Server {
            provider,
            provider_schema,
            provider_type,
            resources,
            data_sources,
            ephemeral_resources,
            list_resources,
            actions,
            data: RwLock::new(None),
            client: RwLock::new(None),
            stop: Mutex::new(CancellationToken::new()),
        }
    }

    /// Every registered schema, by full type name (for docs and schema checks).
    pub fn schemas(&self) -> Schemas {
        fn sorted<T: ?Sized>(entries: &HashMap<String, Entry<T>>) -> Vec<(String, Schema)> {
            let mut out: Vec<_> = entries.iter().map(|(k, e)| (k.clone(), e.schema.clone())).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        Schemas {
            provider: self.provider_schema.clone(),
            resources: sorted(&self.resources),
            data_sources: sorted(&self.data_sources),
            ephemeral_resources: sorted(&self.ephemeral_resources),
            list_resources: sorted(&self.list_resources),
            actions: sorted(&self.actions),
        }
    }

    /// The Terraform release that configured this provider, once it has.
    fn client_version(&self) -> Option<String> {
        self.client.read().ok().and_then(|c| c.clone())
    }

    /// The token the next StopProvider cancels; operations started now watch it.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A context for one operation that may take `limit`.
    fn ctx(&self, limit: Duration) -> Result<Ctx<P::Data>, Diagnostics> {
        let data = self.data.read().ok().and_then(|d| d.clone());
        match data {
            Some(data) => Ok(Ctx::new(data, self.stop_token().child_token(), limit)),
            None => Err(Diagnostics::error(
                "Provider not configured",
                "Terraform did not call ConfigureProvider before this operation",
            )),
        }
    }

    fn resource(&self, name: &str) -> Result<&Entry<dyn AnyResource<P::Data>>, Status> {
        self.resources.get(name).ok_or_else(|| Status::not_found(format!("unknown resource type {name}")))
    }

    fn data_source(&self, name: &str) -> Result<&Entry<dyn AnyDataSource<P::Data>>, Status> {
        self.data_sources.get(name).ok_or_else(|| Status::not_found(format!("unknown data source type {name}")))
    }

    fn list_resource(&self, name: &str) -> Result<&Entry<dyn AnyListResource<P::Data>>, Status> {
        self.list_resources.get(name).ok_or_else(|| Status::not_found(format!("unknown list resource type {name}")))
    }

    fn action(&self, name: &str) -> Result<&Entry<dyn AnyAction<P::Data>>, Status> {
        self.actions.get(name).ok_or_else(|| Status::not_found(format!("unknown action type {name}")))
    }

    fn ephemeral_resource(&self, name: &str) -> Result<&Entry<dyn AnyEphemeralResource<P::Data>>, Status> {
        self.ephemeral_resources
            .get(name)
            .ok_or_else(|| Status::not_found(format!("unknown ephemeral resource type {name}")))
    }
}

fn decode(ty: &Type, dv: Option<&pb::DynamicValue>) -> Result<Value, Status> {
    let Some(dv) = dv else { return Ok(Value::Null) };
    if !dv.msgpack.is_empty() {
        msgpack::decode(ty, &dv.msgpack).map_err(|e| Status::invalid_argument(e.to_string()))
    } else if !dv.json.is_empty() {
        json::decode(ty, &dv.json).map_err(Status::invalid_argument)
    } else {
        Ok(Value::Null)
    }
}

fn encode(ty: &Type, v: Value) -> Option<pb::DynamicValue> {
    let v = v.conform(ty);
    Some(pb::DynamicValue { msgpack: msgpack::encode(ty, &v), json: Vec::new() })
}

/// A renewal time as protobuf's Timestamp.
fn timestamp(at: SystemTime) -> prost_types::Timestamp {
    let since = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp { seconds: since.as_secs() as i64, nanos: since.subsec_nanos() as i32 }
}

/// Private data from Terraform's optional bytes.
fn private_of(bytes: Option<&Vec<u8>>) -> Private {
    bytes.map(|b| Private::from_bytes(b)).unwrap_or_default()
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: true,
        get_provider_schema_optional: true,
        move_resource_state: false,
        // Terraform 1.14+ asks us for `-generate-config-out` configuration instead of guessing
        // it from state (which would write every default out).
        generate_resource_config: true,
    }
}

#[tonic::async_trait]
impl<P: Provider> GrpcProvider for Server<P> {
    async fn get_metadata(
        &self,
        _: Request<pb::get_metadata::Request>,
    ) -> Result<Response<pb::get_metadata::Response>, Status> {
        use pb::get_metadata as m;
        let mut resources: Vec<_> = self.resources.keys().cloned().collect();
        let mut data_sources: Vec<_> = self.data_sources.keys().cloned().collect();
        let mut ephemeral: Vec<_> = self.ephemeral_resources.keys().cloned().collect();
        let mut lists: Vec<_> = self.list_resources.keys().cloned().collect();
        let mut actions: Vec<_> = self.actions.keys().cloned().collect();
        resources.sort();
        data_sources.sort();
        ephemeral.sort();
        lists.sort();
        actions.sort();
        Ok(Response::new(m::Response {
            server_capabilities: Some(capabilities()),
            diagnostics: Vec::new(),
            data_sources: data_sources.into_iter().map(|type_name| m::DataSourceMetadata { type_name }).collect(),
            resources: resources.into_iter().map(|type_name| m::ResourceMetadata { type_name }).collect(),
            functions: Vec::new(),
            ephemeral_resources: ephemeral.into_iter().map(|type_name| m::EphemeralMetadata { type_name }).collect(),
            list_resources: lists.into_iter().map(|type_name| m::ListResourceMetadata { type_name }).collect(),
            actions: actions.into_iter().map(|type_name| m::ActionMetadata { type_name }).collect(),
        }))
    }

    async fn get_provider_schema(
        &self,
        _: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(self.provider_schema.to_proto()),
            resource_schemas: self.resources.iter().map(|(k, e)| (k.clone(), e.schema.to_proto())).collect(),
            data_source_schemas: self.data_sources.iter().map(|(k, e)| (k.clone(), e.schema.to_proto())).collect(),
            diagnostics: Vec::new(),
            provider_meta: None,
            server_capabilities: Some(capabilities()),
            functions: Default::default(),
            ephemeral_resource_schemas: self
                .ephemeral_resources
                .iter()
                .map(|(k, e)| (k.clone(), e.schema.to_proto()))
                .collect(),
            list_resource_schemas: self.list_resources.iter().map(|(k, e)| (k.clone(), e.schema.to_proto())).collect(),
            action_schemas: self
                .actions
                .iter()
                .map(|(k, e)| (k.clone(), pb::ActionSchema { schema: Some(e.schema.to_proto()) }))
                .collect(),
        }))
    }

    async fn validate_provider_config(
        &self,
        req: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let config = decode(&self.provider_type, req.get_ref().config.as_ref())?;
        let mut diags = Diagnostics::new();
        run_validators(&self.provider_schema.block, &config, &AttrPath::root(), &mut diags);
        diags.extend(self.provider.validate(&config).await);
        Ok(Response::new(pb::validate_provider_config::Response { diagnostics: diags.to_proto() }))
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let req = req.into_inner();
        let e = self.resource(&req.type_name)?;
        let config = decode(&e.ty, req.config.as_ref())?;
        // Refused the way terraform-plugin-framework does, before anything is planned.
        let client = self.client_version();
        let mut diags =
            write_only_refusals(&e.schema.block, &config, req.client_capabilities.as_ref(), client.as_deref());
        run_validators(&e.schema.block, &config, &AttrPath::root(), &mut diags);
        diags.extend(e.imp.validate(&ValidateRequest { config }).await);
        Ok(Response::new(pb::validate_resource_config::Response { diagnostics: diags.to_proto() }))
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let req = req.into_inner();
        let e = self.data_source(&req.type_name)?;
        let config = decode(&e.ty, req.config.as_ref())?;
        let mut diags = Diagnostics::new();
        run_validators(&e.schema.block, &config, &AttrPath::root(), &mut diags);
        diags.extend(e.imp.validate(&ValidateRequest { config }).await);
        Ok(Response::new(pb::validate_data_resource_config::Response { diagnostics: diags.to_proto() }))
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let req = req.into_inner();
        let e = self.resource(&req.type_name)?;
        let raw = req.raw_state.map(|r| r.json).unwrap_or_default();
        let json: serde_json::Value = if raw.is_empty() {
            serde_json::Value::Null
        } else {
            // Exact numbers: a value serde_json would round to f64 arrives as its decimal text.
            json::parse(&raw).map_err(|e| Status::invalid_argument(format!("raw state: {e}")))?
        };
        let (state, diags) = match e.imp.upgrade_state(&e.schema, req.version, json) {
            Ok(mut v) => {
                plan::null_write_only(&e.schema.block, &mut v);
                (encode(&e.ty, v), Diagnostics::new())
            }
            Err(d) => (None, d),
        };
        Ok(Response::new(pb::upgrade_resource_state::Response { upgraded_state: state, diagnostics: diags.to_proto() }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Result<Response<pb::get_resource_identity_schemas::Response>, Status> {
        Ok(Response::new(pb::get_resource_identity_schemas::Response {
            identity_schemas: self
                .resources
                .iter()
                .filter_map(|(k, e)| e.identity.as_ref().map(|(i, _)| (k.clone(), i.to_proto())))
                .collect(),
            diagnostics: Vec::new(),
        }))
    }

    async fn upgrade_resource_identity(
        &self,
        req: Request<pb::upgrade_resource_identity::Request>,
    ) -> Result<Response<pb::upgrade_resource_identity::Response>, Status> {
        let req = req.into_inner();
        let e = self.resource(&req.type_name)?;
        let Some((_, ty)) = &e.identity else {
            return Err(Status::not_found(format!("{} has no resource identity", req.type_name)));
        };
        let raw = req.raw_identity.map(|r| r.json).unwrap_or_default();
        let (identity, diags) = match json::decode(ty, &raw) {
            Ok(v) => (Some(pb::ResourceIdentityData { identity_data: encode(ty, v) }), Diagnostics::new()),
            Err(err) => (None, Diagnostics::error("Could not read the stored identity", err)),
        };
        Ok(Response::new(pb::upgrade_resource_identity::Response {
            upgraded_identity: identity,
            diagnostics: diags.to_proto(),
        }))
    }

    async fn configure_provider(
        &self,
        req: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let req = req.into_inner();
        let config = decode(&self.provider_type, req.config.as_ref())?;
        let caps = req.client_capabilities.unwrap_or_default();
        // What this client can do, from what it sent (absent fields: a client older than them).
        tracing::debug!(
            terraform_version = %req.terraform_version,
            write_only_attributes = caps.write_only_attributes_allowed,
            deferral = caps.deferral_allowed,
            "terraform client"
        );
        if let Ok(mut slot) = self.client.write() {
            *slot = Some(req.terraform_version.clone());
        }
        let diags = match self.provider.configure(config, &req.terraform_version).await {
            Ok(data) => {
                if let Ok(mut slot) = self.data.write() {
                    *slot = Some(Arc::new(data));
                }
                Diagnostics::new()
            }
            Err(d) => d,
        };
        Ok(Response::new(pb::configure_provider::Response { diagnostics: diags.to_proto() }))
    }

    async fn read_resource(
        &self,
        req: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        let req = req.into_inner();
        let e = self.resource(&req.type_name)?;
        let current = decode(&e.ty, req.current_state.as_ref())?;
        let limit = operation_limit(&current, Op::Read, e.imp.default_timeout(Op::Read));
        let (new_state, private, diags) = match self.ctx(limit) {
            Err(d) => (current, None, d),
            Ok(ctx) => {
                let read = RawRead {
                    state: current.clone(),
                    private: Private::from_bytes(&req.private),
                    identity: e.identity_from(req.current_identity.as_ref()),
                };
                let mut out = e.imp.read(&ctx, read).await;
                out.diags.extend(ctx.take_diagnostics());
                // Unknown: a failed refresh keeps the state we had, it must not drop the resource.
                let mut state = if out.state.is_unknown() { current } else { out.state };
                plan::null_write_only(&e.schema.block, &mut state);
                if !state.is_null() && !state.is_wholly_known() {
                    out.diags
                        .push_error("Provider returned unknown values from a read", "this is a bug in the provider");
                }
                (state, out.private, out.diags)
            }
        };
        let new_identity = e.identity_of(&new_state);
        Ok(Response::new(pb::read_resource::Response {
            new_state: encode(&e.ty, new_state),
            diagnostics: diags.to_proto(),
            private: private.map(|p| p.to_bytes()).unwrap_or(req.private),
            deferred: None,
            new_identity,
        }))
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let req = req.into_inner();
        let e = self.resource(&req.type_name)?;
        let prior = decode(&e.ty, req.prior_state.as_ref())?;
        let proposed = decode(&e.ty, req.proposed_new_state.as_ref())?;
        let config = decode(&e.ty, req.config.as_ref())?;
        // Again at plan, for a client that skipped validation: a write-only value must never be
        // planned (and so stored) by a client that does not know it is write-only.
        let client = self.client_version();
        let refused =
            write_only_refusals(&e.schema.block, &config, req.client_capabilities.as_ref(), client.as_deref());
        let planned = plan::plan(&e.schema.block, &prior, proposed, &config);
        let changed = planned.changed;
        let mut pr = RawPlan {
            prior,
            config,
            planned: planned.state,
            requires_replace: planned.requires_replace,
            private: Private::from_bytes(&req.prior_private),
            diags: refused,
        };
        if !pr.planned.is_null() && !pr.diags.has_errors() {
            // Planning reads at most; it gets the read limit.
            match self.ctx(operation_limit(&pr.planned, Op::Read, e.imp.default_timeout(Op::Read))) {
                Ok(ctx) => {
                    pr = e.imp.modify_plan(&ctx, pr).await;
                    pr.diags.extend(ctx.take_diagnostics());
                }
                Err(d) => pr.diags.extend(d),
            }
            plan::null_write_only(&e.schema.block, &mut pr.planned);
            if !changed {
                plan::mark_unknown_after_modify(&e.schema.block, &pr.prior, &mut pr.planned, &pr.config);
            }
        }
        // Unknown identity values (a create whose ARNs come from other resources) send none.
        let planned_identity = e.identity_of(&pr.planned);
        Ok(Response::new(pb::plan_resource_change::Response {
            planned_state: encode(&e.ty, pr.planned),
            requires_replace: pr.requires_replace.iter().map(AttrPath::to_proto).collect(),
            planned_private: pr.private.to_bytes(),
            diagnostics: pr.diags.to_proto(),
            legacy_type_system: false,
            deferred: None,
            planned_identity,
        }))
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let req = req.into_inner();
        let e = self.resource(&req.type_name)?;
        let prior = decode(&e.ty, req.prior_state.as_ref())?;
        let planned = decode(&e.ty, req.planned_state.as_ref())?;
        let config = decode(&e.ty, req.config.as_ref())?;
        let (op, limit_from) = match (prior.is_null(), planned.is_null()) {
            (_, true) => (Op::Delete, &prior),
            (true, false) => (Op::Create, &planned),
            (false, false) => (Op::Update, &planned),
        };
        let limit = operation_limit(limit_from, op, e.imp.default_timeout(op));
        let ctx = match self.ctx(limit) {
            Ok(c) => c,
            Err(d) => {
                return Ok(Response::new(pb::apply_resource_change::Response {
                    new_state: encode(&e.ty, prior),
                    private: req.planned_private,
                    diagnostics: d.to_proto(),
                    ..Default::default()
                }));
            }
        };
        let apply = RawApply {
            prior: prior.clone(),
            planned: planned.clone(),
            config,
            private: Private::from_bytes(&req.planned_private),
            identity: e.identity_from(req.planned_identity.as_ref()),
        };
        let out = e.imp.apply(&ctx, apply).await;
        let mut diags = out.diags;
        diags.extend(ctx.take_diagnostics());
        // Unknown: nothing changed, the prior state stands (on create: nothing was created).
        let mut state = if out.state.is_unknown() { prior } else { out.state };
        plan::null_write_only(&e.schema.block, &mut state);
        if !diags.has_errors() && !state.is_null() {
            let mut bad = Vec::new();
            plan::inconsistencies(&planned, &state, &AttrPath::root(), &mut bad);
            for path in bad {
                diags.push_attr_error(
                    path.clone(),
                    "Provider produced an inconsistent result",
                    format!("{path} differs from the planned value; this is a bug in the provider"),
                );
            }
            if !state.is_wholly_known() {
                diags.push_error("Provider left values unknown after apply", "this is a bug in the provider");
            }
        }
        let new_identity = e.identity_of(&state);
        Ok(Response::new(pb::apply_resource_change::Response {
            new_state: encode(&e.ty, state),
            private: out.private.map(|p| p.to_bytes()).unwrap_or(req.planned_private),
            diagnostics: diags.to_proto(),
            legacy_type_system: false,
            new_identity,
        }))
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let req = req.into_inner();
        let e = self.resource(&req.type_name)?;
        // `import { identity = { ... } }` sends an identity instead of an id.
        let identity = e.identity_from(req.identity.as_ref());
        let id = match (&identity, req.id.is_empty()) {
            (Some(value), true) => e.imp.import_id(value),
            _ => Ok(req.id.clone()),
        };
        let out = match (self.ctx(e.imp.default_timeout(Op::Read)), id) {
            (Ok(ctx), Ok(id)) => {
                let mut out = e.imp.import(&ctx, ImportRequest { id, identity }).await;
                out.diags.extend(ctx.take_diagnostics());
                out
            }
            (Err(d), _) | (_, Err(d)) => RawOutcome { state: Value::Unknown, private: None, diags: d },
        };
        let (imported, diags) = match out.state {
            state if !out.diags.has_errors() && !state.is_null() && !state.is_unknown() => (
                vec![pb::import_resource_state::ImportedResource {
                    type_name: req.type_name.clone(),
                    identity: e.identity_of(&state),
                    state: encode(&e.ty, state),
                    private: out.private.map(|p| p.to_bytes()).unwrap_or_default(),
                }],
                out.diags,
            ),
            Value::Null if !out.diags.has_errors() => (
                Vec::new(),
                Diagnostics::error(
                    "Cannot import a non-existent object",
                    format!("no {} with id {:?}", req.type_name, req.id),
                ),
            ),
            _ => (Vec::new(), out.diags),
        };
        Ok(Response::new(pb::import_resource_state::Response {
            imported_resources: imported,
            diagnostics: diags.to_proto(),
            deferred: None,
        }))
    }

    async fn move_resource_state(
        &self,
        _: Request<pb::move_resource_state::Request>,
    ) -> Result<Response<pb::move_resource_state::Response>, Status> {
        let d = Diagnostics::error("Move not supported", "resources of this provider cannot be moved from other types");
        Ok(Response::new(pb::move_resource_state::Response { diagnostics: d.to_proto(), ..Default::default() }))
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let req = req.into_inner();
        let e = self.data_source(&req.type_name)?;
        let config = decode(&e.ty, req.config.as_ref())?;
        let (state, diags) = match self.ctx(e.imp.timeout()) {
            Err(d) => (Value::Null, d),
            Ok(ctx) => match e.imp.read(&ctx, config).await {
                Ok(v) => (v, ctx.take_diagnostics()),
                Err(d) => (Value::Null, d.and(ctx.take_diagnostics())),
            },
        };
        Ok(Response::new(pb::read_data_source::Response {
            state: if diags.has_errors() { None } else { encode(&e.ty, state) },
            diagnostics: diags.to_proto(),
            deferred: None,
        }))
    }

    async fn generate_resource_config(
        &self,
        req: Request<pb::generate_resource_config::Request>,
    ) -> Result<Response<pb::generate_resource_config::Response>, Status> {
        let req = req.into_inner();
        let e = self.resource(&req.type_name)?;
        let state = decode(&e.ty, req.state.as_ref())?;
        let config = generate::config_from_state(&e.schema.block, &state);
        Ok(Response::new(pb::generate_resource_config::Response {
            config: encode(&e.ty, config),
            diagnostics: Vec::new(),
        }))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        req: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> Result<Response<pb::validate_ephemeral_resource_config::Response>, Status> {
        let req = req.into_inner();
        let e = self.ephemeral_resource(&req.type_name)?;
        let config = decode(&e.ty, req.config.as_ref())?;
        let mut diags = Diagnostics::new();
        run_validators(&e.schema.block, &config, &AttrPath::root(), &mut diags);
        diags.extend(e.imp.validate(&ValidateRequest { config }).await);
        Ok(Response::new(pb::validate_ephemeral_resource_config::Response { diagnostics: diags.to_proto() }))
    }

    async fn open_ephemeral_resource(
        &self,
        req: Request<pb::open_ephemeral_resource::Request>,
    ) -> Result<Response<pb::open_ephemeral_resource::Response>, Status> {
        let req = req.into_inner();
        let e = self.ephemeral_resource(&req.type_name)?;
        let config = decode(&e.ty, req.config.as_ref())?;
        // Terraform opens only wholly known configurations; answer anything else as a data
        // source read during planning would: computed values unknown, nothing opened.
        if !config.is_wholly_known() {
            return Ok(Response::new(pb::open_ephemeral_resource::Response {
                result: encode(&e.ty, plan::unknown_computed(&e.schema.block, &config)),
                ..Default::default()
            }));
        }
        let (opened, mut diags) = match self.ctx(e.imp.timeout()) {
            Err(d) => (None, d),
            Ok(ctx) => {
                let out = e.imp.open(&ctx, config).await;
                let warnings = ctx.take_diagnostics();
                match out {
                    Ok(o) => (Some(o), warnings),
                    Err(d) => (None, d.and(warnings)),
                }
            }
        };
        let Some(opened) = opened.filter(|_| !diags.has_errors()) else {
            return Ok(Response::new(pb::open_ephemeral_resource::Response {
                diagnostics: diags.to_proto(),
                ..Default::default()
            }));
        };
        let result = opened.result.conform(&e.ty);
        if !result.is_wholly_known() {
            diags.push_error(
                "Provider returned unknown values from an ephemeral resource",
                "this is a bug in the provider",
            );
        }
        Ok(Response::new(pb::open_ephemeral_resource::Response {
            result: encode(&e.ty, result),
            private: opened.private.map(|p| p.to_bytes()),
            renew_at: opened.renew_at.map(timestamp),
            diagnostics: diags.to_proto(),
            deferred: None,
        }))
    }

    async fn renew_ephemeral_resource(
        &self,
        req: Request<pb::renew_ephemeral_resource::Request>,
    ) -> Result<Response<pb::renew_ephemeral_resource::Response>, Status> {
        let req = req.into_inner();
        let e = self.ephemeral_resource(&req.type_name)?;
        let private = private_of(req.private.as_ref());
        let (renewed, diags) = match self.ctx(e.imp.timeout()) {
            Err(d) => (None, d),
            Ok(ctx) => match e.imp.renew(&ctx, private).await {
                Ok(r) => (Some(r), ctx.take_diagnostics()),
                Err(d) => (None, d.and(ctx.take_diagnostics())),
            },
        };
        let renewed = renewed.unwrap_or_default();
        Ok(Response::new(pb::renew_ephemeral_resource::Response {
            diagnostics: diags.to_proto(),
            renew_at: renewed.renew_at.map(timestamp),
            // None keeps what Terraform holds.
            private: renewed.private.map(|p| p.to_bytes()).or(req.private),
        }))
    }

    async fn close_ephemeral_resource(
        &self,
        req: Request<pb::close_ephemeral_resource::Request>,
    ) -> Result<Response<pb::close_ephemeral_resource::Response>, Status> {
        let req = req.into_inner();
        let e = self.ephemeral_resource(&req.type_name)?;
        let private = private_of(req.private.as_ref());
        let diags = match self.ctx(e.imp.timeout()) {
            Err(d) => d,
            Ok(ctx) => match e.imp.close(&ctx, private).await {
                Ok(()) => ctx.take_diagnostics(),
                Err(d) => d.and(ctx.take_diagnostics()),
            },
        };
        Ok(Response::new(pb::close_ephemeral_resource::Response { diagnostics: diags.to_proto() }))
    }

    type ListResourceStream = EventStream<pb::list_resource::Event>;

    async fn list_resource(
        &self,
        req: Request<pb::list_resource::Request>,
    ) -> Result<Response<Self::ListResourceStream>, Status> {
        let req = req.into_inner();
        let list = self.list_resource(&req.type_name)?;
        let managed = self.resource(&req.type_name)?;
        let config = plan::with_defaults(&list.schema.block, &decode(&list.ty, req.config.as_ref())?);
        let (events, stream) = mpsc::channel(16);
        let ctx = match self.ctx(list.imp.timeout()) {
            Ok(ctx) => ctx,
            Err(d) => {
                let _ =
                    events.try_send(Ok(pb::list_resource::Event { diagnostic: d.to_proto(), ..Default::default() }));
                return Ok(Response::new(Box::pin(ReceiverStream::new(stream))));
            }
        };
        let imp = list.imp.clone();
        let identity = managed.identity.clone();
        let state_ty = managed.ty.clone();
        let include = req.include_resource_object;
        let type_name = req.type_name.clone();
        tokio::spawn(async move {
            let (found, mut found_rx) = mpsc::channel::<Listed>(16);
            let lister = async {
                let mut listing = Listing::new(found, req.limit);
                imp.list(&ctx, config, &mut listing).await
                // `listing` (the sender) drops here, which ends the forwarding below.
            };
            let forward = async {
                while let Some(Listed { display_name, state }) = found_rx.recv().await {
                    let mut event = pb::list_resource::Event { display_name, ..Default::default() };
                    match identity.as_ref().and_then(|(schema, ty)| Some((schema.of_state(&state)?, ty))) {
                        Some((id, ty)) => {
                            event.identity = Some(pb::ResourceIdentityData { identity_data: encode(ty, id) })
                        }
                        None => {
                            let d = Diagnostics::error(
                                "Listed object without an identity",
                                format!(
                                    "{type_name}: {:?} has no complete identity; this is a bug in the provider",
                                    event.display_name
                                ),
                            );
                            event.diagnostic = d.to_proto();
                        }
                    }
                    if include {
                        event.resource_object = encode(&state_ty, state);
                    }
                    if events.send(Ok(event)).await.is_err() {
                        // Terraform has what it asked for, or went away: stop listing.
                        ctx.cancel.cancel();
                        break;
                    }
                }
            };
            let (listed, ()) = tokio::join!(lister, forward);
            let mut diags = match listed {
                Ok(()) => Diagnostics::new(),
                Err(d) => d,
            };
            diags.extend(ctx.take_diagnostics());
            if !diags.is_empty() {
                let _ = events
                    .send(Ok(pb::list_resource::Event { diagnostic: diags.to_proto(), ..Default::default() }))
                    .await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(stream))))
    }

    async fn validate_list_resource_config(
        &self,
        req: Request<pb::validate_list_resource_config::Request>,
    ) -> Result<Response<pb::validate_list_resource_config::Response>, Status> {
        let req = req.into_inner();
        let e = self.list_resource(&req.type_name)?;
        let config = decode(&e.ty, req.config.as_ref())?;
        let mut diags = Diagnostics::new();
        run_validators(&e.schema.block, &config, &AttrPath::root(), &mut diags);
        diags.extend(e.imp.validate(&ValidateRequest { config }).await);
        Ok(Response::new(pb::validate_list_resource_config::Response { diagnostics: diags.to_proto() }))
    }

    async fn validate_action_config(
        &self,
        req: Request<pb::validate_action_config::Request>,
    ) -> Result<Response<pb::validate_action_config::Response>, Status> {
        let req = req.into_inner();
        let e = self.action(&req.type_name)?;
        let config = decode(&e.ty, req.config.as_ref())?;
        let mut diags = Diagnostics::new();
        run_validators(&e.schema.block, &config, &AttrPath::root(), &mut diags);
        diags.extend(e.imp.validate(&ValidateRequest { config }).await);
        Ok(Response::new(pb::validate_action_config::Response { diagnostics: diags.to_proto() }))
    }

    async fn plan_action(
        &self,
        req: Request<pb::plan_action::Request>,
    ) -> Result<Response<pb::plan_action::Response>, Status> {
        let req = req.into_inner();
        let e = self.action(&req.action_type)?;
        let config = plan::with_defaults(&e.schema.block, &decode(&e.ty, req.config.as_ref())?);
        // Plan-time checks read the remote side; values known only after apply are checked when
        // the action runs.
        let diags = if config.is_wholly_known() {
            match self.ctx(e.imp.timeout(&config)) {
                Ok(ctx) => e.imp.plan(&ctx, config).await.and(ctx.take_diagnostics()),
                Err(d) => d,
            }
        } else {
            Diagnostics::new()
        };
        Ok(Response::new(pb::plan_action::Response { diagnostics: diags.to_proto(), deferred: None }))
    }

    type InvokeActionStream = EventStream<pb::invoke_action::Event>;

    async fn invoke_action(
        &self,
        req: Request<pb::invoke_action::Request>,
    ) -> Result<Response<Self::InvokeActionStream>, Status> {
        use pb::invoke_action::Event;
        use pb::invoke_action::event::{Completed, Progress, Type as Kind};
        let req = req.into_inner();
        let e = self.action(&req.action_type)?;
        let config = plan::with_defaults(&e.schema.block, &decode(&e.ty, req.config.as_ref())?);
        let (events, stream) = mpsc::channel(16);
        let completed = |diags: Diagnostics| {
            Ok(Event { r#type: Some(Kind::Completed(Completed { diagnostics: diags.to_proto() })) })
        };
        let ctx = match self.ctx(e.imp.timeout(&config)) {
            Ok(ctx) => ctx,
            Err(d) => {
                let _ = events.try_send(completed(d));
                return Ok(Response::new(Box::pin(ReceiverStream::new(stream))));
            }
        };
        let (progress, mut progress_rx) = mpsc::unbounded_channel();
        let ctx = ctx.with_progress(progress);
        let imp = e.imp.clone();
        tokio::spawn(async move {
            let run = async {
                let result = imp.invoke(&ctx, config).await;
                let warnings = ctx.take_diagnostics();
                match result {
                    Ok(()) => warnings,
                    Err(d) => d.and(warnings),
                }
            };
            tokio::pin!(run);
            let forward = |message: String| Ok(Event { r#type: Some(Kind::Progress(Progress { message })) });
            let diags = loop {
                tokio::select! {
                    biased;
                    Some(message) = progress_rx.recv() => {
                        if events.send(forward(message)).await.is_err() {
                            // The CLI went away (Ctrl-C): stop the action where it is.
                            ctx.cancel.cancel();
                        }
                    }
                    diags = &mut run => break diags,
                }
            };
            while let Ok(message) = progress_rx.try_recv() {
                let _ = events.send(forward(message)).await;
            }
            let _ = events.send(completed(diags)).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(stream))))
    }

    async fn get_functions(
        &self,
        _: Request<pb::get_functions::Request>,
    ) -> Result<Response<pb::get_functions::Response>, Status> {
        Ok(Response::new(pb::get_functions::Response::default()))
    }

    async fn call_function(
        &self,
        req: Request<pb::call_function::Request>,
    ) -> Result<Response<pb::call_function::Response>, Status> {
        Ok(Response::new(pb::call_function::Response {
            result: None,
            error: Some(pb::FunctionError {
                text: format!("this provider has no function {:?}", req.get_ref().name),
                function_argument: None,
            }),
        }))
    }

    async fn stop_provider(
        &self,
        _: Request<pb::stop_provider::Request>,
    ) -> Result<Response<pb::stop_provider::Response>, Status> {
        tracing::info!("StopProvider: cancelling in-flight operations");
        // Cancel what runs now; later operations get a fresh signal.
        let mut stop = self.stop.lock().unwrap_or_else(|p| p.into_inner());
        stop.cancel();
        *stop = CancellationToken::new();
        Ok(Response::new(pb::stop_provider::Response { error: String::new() }))
    }
}
