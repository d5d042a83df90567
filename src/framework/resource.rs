//! What resource, data source and provider authors implement. Requests carry decoded values;
//! responses carry values plus diagnostics. Terraform's protocol details stay in `server`.

use super::diag::Diagnostics;
use super::schema::{IdentitySchema, Schema};
use super::typed::{self, Attr};
use crate::protocol::value::Value;
use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Per-call context: the configured provider data and the StopProvider signal.
pub struct Ctx<D> {
    pub data: Arc<D>,
    pub cancel: CancellationToken,
}

/// The operation was cancelled by StopProvider (Ctrl-C) or ran past its timeout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Interrupted {
    #[error("cancelled: Terraform asked the provider to stop (Ctrl-C)")]
    Cancelled,
    #[error("timed out after {0:?}")]
    TimedOut(Duration),
}

impl<D> Ctx<D> {
    /// Sleeps unless cancelled first.
    pub async fn sleep(&self, d: Duration) -> Result<(), Interrupted> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(Interrupted::Cancelled),
            _ = tokio::time::sleep(d) => Ok(()),
        }
    }

    /// Runs `fut` until it finishes, the deadline passes, or Terraform asks us to stop.
    pub async fn bounded<T>(&self, limit: Duration, fut: impl Future<Output = T>) -> Result<T, Interrupted> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(Interrupted::Cancelled),
            r = tokio::time::timeout(limit, fut) => r.map_err(|_| Interrupted::TimedOut(limit)),
        }
    }
}

/// Decodes a value into the resource's model, as a diagnostic on failure (a provider bug or a
/// value not yet known).
pub fn decode<T: DeserializeOwned>(what: &str, value: &Value) -> Result<T, Diagnostics> {
    typed::from_value(value.clone()).map_err(|e| {
        let mut d = Diagnostics::new();
        d.error(format!("Could not read the {what}"), e.to_string());
        d
    })
}

/// Encodes a model as a value.
pub fn encode<T: Serialize>(model: &T) -> Result<Value, Diagnostics> {
    typed::to_value(model).map_err(|e| {
        let mut d = Diagnostics::new();
        d.error("Could not encode the resource state", e.to_string());
        d
    })
}

/// Resolves an `Attr` that must be known by now (at apply), naming the attribute otherwise.
pub fn require_known<'a, T>(attr: &'a Attr<T>, name: &str) -> Result<&'a T, Diagnostics> {
    attr.known().ok_or_else(|| {
        let mut d = Diagnostics::new();
        d.error(format!("{name} is not known"), format!("{name} must be known when this operation runs"));
        d
    })
}

pub struct ValidateRequest {
    /// May contain unknown values (references to other resources not yet created).
    pub config: Value,
}

pub struct PlanRequest {
    /// Null when creating.
    pub prior: Value,
    pub config: Value,
    /// The framework's plan (defaults, unknowns, replacement); resources may refine it.
    pub planned: Value,
    pub requires_replace: Vec<super::diag::AttrPath>,
    pub diags: Diagnostics,
}

pub struct ApplyRequest {
    /// Null when creating.
    pub prior: Value,
    pub planned: Value,
    /// Includes write-only values, which appear nowhere else.
    pub config: Value,
}

/// The state after an apply. On failure, return the state that reflects reality (or null if
/// nothing was created) together with error diagnostics, so the next plan can reconcile.
pub struct ApplyResponse {
    pub state: Value,
    pub diags: Diagnostics,
}

impl ApplyResponse {
    pub fn ok(state: Value) -> ApplyResponse {
        ApplyResponse { state, diags: Diagnostics::new() }
    }
    pub fn failed(state: Value, diags: Diagnostics) -> ApplyResponse {
        ApplyResponse { state, diags }
    }
}

impl From<Diagnostics> for ApplyResponse {
    /// A failure before anything changed: the prior state stands. The server substitutes it.
    fn from(diags: Diagnostics) -> ApplyResponse {
        ApplyResponse { state: Value::Unknown, diags }
    }
}

/// A managed resource type. Only create/read/update/delete are required; the rest opt in.
#[async_trait]
pub trait Resource<D: Send + Sync + 'static>: Send + Sync + 'static {
    /// The type name after the provider prefix: `weight` for `shard_weight`.
    fn name(&self) -> &'static str;
    fn schema(&self) -> Schema;

    /// Checks configuration beyond per-attribute validators. No API calls, no writes.
    async fn validate(&self, _req: &ValidateRequest) -> Diagnostics {
        Diagnostics::new()
    }

    /// Refines the plan (may read the remote side, never writes).
    async fn modify_plan(&self, _ctx: &Ctx<D>, _req: &mut PlanRequest) {}

    async fn create(&self, ctx: &Ctx<D>, req: ApplyRequest) -> ApplyResponse;
    /// Returns the current state, or null when the object no longer exists.
    async fn read(&self, ctx: &Ctx<D>, state: Value) -> Result<Value, Diagnostics>;
    async fn update(&self, ctx: &Ctx<D>, req: ApplyRequest) -> ApplyResponse;
    async fn delete(&self, ctx: &Ctx<D>, prior: Value) -> Diagnostics;

    /// Builds a state from an import id; Terraform calls `read` right after.
    async fn import(&self, _ctx: &Ctx<D>, _id: &str) -> Result<Value, Diagnostics> {
        let mut d = Diagnostics::new();
        d.error("Import not supported", format!("{} cannot be imported", self.name()));
        Err(d)
    }

    /// The resource's identity, if it has one (import by identity, Terraform 1.12+).
    fn identity(&self) -> Option<IdentitySchema> {
        None
    }

    /// The import id for an identity given in `import { identity = { ... } }`.
    fn import_id(&self, _identity: &Value) -> Result<String, Diagnostics> {
        let mut d = Diagnostics::new();
        d.error("Import by identity not supported", format!("{} has no identity", self.name()));
        Err(d)
    }

    /// Upgrades stored state written by an older schema version (JSON as stored).
    fn upgrade_state(&self, version: i64, raw: serde_json::Value) -> Result<Value, Diagnostics> {
        let schema = self.schema();
        if version > schema.version {
            let mut d = Diagnostics::new();
            d.error(
                "State written by a newer provider",
                format!(
                    "state version {version} is newer than this provider's {}; upgrade the provider",
                    schema.version
                ),
            );
            return Err(d);
        }
        crate::protocol::json::from_json(&schema.value_type(), raw, "").map_err(|e| {
            let mut d = Diagnostics::new();
            d.error("Could not read the stored state", e);
            d
        })
    }
}

/// A data source type.
#[async_trait]
pub trait DataSource<D: Send + Sync + 'static>: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    async fn validate(&self, _req: &ValidateRequest) -> Diagnostics {
        Diagnostics::new()
    }
    async fn read(&self, ctx: &Ctx<D>, config: Value) -> Result<Value, Diagnostics>;
}

/// The provider itself: its configuration and the types it offers.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    type Data: Send + Sync + 'static;
    /// The prefix of every type name, e.g. `shard`.
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    async fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }
    /// Called once per process with the provider configuration (may contain unknowns when it
    /// depends on resources not yet created; build clients lazily).
    async fn configure(&self, config: Value, terraform_version: &str) -> Result<Self::Data, Diagnostics>;
    fn resources(&self) -> Vec<Arc<dyn Resource<Self::Data>>>;
    fn data_sources(&self) -> Vec<Arc<dyn DataSource<Self::Data>>>;
}
