//! docs/ is generated (scripts/docs.py, `make docs`): from the schema the provider binary reports
//! to the real Terraform CLI, templates/ and examples/. These tests fail when docs/ is stale and
//! when a schema description does not state what the docs promise (defaults, replacement).

mod support;

use shard_provider::framework::schema::{AttrKind, Block};
use shard_provider::framework::timeouts::{Op, format_duration};
use shard_provider::framework::{Provider, Schema};
use shard_provider::protocol::value::Value;
use shard_provider::provider::{self, ShardProvider};
use std::process::Command;
use support::{bench_bin, project_root, provider_binary};

/// The committed docs/ equal what scripts/docs.py generates from this build's schema.
#[test]
fn docs_are_generated_from_the_current_schema() {
    let python = project_root().join(".bench/venv/bin/python3");
    assert!(python.exists(), "{} is missing: run `make bench` first", python.display());
    let out = Command::new(python)
        .arg(project_root().join("scripts/docs.py"))
        .arg("--check")
        .arg("--provider-binary")
        .arg(provider_binary())
        .arg("--terraform")
        .arg(bench_bin("terraform"))
        .current_dir(project_root())
        .output()
        .expect("run scripts/docs.py");
    assert!(
        out.status.success(),
        "scripts/docs.py --check failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}

/// How a default reads in a description: "Default: `30s`."
fn default_sentence(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(_) => v.as_i64().map(|i| i.to_string()).unwrap_or_else(|| format!("{v:?}")),
        other => format!("{other:?}"),
    };
    format!("Default: `{text}`.")
}

const REPLACES: &str = "Changing it forces replacement.";

/// Checks every attribute and nested block of `block`; `path` names it in messages.
fn check_block(block: &Block, path: &str, problems: &mut Vec<String>) {
    for a in &block.attributes {
        let at = format!("{path}{}", a.name);
        if let Some(v) = &a.default {
            let want = default_sentence(v);
            if !a.description.contains(&want) {
                problems.push(format!("{at}: the description must state its default as {want:?}: {:?}", a.description));
            }
        }
        if a.requires_replace != a.description.contains(REPLACES) {
            problems.push(format!(
                "{at}: requires_replace is {} but the description {} {REPLACES:?}",
                a.requires_replace,
                if a.requires_replace { "lacks" } else { "says" }
            ));
        }
        if a.description.trim().is_empty() {
            problems.push(format!("{at}: no description"));
        }
        if let AttrKind::Nested(_, attrs) = &a.kind {
            let inner = Block { attributes: attrs.clone(), ..Block::default() };
            check_block(&inner, &format!("{at}."), problems);
        }
    }
    for b in &block.blocks {
        let at = format!("{path}{}", b.name);
        if b.requires_replace != b.block.description.contains(REPLACES) {
            problems.push(format!(
                "{at}: requires_replace is {} but the block's description {} {REPLACES:?}",
                b.requires_replace,
                if b.requires_replace { "lacks" } else { "says" }
            ));
        }
        if b.block.description.trim().is_empty() {
            problems.push(format!("{at}: no description"));
        }
        check_block(&b.block, &format!("{at}."), problems);
    }
}

fn check(name: &str, schema: &Schema, problems: &mut Vec<String>) {
    if schema.block.description.trim().is_empty() {
        problems.push(format!("{name}: no description"));
    }
    check_block(&schema.block, &format!("{name}."), problems);
}

/// Descriptions are the docs' only source for defaults and replacement (tfplugin6 schemas carry
/// neither), so they must match what the schema does.
#[test]
fn descriptions_state_defaults_replacement_and_timeouts() {
    let mut problems = Vec::new();
    check("provider", &ShardProvider.schema(), &mut problems);
    for r in provider::resources() {
        let name = format!("shard_{}", r.name());
        let schema = r.schema();
        check(&name, &schema, &mut problems);
        if let Some(timeouts) = schema.block.blocks.iter().find(|b| b.name == "timeouts") {
            for a in &timeouts.block.attributes {
                let op = match a.name.as_str() {
                    "create" => Op::Create,
                    "read" => Op::Read,
                    "update" => Op::Update,
                    "delete" => Op::Delete,
                    other => panic!("{name}.timeouts.{other}: not an operation"),
                };
                let want = format!("Default: `{}`.", format_duration(r.default_timeout(op)));
                if !a.description.contains(&want) {
                    problems.push(format!("{name}.timeouts.{}: the description must say {want:?}", a.name));
                }
            }
        }
    }
    for d in provider::data_sources() {
        check(&format!("shard_{}", d.name()), &d.schema(), &mut problems);
    }
    for e in provider::ephemeral_resources() {
        check(&format!("shard_{}", e.name()), &e.schema(), &mut problems);
    }
    assert!(problems.is_empty(), "schema descriptions to fix (then run `make docs`):\n{}", problems.join("\n"));
}
