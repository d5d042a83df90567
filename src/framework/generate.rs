//! Configuration from state, for `-generate-config-out` (GenerateResourceConfig, Terraform
//! 1.14+): what a person would have written to get this state, so the generated `resource` block
//! plans no change after its import.
//!
//! Terraform's own fallback (`genconfig.ExtractLegacyConfigFromState`, used when a provider does
//! not set `generate_resource_config`) keeps every optional value, defaults included; the schema
//! here knows the defaults, so the generated blocks say only what differs from them.

use super::schema::{AttrKind, Attribute, Block, Nesting};
use crate::protocol::value::Value;
use std::collections::BTreeMap;

/// The configuration that produces `state` under `block`: required values, optional values that
/// differ from their defaults, nested blocks that are set; never computed-only or write-only
/// values, nor the `timeouts` block (operation limits are a choice, not part of the object).
pub fn config_from_state(block: &Block, state: &Value) -> Value {
    let Value::Object(values) = state else { return Value::Null };
    let mut out = BTreeMap::new();
    for a in &block.attributes {
        out.insert(a.name.clone(), attribute(a, values.get(&a.name).unwrap_or(&Value::Null)));
    }
    for b in &block.blocks {
        let v = values.get(&b.name).unwrap_or(&Value::Null);
        let generated = if b.name == "timeouts" {
            Value::Null
        } else {
            each(b.nesting, v, |item| config_from_state(&b.block, item))
        };
        out.insert(b.name.clone(), generated);
    }
    Value::Object(out)
}

fn attribute(a: &Attribute, v: &Value) -> Value {
    let configurable = a.required || a.optional;
    if !configurable || a.write_only || v.is_null() || v.is_unknown() {
        return Value::Null;
    }
    if !a.required && a.default.as_ref() == Some(v) {
        return Value::Null;
    }
    match &a.kind {
        AttrKind::Typed(_) => v.clone(),
        AttrKind::Nested(nesting, attrs) => {
            let inner = Block { attributes: attrs.clone(), ..Block::default() };
            each(*nesting, v, |item| config_from_state(&inner, item))
        }
    }
}

/// `f` applied to a single object or to each element of a collection.
fn each(nesting: Nesting, v: &Value, f: impl Fn(&Value) -> Value) -> Value {
    match (nesting, v) {
        (_, Value::Null | Value::Unknown) => Value::Null,
        (Nesting::Single, single) => f(single),
        (Nesting::List, Value::List(items)) => Value::List(items.iter().map(f).collect()),
        (Nesting::Set, Value::Set(items)) => Value::Set(items.iter().map(f).collect()),
        (Nesting::Map, Value::Map(items)) => Value::Map(items.iter().map(|(k, i)| (k.clone(), f(i))).collect()),
        (_, other) => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schema::{Attribute, NestedBlock};

    fn block() -> Block {
        Block {
            attributes: vec![
                Attribute::string("listener_arn").required(),
                Attribute::number("weight").optional().computed().default(Value::int(0)),
                Attribute::string("drain_delay").optional().computed().default(Value::str("0s")),
                Attribute::string("id").computed(),
            ],
            blocks: vec![
                NestedBlock::single("ramp", "", vec![Attribute::number("step").required()]),
                NestedBlock::single("timeouts", "", vec![Attribute::string("create").optional()]),
            ],
            ..Block::default()
        }
    }

    fn object(pairs: &[(&str, Value)]) -> Value {
        Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    #[test]
    fn keeps_what_was_configured_and_drops_defaults_computed_values_and_timeouts() {
        let state = object(&[
            ("listener_arn", Value::str("arn:l")),
            ("weight", Value::int(30)),
            ("drain_delay", Value::str("0s")),
            ("id", Value::str("l/tg")),
            ("ramp", object(&[("step", Value::int(10))])),
            ("timeouts", object(&[("create", Value::str("5m"))])),
        ]);
        let config = config_from_state(&block(), &state);
        assert_eq!(config.get("listener_arn"), &Value::str("arn:l"));
        assert_eq!(config.get("weight"), &Value::int(30), "a value other than the default is kept");
        assert_eq!(config.get("drain_delay"), &Value::Null, "the default is left out");
        assert_eq!(config.get("id"), &Value::Null, "computed-only values are never configuration");
        assert_eq!(config.get("ramp").get("step"), &Value::int(10));
        assert_eq!(config.get("timeouts"), &Value::Null);
    }

    #[test]
    fn a_zero_weight_equal_to_its_default_and_an_absent_block_stay_out() {
        let state = object(&[("listener_arn", Value::str("arn:l")), ("weight", Value::int(0)), ("ramp", Value::Null)]);
        let config = config_from_state(&block(), &state);
        assert_eq!(config.get("weight"), &Value::Null);
        assert_eq!(config.get("ramp"), &Value::Null);
        assert_eq!(config_from_state(&block(), &Value::Null), Value::Null);
    }
}
