//! Plan automation every resource gets for free, modelled on terraform-plugin-framework:
//! defaults, computed attributes going unknown when something changes, RequiresReplace paths
//! and write-only attributes kept out of plan and state.

use super::diag::AttrPath;
use super::schema::{AttrKind, Block, Nesting};
use crate::protocol::value::Value;

/// The result of planning one resource instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub state: Value,
    pub requires_replace: Vec<AttrPath>,
    /// Whether this pass found a change (a create, a destroy, or a state differing from the
    /// prior one); when it did not, [`mark_unknown_after_modify`] runs after the resource's
    /// `modify_plan`.
    pub changed: bool,
}

/// Plans a change from `prior` (null on create) to Terraform's `proposed` new state.
/// `proposed` is what Terraform derived from config and prior: configured values, and prior
/// values for computed attributes the configuration leaves out.
pub fn plan(block: &Block, prior: &Value, proposed: Value, config: &Value) -> Planned {
    if proposed.is_null() {
        return Planned { state: Value::Null, requires_replace: Vec::new(), changed: true };
    }
    let mut state = proposed;
    apply_defaults(block, &mut state, config);
    null_write_only(block, &mut state);
    let creating = prior.is_null();
    let changing = creating || &state != prior;
    if changing {
        mark_unknown(block, &mut state, config, prior, creating);
    }
    let mut requires_replace = Vec::new();
    if !creating {
        replace_paths(block, prior, &state, &AttrPath::root(), &mut requires_replace);
    }
    Planned { state, requires_replace, changed: changing }
}

/// The second half of unknown-marking, run after the resource's `modify_plan` when [`plan`]
/// found no change: if `modify_plan` made the plan differ from the prior state (an endpoint
/// read from the remote side, say), computed attributes that the configuration leaves null,
/// that did not opt into `use_state_for_unknown`, and that `modify_plan` left at their prior
/// value become unknown, as [`plan`] would have marked them had the change come from the
/// configuration. A value `modify_plan` changed itself is kept. Nested single blocks likewise.
pub fn mark_unknown_after_modify(block: &Block, prior: &Value, planned: &mut Value, config: &Value) {
    if prior.is_null() || planned.is_null() || planned.is_unknown() || prior == &*planned {
        return;
    }
    mark_untouched_unknown(block, prior, planned, config);
}

fn mark_untouched_unknown(block: &Block, prior: &Value, planned: &mut Value, config: &Value) {
    for a in &block.attributes {
        if !a.computed || a.default.is_some() || a.use_state_for_unknown || !config.get(&a.name).is_null() {
            continue;
        }
        if let Some(slot) = planned.get_mut(&a.name)
            && slot == prior.get(&a.name)
        {
            *slot = Value::Unknown;
        }
    }
    for b in &block.blocks {
        if b.nesting == Nesting::Single
            && let Some(inner) = planned.get_mut(&b.name)
            && !inner.is_null()
            && !inner.is_unknown()
        {
            mark_untouched_unknown(&b.block, prior.get(&b.name), inner, config.get(&b.name));
        }
    }
}

/// `config` with the default of every attribute it leaves null: what an action or a list
/// resource runs with (Terraform plans no state for them, so no plan fills defaults in).
pub fn with_defaults(block: &Block, config: &Value) -> Value {
    let mut out = config.clone();
    if !out.is_null() && !out.is_unknown() {
        apply_defaults(block, &mut out, config);
    }
    out
}

/// Sets the default of every optional+computed attribute the configuration leaves null.
fn apply_defaults(block: &Block, state: &mut Value, config: &Value) {
    for a in &block.attributes {
        if let Some(default) = &a.default
            && config.get(&a.name).is_null()
            && let Some(slot) = state.get_mut(&a.name)
        {
            *slot = default.clone();
        }
    }
    for b in &block.blocks {
        if b.nesting == Nesting::Single
            && let Some(inner) = state.get_mut(&b.name)
            && !inner.is_null()
        {
            apply_defaults(&b.block, inner, config.get(&b.name));
        }
    }
}

/// Write-only attributes exist only in configuration: always null in plan and state.
pub fn null_write_only(block: &Block, state: &mut Value) {
    if state.is_null() || state.is_unknown() {
        return;
    }
    for a in &block.attributes {
        if a.write_only
            && let Some(slot) = state.get_mut(&a.name)
        {
            *slot = Value::Null;
        }
        if let AttrKind::Nested(nesting, attrs) = &a.kind
            && let Some(inner) = state.get_mut(&a.name)
        {
            let inner_block = Block { attributes: attrs.clone(), ..Block::default() };
            for_each_nested_mut(*nesting, inner, |v| null_write_only(&inner_block, v));
        }
    }
    for b in &block.blocks {
        if let Some(inner) = state.get_mut(&b.name) {
            for_each_nested_mut(b.nesting, inner, |v| null_write_only(&b.block, v));
        }
    }
}

/// A configuration with every computed value it leaves null unknown: the answer for an
/// ephemeral resource that cannot be opened yet.
pub fn unknown_computed(block: &Block, config: &Value) -> Value {
    let mut out = config.clone();
    mark_unknown(block, &mut out, config, &Value::Null, true);
    out
}

/// Computed attributes the configuration does not set become unknown, unless they opted into
/// keeping their prior value (and there is one).
fn mark_unknown(block: &Block, state: &mut Value, config: &Value, prior: &Value, creating: bool) {
    for a in &block.attributes {
        if !a.computed || a.default.is_some() || !config.get(&a.name).is_null() {
            continue;
        }
        let keep = a.use_state_for_unknown && !creating && !prior.get(&a.name).is_null();
        if !keep && let Some(slot) = state.get_mut(&a.name) {
            *slot = Value::Unknown;
        }
    }
    for b in &block.blocks {
        if b.nesting == Nesting::Single
            && let Some(inner) = state.get_mut(&b.name)
            && !inner.is_null()
        {
            mark_unknown(&b.block, inner, config.get(&b.name), prior.get(&b.name), creating);
        }
    }
}

fn replace_paths(block: &Block, prior: &Value, planned: &Value, path: &AttrPath, out: &mut Vec<AttrPath>) {
    for a in &block.attributes {
        if a.requires_replace && prior.get(&a.name) != planned.get(&a.name) {
            out.push(path.then(&a.name));
        }
    }
    for b in &block.blocks {
        if b.requires_replace && prior.get(&b.name) != planned.get(&b.name) {
            out.push(path.then(&b.name));
        } else if b.nesting == Nesting::Single {
            replace_paths(&b.block, prior.get(&b.name), planned.get(&b.name), &path.then(&b.name), out);
        }
    }
}

fn for_each_nested_mut(nesting: Nesting, v: &mut Value, mut f: impl FnMut(&mut Value)) {
    match (nesting, v) {
        (_, Value::Null | Value::Unknown) => {}
        (Nesting::Single, v) => f(v),
        (_, Value::List(items) | Value::Set(items)) => items.iter_mut().for_each(f),
        (_, Value::Map(m) | Value::Object(m)) => m.values_mut().for_each(f),
        _ => {}
    }
}

/// Where a result after apply contradicts a known planned value: Terraform would reject it as
/// "inconsistent result after apply"; we report it first, naming the attribute.
pub fn inconsistencies(planned: &Value, applied: &Value, path: &AttrPath, out: &mut Vec<AttrPath>) {
    match (planned, applied) {
        (Value::Unknown, _) => {}
        (Value::Object(p), Value::Object(a)) => {
            for (k, pv) in p {
                inconsistencies(pv, a.get(k).unwrap_or(&Value::Null), &path.then(k), out);
            }
        }
        (p, a) if p.is_wholly_known() && p != a => out.push(path.clone()),
        // Partly unknown collections: only the known parts could be compared; accept.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schema::{Attribute, NestedBlock, Schema};

    fn schema() -> Schema {
        Schema::new(
            "t",
            vec![
                Attribute::string("id").computed().use_state_for_unknown(),
                Attribute::string("name").required().requires_replace(),
                Attribute::number("weight").required(),
                Attribute::string("mode").default("remove"),
                Attribute::number("observed").computed(),
                Attribute::string("token").optional().write_only(),
            ],
        )
        .with_block(NestedBlock::single("ramp", "", vec![Attribute::number("step").required()]))
    }

    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    #[test]
    fn create_marks_computed_unknown_and_applies_defaults() {
        let s = schema();
        let config = obj(&[
            ("id", Value::Null),
            ("name", "a".into()),
            ("weight", Value::int(5)),
            ("mode", Value::Null),
            ("observed", Value::Null),
            ("token", "secret".into()),
            ("ramp", Value::Null),
        ]);
        let p = plan(&s.block, &Value::Null, config.clone(), &config);
        assert_eq!(p.state.get("id"), &Value::Unknown);
        assert_eq!(p.state.get("observed"), &Value::Unknown);
        assert_eq!(p.state.get("mode"), &Value::str("remove"));
        assert_eq!(p.state.get("token"), &Value::Null, "write-only must not reach the plan");
        assert!(p.requires_replace.is_empty());
    }

    #[test]
    fn no_change_keeps_everything_and_change_marks_only_what_may_move() {
        let s = schema();
        let prior = obj(&[
            ("id", "x".into()),
            ("name", "a".into()),
            ("weight", Value::int(5)),
            ("mode", "remove".into()),
            ("observed", Value::int(5)),
            ("token", Value::Null),
            ("ramp", Value::Null),
        ]);
        let mut config = prior.clone();
        *config.get_mut("id").unwrap() = Value::Null;
        *config.get_mut("mode").unwrap() = Value::Null;
        *config.get_mut("observed").unwrap() = Value::Null;
        // Terraform's proposed state: config values plus prior values for computed ones.
        let p = plan(&s.block, &prior, prior.clone(), &config);
        assert_eq!(p.state, prior, "an unchanged resource must plan exactly its prior state");

        let mut proposed = prior.clone();
        *proposed.get_mut("weight").unwrap() = Value::int(9);
        let p = plan(&s.block, &prior, proposed, &config);
        assert_eq!(p.state.get("id"), &Value::str("x"), "use_state_for_unknown keeps the id");
        assert_eq!(p.state.get("observed"), &Value::Unknown);
        assert!(p.requires_replace.is_empty());

        let mut proposed = prior.clone();
        *proposed.get_mut("name").unwrap() = "b".into();
        let p = plan(&s.block, &prior, proposed, &config);
        assert_eq!(p.requires_replace, vec![AttrPath::attr("name")]);
    }

    /// A prior state, its configuration (computed values left out) and the framework's plan of
    /// it, which finds no change.
    fn unchanged() -> (Schema, Value, Value, Planned) {
        let s = schema().with_block(NestedBlock::single(
            "status",
            "",
            vec![Attribute::string("phase").computed(), Attribute::string("label").optional()],
        ));
        let prior = obj(&[
            ("id", "x".into()),
            ("name", "a".into()),
            ("weight", Value::int(5)),
            ("mode", "remove".into()),
            ("observed", Value::int(5)),
            ("token", Value::Null),
            ("ramp", Value::Null),
            ("status", obj(&[("phase", "ok".into()), ("label", Value::Null)])),
        ]);
        let mut config = prior.clone();
        for computed in ["id", "mode", "observed"] {
            *config.get_mut(computed).unwrap() = Value::Null;
        }
        *config.get_mut("status").unwrap() = obj(&[("phase", Value::Null), ("label", Value::Null)]);
        let p = plan(&s.block, &prior, prior.clone(), &config);
        assert!(!p.changed);
        assert_eq!(p.state, prior);
        (s, prior, config, p)
    }

    #[test]
    fn a_change_made_by_modify_plan_marks_the_computed_values_it_left_alone_unknown() {
        let (s, prior, config, p) = unchanged();
        let mut planned = p.state;
        // modify_plan found something new remotely: it sets `observed` itself.
        *planned.get_mut("observed").unwrap() = Value::int(7);
        mark_unknown_after_modify(&s.block, &prior, &mut planned, &config);
        assert_eq!(planned.get("observed"), &Value::int(7), "what modify_plan set stays");
        assert_eq!(planned.get("id"), &Value::str("x"), "use_state_for_unknown keeps its value");
        assert_eq!(planned.get("mode"), &Value::str("remove"), "a default is not computed by the provider");
        assert_eq!(planned.get("weight"), &Value::int(5), "configured values never go unknown");
        assert_eq!(planned.get("status").get("phase"), &Value::Unknown, "a nested computed value it left alone");
        assert_eq!(planned.get("status").get("label"), &Value::Null);

        // Another computed value, changed by modify_plan: `observed` now goes unknown.
        let (s, prior, config, p) = unchanged();
        let mut planned = p.state;
        *planned.get_mut("status").unwrap().get_mut("phase").unwrap() = "moved".into();
        mark_unknown_after_modify(&s.block, &prior, &mut planned, &config);
        assert_eq!(planned.get("observed"), &Value::Unknown);
        assert_eq!(planned.get("status").get("phase"), &Value::str("moved"));
    }

    #[test]
    fn nothing_goes_unknown_when_modify_plan_changed_nothing() {
        let (s, prior, config, p) = unchanged();
        let mut planned = p.state;
        mark_unknown_after_modify(&s.block, &prior, &mut planned, &config);
        assert_eq!(planned, prior, "an unchanged resource must still plan exactly its prior state");

        // Destroy and create are not this function's business.
        let mut gone = Value::Null;
        mark_unknown_after_modify(&s.block, &prior, &mut gone, &config);
        assert_eq!(gone, Value::Null);
        let mut created = prior.clone();
        mark_unknown_after_modify(&s.block, &Value::Null, &mut created, &config);
        assert_eq!(created, prior);
    }

    #[test]
    fn destroy_plans_null() {
        let s = schema();
        let p = plan(&s.block, &obj(&[("name", "a".into())]), Value::Null, &Value::Null);
        assert_eq!(p.state, Value::Null);
    }

    #[test]
    fn inconsistent_results_are_found() {
        let planned = obj(&[("id", Value::Unknown), ("weight", Value::int(5))]);
        let applied = obj(&[("id", "x".into()), ("weight", Value::int(6))]);
        let mut out = Vec::new();
        inconsistencies(&planned, &applied, &AttrPath::root(), &mut out);
        assert_eq!(out, vec![AttrPath::attr("weight")]);
    }
}
