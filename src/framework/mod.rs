//! Layer 2 — the framework resource authors use: schemas, typed three-state values, the
//! Resource/DataSource/EphemeralResource/Provider traits, plan automation, diagnostics, deadlines and waits.

pub mod context;
pub mod diag;
pub mod duration;
pub mod ephemeral;
pub mod plan;
pub mod resource;
pub mod schema;
pub mod server;
pub mod timeouts;
pub mod typed;

pub use context::{Check, Ctx, Interrupted, WaitError};
pub use diag::{AttrPath, Diagnostic, Diagnostics};
pub use ephemeral::{AnyEphemeralResource, EphemeralResource, Opened, Renewed};
pub use resource::{
    AnyDataSource, AnyResource, CreateRequest, DataSource, DeleteRequest, ImportRequest, Outcome, PlanRequest, Private,
    Provider, ReadRequest, Resource, UpdateRequest, ValidateRequest,
};
pub use schema::{Attribute, Block, NestedBlock, Nesting, Schema, validators};
pub use timeouts::Op;
pub use typed::Attr;
