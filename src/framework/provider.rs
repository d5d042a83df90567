//! The provider itself: its configuration and the types it offers.

use super::action::AnyAction;
use super::data_source::AnyDataSource;
use super::diag::Diagnostics;
use super::ephemeral::AnyEphemeralResource;
use super::list::AnyListResource;
use super::resource::AnyResource;
use super::schema::Schema;
use crate::protocol::value::Value;
use async_trait::async_trait;
use std::sync::Arc;

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
    fn resources(&self) -> Vec<Arc<dyn AnyResource<Self::Data>>>;
    fn data_sources(&self) -> Vec<Arc<dyn AnyDataSource<Self::Data>>>;
    /// Ephemeral resources (Terraform 1.10+); none by default.
    fn ephemeral_resources(&self) -> Vec<Arc<dyn AnyEphemeralResource<Self::Data>>> {
        Vec::new()
    }
    /// List resources (Terraform 1.14+ `terraform query`), each named after the managed
    /// resource type it lists; none by default.
    fn list_resources(&self) -> Vec<Arc<dyn AnyListResource<Self::Data>>> {
        Vec::new()
    }
    /// Actions (Terraform 1.14+ `action` blocks); none by default.
    fn actions(&self) -> Vec<Arc<dyn AnyAction<Self::Data>>> {
        Vec::new()
    }
}
