//! Managed resources: what their authors implement and the erased form the server calls.
//!
//! A resource declares its `Model` (a serde struct) once; the framework decodes config, plan,
//! prior state and state into it and encodes what the resource returns, reporting any failure
//! as a diagnostic. Requests carry private state and identity; responses may return private
//! state. Every operation runs with a [`Ctx`]: the provider's data, the StopProvider signal and
//! the operation's deadline (from the `timeouts` block or the resource's default).

use super::context::Ctx;
use super::diag::{AttrPath, Diagnostics};
use super::model::{ModelShape, shape_of};
use super::schema::{IdentitySchema, Schema};
use super::timeouts::Op;
use super::typed;
use crate::protocol::value::Value;
use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

// Paths callers used before these moved out (so that `framework::resource` needs no other kind).
pub use super::model::{ValidateRequest, decode, encode, require_known};
pub use super::private::Private;
pub use super::timeouts::DEFAULT_OPERATION_TIMEOUT;

/// Planning a create (`prior` is None) or an update. The framework has already applied
/// defaults, marked computed values unknown and found RequiresReplace paths.
pub struct PlanRequest<M> {
    pub prior: Option<M>,
    /// The raw configuration (may hold unknowns).
    pub config: Value,
    /// The framework's plan; resources may refine it (it may hold unknowns, so it stays a Value).
    pub planned: Value,
    pub requires_replace: Vec<AttrPath>,
    pub private: Private,
    pub diags: Diagnostics,
}

impl<M: DeserializeOwned> PlanRequest<M> {
    /// The planned model, or None while any value it requires is unknown.
    pub fn planned_model(&self) -> Option<M> {
        typed::from_value(self.planned.clone()).ok()
    }
}

pub struct CreateRequest<M> {
    pub planned: M,
    /// The configuration, the only place write-only values appear.
    pub config: Value,
    pub private: Private,
}

pub struct UpdateRequest<M> {
    pub prior: M,
    pub planned: M,
    /// The configuration, the only place write-only values appear.
    pub config: Value,
    pub private: Private,
    pub identity: Option<Value>,
}

/// Terraform sends no configuration to Read or Delete: everything needed must be in state,
/// private state, identity or the provider's configuration.
pub struct ReadRequest<M> {
    pub state: M,
    pub private: Private,
    pub identity: Option<Value>,
}

pub struct DeleteRequest<M> {
    pub state: M,
    pub private: Private,
    pub identity: Option<Value>,
}

pub struct ImportRequest {
    /// The id from `terraform import` / `import { id = ... }`, or built by
    /// [`Resource::import_id`] from an identity.
    pub id: String,
    pub identity: Option<Value>,
}

/// What an operation leaves behind: the state matching reality (None: the object does not
/// exist), optional new private state, and diagnostics. Errors with a state describe a partial
/// failure: return the state that reflects reality so the next plan can reconcile.
#[derive(Debug)]
pub struct Outcome<M> {
    pub state: Option<M>,
    pub private: Option<Private>,
    pub diags: Diagnostics,
}

impl<M> Outcome<M> {
    pub fn ok(state: M) -> Outcome<M> {
        Outcome { state: Some(state), private: None, diags: Diagnostics::new() }
    }
    /// The object does not exist (any more).
    pub fn gone() -> Outcome<M> {
        Outcome { state: None, private: None, diags: Diagnostics::new() }
    }
    /// A partial failure: `state` is what exists now, `diags` says what went wrong.
    pub fn failed(state: Option<M>, diags: Diagnostics) -> Outcome<M> {
        Outcome { state, private: None, diags }
    }
    pub fn with_private(mut self, private: Private) -> Outcome<M> {
        self.private = Some(private);
        self
    }
    pub fn with_diags(mut self, diags: Diagnostics) -> Outcome<M> {
        self.diags.extend(diags);
        self
    }
}

/// A managed resource type. create/read/update/delete are required; the rest opt in.
///
/// Returning `Err(diagnostics)` from create/update/read/delete means nothing changed: the
/// prior state stands (on create: nothing was created). Use [`Outcome::failed`] when something
/// did change before the failure.
#[async_trait]
pub trait Resource<D: Send + Sync + 'static>: Send + Sync + 'static {
    /// The resource's attributes as a serde struct. Use `Attr<T>` for computed values (unknown
    /// during planning) and `Option<T>` for optional ones.
    type Model: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// The type name after the provider prefix: `weight` for `shard_weight`.
    fn name(&self) -> &'static str;
    fn schema(&self) -> Schema;

    /// The limit of an operation whose `timeouts` entry is not set.
    fn default_timeout(&self, _op: Op) -> Duration {
        DEFAULT_OPERATION_TIMEOUT
    }

    /// Checks configuration beyond per-attribute validators. No API calls, no writes.
    async fn validate(&self, _req: &ValidateRequest) -> Diagnostics {
        Diagnostics::new()
    }

    /// Refines the plan (may read the remote side, never writes).
    async fn modify_plan(&self, _ctx: &Ctx<D>, _req: &mut PlanRequest<Self::Model>) {}

    async fn create(&self, ctx: &Ctx<D>, req: CreateRequest<Self::Model>) -> Result<Outcome<Self::Model>, Diagnostics>;
    /// Returns the current state ([`Outcome::gone`] when the object no longer exists).
    async fn read(&self, ctx: &Ctx<D>, req: ReadRequest<Self::Model>) -> Result<Outcome<Self::Model>, Diagnostics>;
    async fn update(&self, ctx: &Ctx<D>, req: UpdateRequest<Self::Model>) -> Result<Outcome<Self::Model>, Diagnostics>;
    /// Warnings go through [`Ctx::warn`].
    async fn delete(&self, ctx: &Ctx<D>, req: DeleteRequest<Self::Model>) -> Result<(), Diagnostics>;

    /// Builds a state from an import id; Terraform calls `read` right after.
    async fn import(&self, _ctx: &Ctx<D>, _req: ImportRequest) -> Result<Outcome<Self::Model>, Diagnostics> {
        Err(Diagnostics::error("Import not supported", format!("{} cannot be imported", self.name())))
    }

    /// The resource's identity, if it has one (import by identity, Terraform 1.12+).
    fn identity(&self) -> Option<IdentitySchema> {
        None
    }

    /// The import id for an identity given in `import { identity = { ... } }`.
    fn import_id(&self, _identity: &Value) -> Result<String, Diagnostics> {
        Err(Diagnostics::error("Import by identity not supported", format!("{} has no identity", self.name())))
    }

    /// Upgrades stored state written by an older schema version (JSON as stored); `schema` is
    /// this type's current schema (built once by the server: Terraform upgrades every instance's
    /// state on every plan). The default reads state of the current version and refuses newer ones.
    fn upgrade_state(&self, schema: &Schema, version: i64, raw: serde_json::Value) -> Result<Value, Diagnostics> {
        default_upgrade_state(schema, version, raw)
    }
}

/// Reads stored state of the schema's version; state from a newer provider is refused.
pub fn default_upgrade_state(schema: &Schema, version: i64, raw: serde_json::Value) -> Result<Value, Diagnostics> {
    if version > schema.version {
        return Err(Diagnostics::error(
            "State written by a newer provider",
            format!("state version {version} is newer than this provider's {}; upgrade the provider", schema.version),
        ));
    }
    crate::protocol::json::from_json(&schema.value_type(), raw, "")
        .map_err(|e| Diagnostics::error("Could not read the stored state", e))
}

/// A resource with its model erased: what the server calls. Every [`Resource`] is one.
#[async_trait]
pub trait AnyResource<D: Send + Sync + 'static>: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn identity(&self) -> Option<IdentitySchema>;
    fn default_timeout(&self, op: Op) -> Duration;
    async fn validate(&self, req: &ValidateRequest) -> Diagnostics;
    async fn modify_plan(&self, ctx: &Ctx<D>, req: RawPlan) -> RawPlan;
    async fn apply(&self, ctx: &Ctx<D>, req: RawApply) -> RawOutcome;
    async fn read(&self, ctx: &Ctx<D>, req: RawRead) -> RawOutcome;
    async fn import(&self, ctx: &Ctx<D>, req: ImportRequest) -> RawOutcome;
    fn import_id(&self, identity: &Value) -> Result<String, Diagnostics>;
    fn upgrade_state(&self, schema: &Schema, version: i64, raw: serde_json::Value) -> Result<Value, Diagnostics>;
    /// The fields the model reads and writes (tests compare them with the schema).
    fn model_shape(&self) -> Result<ModelShape, String>;
}

/// A plan as the server holds it (values, not models).
pub struct RawPlan {
    pub prior: Value,
    pub config: Value,
    pub planned: Value,
    pub requires_replace: Vec<AttrPath>,
    pub private: Private,
    pub diags: Diagnostics,
}

/// An apply as the server holds it: a create when `prior` is null, a delete when `planned` is.
pub struct RawApply {
    pub prior: Value,
    pub planned: Value,
    pub config: Value,
    pub private: Private,
    pub identity: Option<Value>,
}

pub struct RawRead {
    pub state: Value,
    pub private: Private,
    pub identity: Option<Value>,
}

/// The erased [`Outcome`]: `state` is `Value::Unknown` when the prior state stands.
pub struct RawOutcome {
    pub state: Value,
    pub private: Option<Private>,
    pub diags: Diagnostics,
}

impl RawOutcome {
    fn unchanged(diags: Diagnostics) -> RawOutcome {
        RawOutcome { state: Value::Unknown, private: None, diags }
    }

    fn of<M: Serialize>(result: Result<Outcome<M>, Diagnostics>) -> RawOutcome {
        match result {
            Err(diags) => RawOutcome::unchanged(diags),
            Ok(Outcome { state: None, private, diags }) => RawOutcome { state: Value::Null, private, diags },
            Ok(Outcome { state: Some(m), private, mut diags }) => match encode(&m) {
                Ok(state) => RawOutcome { state, private, diags },
                Err(e) => {
                    // Reality changed but cannot be described: keep the prior state and say so.
                    diags.extend(e);
                    RawOutcome { state: Value::Unknown, private, diags }
                }
            },
        }
    }
}

#[async_trait]
impl<D, R> AnyResource<D> for R
where
    D: Send + Sync + 'static,
    R: Resource<D>,
{
    fn name(&self) -> &'static str {
        Resource::name(self)
    }
    fn schema(&self) -> Schema {
        Resource::schema(self)
    }
    fn identity(&self) -> Option<IdentitySchema> {
        Resource::identity(self)
    }
    fn default_timeout(&self, op: Op) -> Duration {
        Resource::default_timeout(self, op)
    }
    async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
        Resource::validate(self, req).await
    }

    async fn modify_plan(&self, ctx: &Ctx<D>, raw: RawPlan) -> RawPlan {
        let prior = if raw.prior.is_null() {
            None
        } else {
            match decode::<R::Model>("prior state", &raw.prior) {
                Ok(m) => Some(m),
                Err(d) => return RawPlan { diags: d, ..raw },
            }
        };
        let mut req = PlanRequest {
            prior,
            config: raw.config,
            planned: raw.planned,
            requires_replace: raw.requires_replace,
            private: raw.private,
            diags: raw.diags,
        };
        Resource::modify_plan(self, ctx, &mut req).await;
        RawPlan {
            prior: raw.prior,
            config: req.config,
            planned: req.planned,
            requires_replace: req.requires_replace,
            private: req.private,
            diags: req.diags,
        }
    }

    async fn apply(&self, ctx: &Ctx<D>, raw: RawApply) -> RawOutcome {
        if raw.planned.is_null() {
            let state = match decode::<R::Model>("state", &raw.prior) {
                Ok(m) => m,
                Err(d) => return RawOutcome::unchanged(d),
            };
            let req = DeleteRequest { state, private: raw.private, identity: raw.identity };
            return match Resource::delete(self, ctx, req).await {
                Ok(()) => RawOutcome { state: Value::Null, private: None, diags: Diagnostics::new() },
                Err(d) => RawOutcome::unchanged(d),
            };
        }
        let planned = match decode::<R::Model>("plan", &raw.planned) {
            Ok(m) => m,
            Err(d) => return RawOutcome::unchanged(d),
        };
        if raw.prior.is_null() {
            let req = CreateRequest { planned, config: raw.config, private: raw.private };
            return RawOutcome::of(Resource::create(self, ctx, req).await);
        }
        let prior = match decode::<R::Model>("prior state", &raw.prior) {
            Ok(m) => m,
            Err(d) => return RawOutcome::unchanged(d),
        };
        let req = UpdateRequest { prior, planned, config: raw.config, private: raw.private, identity: raw.identity };
        RawOutcome::of(Resource::update(self, ctx, req).await)
    }

    async fn read(&self, ctx: &Ctx<D>, raw: RawRead) -> RawOutcome {
        let state = match decode::<R::Model>("state", &raw.state) {
            Ok(m) => m,
            Err(d) => return RawOutcome::unchanged(d),
        };
        let req = ReadRequest { state, private: raw.private, identity: raw.identity };
        RawOutcome::of(Resource::read(self, ctx, req).await)
    }

    async fn import(&self, ctx: &Ctx<D>, req: ImportRequest) -> RawOutcome {
        RawOutcome::of(Resource::import(self, ctx, req).await)
    }

    fn import_id(&self, identity: &Value) -> Result<String, Diagnostics> {
        Resource::import_id(self, identity)
    }

    fn upgrade_state(&self, schema: &Schema, version: i64, raw: serde_json::Value) -> Result<Value, Diagnostics> {
        Resource::upgrade_state(self, schema, version, raw)
    }

    fn model_shape(&self) -> Result<ModelShape, String> {
        shape_of::<R::Model>()
    }
}
