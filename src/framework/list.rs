//! List resources (Terraform 1.14+, `terraform query`): a `list` block names a managed resource
//! type and a `config` block; the provider streams the existing objects of that type, each as
//! its identity, a display name and (when asked) its whole state. With
//! `-generate-config-out`, Terraform turns each into an `import` block and a `resource` block
//! (the configuration from [`GenerateResourceConfig`](crate::framework::server)).
//!
//! Terraform looks the listed type up among the managed resources: a list resource shares its
//! name with a resource that has an identity (hashicorp/terraform v1.15.5
//! `internal/plugin6/grpc_provider.go` `ListResource`: "Identity schema not found for resource
//! type"), and the objects it lists are that resource's states.

use super::context::Ctx;
use super::diag::Diagnostics;
use super::model::{ValidateRequest, decode, encode};
use super::schema::Schema;
use super::timeouts::DEFAULT_OPERATION_TIMEOUT;
use crate::protocol::value::Value;
use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;
use tokio::sync::mpsc;

/// One listed object, as the server turns it into a `ListResource.Event`.
#[derive(Debug, Clone)]
pub struct Listed {
    pub display_name: String,
    /// The object as the managed resource's state (its identity is derived from it).
    pub state: Value,
}

/// Where a list resource puts what it finds; the server streams each object as it comes.
pub struct Listing {
    sender: mpsc::Sender<Listed>,
    limit: i64,
    sent: i64,
}

impl Listing {
    pub fn new(sender: mpsc::Sender<Listed>, limit: i64) -> Listing {
        Listing { sender, limit, sent: 0 }
    }

    /// Sends one object; `false` once Terraform has all it asked for (the `limit`) or stopped
    /// reading, so the lister stops calling the API.
    pub async fn push<M: Serialize>(
        &mut self,
        display_name: impl Into<String>,
        state: &M,
    ) -> Result<bool, Diagnostics> {
        if self.is_full() {
            return Ok(false);
        }
        let state = encode(state)?;
        if self.sender.send(Listed { display_name: display_name.into(), state }).await.is_err() {
            return Ok(false);
        }
        self.sent += 1;
        Ok(!self.is_full())
    }

    /// Whether Terraform needs no more (a limit of 0 or less means none was given).
    pub fn is_full(&self) -> bool {
        (self.limit > 0 && self.sent >= self.limit) || self.sender.is_closed()
    }
}

/// A list resource type: the `config` block's model, and how to find the objects.
#[async_trait]
pub trait ListResource<D: Send + Sync + 'static>: Send + Sync + 'static {
    type Config: DeserializeOwned + Send + Sync + 'static;

    /// The managed resource type it lists, after the provider prefix (`weight`).
    fn name(&self) -> &'static str;
    /// The `config` block's schema.
    fn schema(&self) -> Schema;
    /// The limit of one listing.
    fn timeout(&self) -> Duration {
        DEFAULT_OPERATION_TIMEOUT
    }
    /// Checks the `config` block beyond per-attribute validators. No API calls.
    async fn validate(&self, _req: &ValidateRequest) -> Diagnostics {
        Diagnostics::new()
    }
    /// Finds the objects and pushes each; stops early when [`Listing::push`] says so.
    async fn list(&self, ctx: &Ctx<D>, config: Self::Config, out: &mut Listing) -> Result<(), Diagnostics>;
}

/// A list resource with its config model erased: what the server calls.
#[async_trait]
pub trait AnyListResource<D: Send + Sync + 'static>: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn timeout(&self) -> Duration;
    async fn validate(&self, req: &ValidateRequest) -> Diagnostics;
    async fn list(&self, ctx: &Ctx<D>, config: Value, out: &mut Listing) -> Result<(), Diagnostics>;
}

#[async_trait]
impl<D, L> AnyListResource<D> for L
where
    D: Send + Sync + 'static,
    L: ListResource<D>,
{
    fn name(&self) -> &'static str {
        ListResource::name(self)
    }
    fn schema(&self) -> Schema {
        ListResource::schema(self)
    }
    fn timeout(&self) -> Duration {
        ListResource::timeout(self)
    }
    async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
        ListResource::validate(self, req).await
    }
    async fn list(&self, ctx: &Ctx<D>, config: Value, out: &mut Listing) -> Result<(), Diagnostics> {
        let name = ListResource::name(self);
        let config: L::Config = decode(&format!("list {name} configuration"), &config)?;
        ListResource::list(self, ctx, config, out).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_listing_stops_at_the_limit_and_when_terraform_stops_reading() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut listing = Listing::new(tx, 2);
        assert!(listing.push("a", &1).await.unwrap(), "room for one more");
        assert!(!listing.push("b", &2).await.unwrap(), "the limit is reached with this one");
        assert!(!listing.push("c", &3).await.unwrap(), "nothing past the limit");
        assert_eq!(rx.recv().await.unwrap().display_name, "a");
        assert_eq!(rx.recv().await.unwrap().display_name, "b");
        drop(listing);
        assert!(rx.recv().await.is_none(), "c was never sent");

        let (tx, rx) = mpsc::channel(8);
        let mut unlimited = Listing::new(tx, 0);
        assert!(unlimited.push("a", &1).await.unwrap());
        drop(rx);
        assert!(!unlimited.push("b", &2).await.unwrap(), "a reader that went away stops the lister");
    }
}
