//! Layer 2 — the framework resource authors use: schemas, typed three-state values, the
//! Resource/DataSource/Provider traits, plan automation, diagnostics and timeouts.

pub mod diag;
pub mod duration;
pub mod plan;
pub mod resource;
pub mod schema;
pub mod server;
pub mod timeouts;
pub mod typed;

pub use diag::{AttrPath, Diagnostic, Diagnostics};
pub use resource::{
    ApplyRequest, ApplyResponse, Ctx, DataSource, Interrupted, PlanRequest, Provider, Resource, ValidateRequest,
};
pub use schema::{Attribute, Block, NestedBlock, Nesting, Schema, validators};
pub use typed::Attr;
