//! The conventional `timeouts` block. Durations themselves live in `super::duration`.

pub use super::duration::{format_duration, parse_duration};
use super::schema::{Attribute, NestedBlock, validators};
use serde::Deserialize;
use std::time::Duration;

/// How long an operation may take when neither the `timeouts` block nor the resource says.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// An operation a `timeouts` entry limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Read,
    Update,
    Delete,
}

impl Op {
    pub const ALL: [Op; 4] = [Op::Create, Op::Read, Op::Update, Op::Delete];

    pub fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Read => "read",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

/// The `timeouts { create = "15m" ... }` block for the given operations.
pub fn timeouts_block(ops: &[Op]) -> NestedBlock {
    timeouts_block_described(ops, |_| None)
}

/// [`timeouts_block`] whose descriptions state each operation's default ("Default: `15m`."); pass
/// the resource's `default_timeout` so the documented value is the one used.
pub fn timeouts_block_with_defaults(ops: &[Op], default: impl Fn(Op) -> Duration) -> NestedBlock {
    timeouts_block_described(ops, |op| Some(default(op)))
}

fn timeouts_block_described(ops: &[Op], default: impl Fn(Op) -> Option<Duration>) -> NestedBlock {
    let attributes = ops
        .iter()
        .map(|&op| {
            let text = match default(op) {
                Some(d) => format!(
                    "How long {} may take, a duration such as \"45m\". Default: `{}`.",
                    op.name(),
                    format_duration(d)
                ),
                None => format!("How long {} may take, e.g. \"15m\".", op.name()),
            };
            Attribute::string(op.name()).optional().validate(validators::positive_duration()).description(&text)
        })
        .collect();
    NestedBlock::single("timeouts", "Limits on how long operations may take.", attributes)
}

/// The decoded `timeouts` block; absent entries fall back to the resource's defaults.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
pub struct Timeouts {
    #[serde(default)]
    pub create: Option<String>,
    #[serde(default)]
    pub read: Option<String>,
    #[serde(default)]
    pub update: Option<String>,
    #[serde(default)]
    pub delete: Option<String>,
}

impl Timeouts {
    pub fn get(&self, op: Op, default: Duration) -> Duration {
        let raw = match op {
            Op::Create => &self.create,
            Op::Read => &self.read,
            Op::Update => &self.update,
            Op::Delete => &self.delete,
        };
        raw.as_deref().and_then(|s| parse_duration(s).ok()).unwrap_or(default)
    }
}
