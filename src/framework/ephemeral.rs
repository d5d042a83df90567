//! Ephemeral resources (protocol 6.7, Terraform 1.10+): values Terraform asks for during a run —
//! a short-lived token, say — and never stores in state or plan files. Modelled on
//! terraform-plugin-framework's `ephemeral.EphemeralResource`: `open` produces the result from
//! the configuration, optional `renew` keeps whatever backs it alive while Terraform still needs
//! it (Terraform calls it once `renew_at` has passed), optional `close` releases it at the end of
//! the run. `renew` and `close` receive only the private data `open` returned (no configuration,
//! no result), so whatever they need must be put there — and, as that data travels through
//! Terraform's memory only, it may hold handles that must not reach a state file.
//!
//! Terraform does not open an ephemeral resource whose configuration holds unknown values (it
//! treats the whole result as unknown itself); the server answers such a request with the
//! configuration and every computed value unknown, as a data source read during planning would.

use super::context::Ctx;
use super::diag::Diagnostics;
use super::model::{ModelShape, ValidateRequest, decode, encode, shape_of};
use super::private::Private;
use super::schema::Schema;
use super::timeouts::DEFAULT_OPERATION_TIMEOUT;
use crate::protocol::value::Value;
use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::{Duration, SystemTime};

/// What [`EphemeralResource::open`] returns: the result (the configuration with computed
/// values filled in), optional private data for renew/close, and when to renew.
#[derive(Debug)]
pub struct Opened<M> {
    pub result: M,
    pub private: Option<Private>,
    /// Terraform calls `renew` once this time has passed, if it still needs the value.
    pub renew_at: Option<SystemTime>,
}

impl<M> Opened<M> {
    pub fn new(result: M) -> Opened<M> {
        Opened { result, private: None, renew_at: None }
    }
    pub fn with_private(mut self, private: Private) -> Opened<M> {
        self.private = Some(private);
        self
    }
    pub fn renew_at(mut self, at: SystemTime) -> Opened<M> {
        self.renew_at = Some(at);
        self
    }
}

/// What [`EphemeralResource::renew`] returns: new private data (None keeps the old) and the
/// next renewal time (None: no further renewal).
#[derive(Debug, Default)]
pub struct Renewed {
    pub private: Option<Private>,
    pub renew_at: Option<SystemTime>,
}

/// An ephemeral resource type. Only `open` is required.
#[async_trait]
pub trait EphemeralResource<D: Send + Sync + 'static>: Send + Sync + 'static {
    /// The configuration and result as one serde struct (`Attr<T>`/`Option<T>` for computed
    /// values, which are null in the configuration `open` receives).
    type Model: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// The type name after the provider prefix: `eks_token` for `shard_eks_token`.
    fn name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    /// The limit of one open, renew or close.
    fn timeout(&self) -> Duration {
        DEFAULT_OPERATION_TIMEOUT
    }
    /// Checks configuration beyond per-attribute validators (may hold unknowns). No API calls.
    async fn validate(&self, _req: &ValidateRequest) -> Diagnostics {
        Diagnostics::new()
    }
    async fn open(&self, ctx: &Ctx<D>, config: Self::Model) -> Result<Opened<Self::Model>, Diagnostics>;
    async fn renew(&self, _ctx: &Ctx<D>, _private: Private) -> Result<Renewed, Diagnostics> {
        Ok(Renewed::default())
    }
    async fn close(&self, _ctx: &Ctx<D>, _private: Private) -> Result<(), Diagnostics> {
        Ok(())
    }
}

/// An opened result as the server holds it.
pub struct RawOpened {
    pub result: Value,
    pub private: Option<Private>,
    pub renew_at: Option<SystemTime>,
}

/// An ephemeral resource with its model erased: what the server calls.
#[async_trait]
pub trait AnyEphemeralResource<D: Send + Sync + 'static>: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn timeout(&self) -> Duration;
    async fn validate(&self, req: &ValidateRequest) -> Diagnostics;
    async fn open(&self, ctx: &Ctx<D>, config: Value) -> Result<RawOpened, Diagnostics>;
    async fn renew(&self, ctx: &Ctx<D>, private: Private) -> Result<Renewed, Diagnostics>;
    async fn close(&self, ctx: &Ctx<D>, private: Private) -> Result<(), Diagnostics>;
    /// The fields the model reads and writes (tests compare them with the schema).
    fn model_shape(&self) -> Result<ModelShape, String>;
}

#[async_trait]
impl<D, E> AnyEphemeralResource<D> for E
where
    D: Send + Sync + 'static,
    E: EphemeralResource<D>,
{
    fn name(&self) -> &'static str {
        EphemeralResource::name(self)
    }
    fn schema(&self) -> Schema {
        EphemeralResource::schema(self)
    }
    fn timeout(&self) -> Duration {
        EphemeralResource::timeout(self)
    }
    async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
        EphemeralResource::validate(self, req).await
    }
    async fn open(&self, ctx: &Ctx<D>, config: Value) -> Result<RawOpened, Diagnostics> {
        let name = EphemeralResource::name(self);
        let config: E::Model = decode(&format!("{name} configuration"), &config)?;
        let opened = EphemeralResource::open(self, ctx, config).await?;
        Ok(RawOpened { result: encode(&opened.result)?, private: opened.private, renew_at: opened.renew_at })
    }
    async fn renew(&self, ctx: &Ctx<D>, private: Private) -> Result<Renewed, Diagnostics> {
        EphemeralResource::renew(self, ctx, private).await
    }
    async fn close(&self, ctx: &Ctx<D>, private: Private) -> Result<(), Diagnostics> {
        EphemeralResource::close(self, ctx, private).await
    }
    fn model_shape(&self) -> Result<ModelShape, String> {
        shape_of::<E::Model>()
    }
}
