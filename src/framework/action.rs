//! Actions (Terraform 1.14+): imperative operations a configuration declares in `action` blocks
//! and a person runs with `terraform apply -invoke=action.TYPE.NAME` (or a lifecycle trigger).
//! They change the world without changing state: the next plan shows the drift an action made,
//! so the declared state must follow it.
//!
//! Protocol (hashicorp/terraform v1.15.5 `docs/plugin-protocol/tfplugin6.proto`): Terraform
//! validates the `config` block, calls PlanAction during the plan (checks only, nothing
//! written), then InvokeAction, whose stream carries `Progress` messages the CLI prints as they
//! come and ends with one `Completed` holding the diagnostics.

use super::context::Ctx;
use super::diag::Diagnostics;
use super::model::{ValidateRequest, decode};
use super::schema::Schema;
use super::timeouts::{DEFAULT_OPERATION_TIMEOUT, parse_duration};
use crate::protocol::value::Value;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// An action type: its `config` block's model, its plan-time checks and what it does.
#[async_trait]
pub trait Action<D: Send + Sync + 'static>: Send + Sync + 'static {
    type Config: DeserializeOwned + Send + Sync + 'static;

    /// The type name after the provider prefix: `drain` for `shard_drain`.
    fn name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    /// The limit when the configuration's `timeout` attribute is not set.
    fn default_timeout(&self) -> Duration {
        DEFAULT_OPERATION_TIMEOUT
    }
    /// Checks configuration beyond per-attribute validators. No API calls.
    async fn validate(&self, _req: &ValidateRequest) -> Diagnostics {
        Diagnostics::new()
    }
    /// Plan-time checks with reads (never writes); called only with a wholly known config.
    async fn plan(&self, _ctx: &Ctx<D>, _config: Self::Config) -> Diagnostics {
        Diagnostics::new()
    }
    /// Does the thing. Progress goes through [`Ctx::progress`]; warnings through [`Ctx::warn`].
    async fn invoke(&self, ctx: &Ctx<D>, config: Self::Config) -> Result<(), Diagnostics>;
}

/// An action with its config model erased: what the server calls.
#[async_trait]
pub trait AnyAction<D: Send + Sync + 'static>: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    /// The limit of one invocation: the config's `timeout` when set, else the default.
    fn timeout(&self, config: &Value) -> Duration;
    async fn validate(&self, req: &ValidateRequest) -> Diagnostics;
    async fn plan(&self, ctx: &Ctx<D>, config: Value) -> Diagnostics;
    async fn invoke(&self, ctx: &Ctx<D>, config: Value) -> Result<(), Diagnostics>;
}

#[async_trait]
impl<D, A> AnyAction<D> for A
where
    D: Send + Sync + 'static,
    A: Action<D>,
{
    fn name(&self) -> &'static str {
        Action::name(self)
    }
    fn schema(&self) -> Schema {
        Action::schema(self)
    }
    fn timeout(&self, config: &Value) -> Duration {
        config.get("timeout").as_str().and_then(|t| parse_duration(t).ok()).unwrap_or_else(|| self.default_timeout())
    }
    async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
        Action::validate(self, req).await
    }
    async fn plan(&self, ctx: &Ctx<D>, config: Value) -> Diagnostics {
        let name = Action::name(self);
        match decode::<A::Config>(&format!("action {name} configuration"), &config) {
            Ok(config) => Action::plan(self, ctx, config).await,
            Err(d) => d,
        }
    }
    async fn invoke(&self, ctx: &Ctx<D>, config: Value) -> Result<(), Diagnostics> {
        let name = Action::name(self);
        let config: A::Config = decode(&format!("action {name} configuration"), &config)?;
        Action::invoke(self, ctx, config).await
    }
}
