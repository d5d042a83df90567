//! The typed models of configuration, plan and state that every kind of type (resource, data
//! source, ephemeral resource, provider) shares: decoding a value into its serde model and back,
//! and the request every `validate` receives.

use super::diag::{AttrPath, Diagnostics};
use super::typed::{self, Attr};
use crate::protocol::value::Value;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Decodes a value into a typed model, as a diagnostic on failure (a provider bug or a value
/// not yet known).
pub fn decode<T: DeserializeOwned>(what: &str, value: &Value) -> Result<T, Diagnostics> {
    typed::from_value(value.clone())
        .map_err(|e| Diagnostics::error(format!("Could not read the {what}"), e.to_string()))
}

/// Encodes a model as a value; a failure is an error diagnostic (never a silent null state,
/// which would tell Terraform the object is gone).
pub fn encode<T: Serialize>(model: &T) -> Result<Value, Diagnostics> {
    typed::to_value(model).map_err(|e| {
        Diagnostics::error("Could not encode the resource state", format!("{e}; this is a bug in the provider"))
    })
}

/// Resolves an `Attr` that must be known by now (at apply), naming the attribute otherwise.
pub fn require_known<'a, T>(attr: &'a Attr<T>, name: &str) -> Result<&'a T, Diagnostics> {
    attr.known().ok_or_else(|| {
        Diagnostics::attr_error(
            AttrPath::attr(name),
            format!("{name} is not known"),
            format!("{name} must be known when this operation runs"),
        )
    })
}

/// What every `validate` receives.
pub struct ValidateRequest {
    /// May contain unknown values (references to other resources not yet created).
    pub config: Value,
}
