//! Layer 2 — the framework resource authors use: schemas, typed three-state values, the
//! Resource/DataSource/EphemeralResource/Provider traits, plan automation, diagnostics, deadlines and waits.

pub mod action;
pub mod claims;
pub mod context;
pub mod data_source;
pub mod diag;
pub mod duration;
pub mod ephemeral;
pub mod generate;
pub mod list;
pub mod model;
pub mod plan;
pub mod private;
pub mod provider;
pub mod resource;
pub mod schema;
pub mod server;
pub mod timeouts;
pub mod typed;

pub use action::{Action, AnyAction};
pub use context::{Check, Ctx, Interrupted, WaitError};
pub use data_source::{AnyDataSource, DataSource};
pub use diag::{AttrPath, Diagnostic, Diagnostics};
pub use ephemeral::{AnyEphemeralResource, EphemeralResource, Opened, Renewed};
pub use list::{AnyListResource, ListResource, Listing};
pub use model::{ValidateRequest, decode, encode, require_known};
pub use private::Private;
pub use provider::Provider;
pub use resource::{
    AnyResource, CreateRequest, DeleteRequest, ImportRequest, Outcome, PlanRequest, ReadRequest, Resource,
    UpdateRequest,
};
pub use schema::{Attribute, Block, NestedBlock, Nesting, Schema, validators};
pub use timeouts::Op;
pub use typed::Attr;
