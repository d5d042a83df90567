//! Data sources: a configuration (wholly known when Terraform reads it) and the state it produces.

use super::context::Ctx;
use super::diag::Diagnostics;
use super::model::{ModelFields, ValidateRequest, decode, encode, reads_of, shape_of};
use super::schema::Schema;
use super::timeouts::DEFAULT_OPERATION_TIMEOUT;
use crate::protocol::value::Value;
use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// A data source type: its configuration (wholly known when Terraform reads it) and the state
/// it produces.
#[async_trait]
pub trait DataSource<D: Send + Sync + 'static>: Send + Sync + 'static {
    type Config: DeserializeOwned + Send + Sync + 'static;
    /// Deserialize too, only so that tests can list the fields it writes (see `state_fields`).
    type State: Serialize + DeserializeOwned + Send + Sync + 'static;

    fn name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    /// The limit of one read (data sources have no `timeouts` block by default).
    fn timeout(&self) -> Duration {
        DEFAULT_OPERATION_TIMEOUT
    }
    async fn validate(&self, _req: &ValidateRequest) -> Diagnostics {
        Diagnostics::new()
    }
    async fn read(&self, ctx: &Ctx<D>, config: Self::Config) -> Result<Self::State, Diagnostics>;
}

/// A data source with its types erased: what the server calls.
#[async_trait]
pub trait AnyDataSource<D: Send + Sync + 'static>: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn timeout(&self) -> Duration;
    async fn validate(&self, req: &ValidateRequest) -> Diagnostics;
    async fn read(&self, ctx: &Ctx<D>, config: Value) -> Result<Value, Diagnostics>;
    /// The fields the configuration model reads (tests compare them with the schema).
    fn config_fields(&self) -> Result<ModelFields, String>;
    /// The fields the state model writes (tests compare them with the schema).
    fn state_fields(&self) -> Result<ModelFields, String>;
}

#[async_trait]
impl<D, S> AnyDataSource<D> for S
where
    D: Send + Sync + 'static,
    S: DataSource<D>,
{
    fn name(&self) -> &'static str {
        DataSource::name(self)
    }
    fn schema(&self) -> Schema {
        DataSource::schema(self)
    }
    fn timeout(&self) -> Duration {
        DataSource::timeout(self)
    }
    async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
        DataSource::validate(self, req).await
    }
    async fn read(&self, ctx: &Ctx<D>, config: Value) -> Result<Value, Diagnostics> {
        let name = DataSource::name(self);
        let config: S::Config = decode(&format!("{name} configuration"), &config)?;
        let state = DataSource::read(self, ctx, config).await?;
        encode(&state)
    }
    fn config_fields(&self) -> Result<ModelFields, String> {
        reads_of::<S::Config>()
    }
    fn state_fields(&self) -> Result<ModelFields, String> {
        shape_of::<S::State>()?.writes.ok_or_else(|| "the state model writes nothing".to_string())
    }
}
