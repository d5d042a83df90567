//! Keeps `make sandbox` honest without running it (the whole story takes a minute and two API
//! servers; run it with `make sandbox`): the shared module examples/stacks/modules/shard-delivery
//! and the sandbox's shard stack examples/sandbox/shard, which calls it, are formatted, valid for
//! the real Terraform CLI with this provider's schema, and their variable validations refuse what
//! they should.
//!
//! The sandbox driver itself is the example next to this file (tests/sandbox/sandbox.rs).

#[path = "../support/mod.rs"]
mod support;

use support::{Workspace, copy_files, project_root};

/// A workspace holding copies of the module and the sandbox stack, laid out as in the repository
/// (`sandbox/shard` calls `../../stacks/modules/shard-delivery`).
fn workspace() -> Workspace {
    // No AWS call should happen; if one does, it fails fast on a closed port.
    let ws = Workspace::with_aws_endpoint("http://127.0.0.1:9");
    let root = project_root();
    for (from, to) in [
        ("examples/stacks/modules/shard-delivery", "stacks/modules/shard-delivery"),
        ("examples/sandbox/shard", "sandbox/shard"),
    ] {
        copy_files(&root.join(from), &ws.path(to), &[".tf"]).unwrap();
    }
    ws
}

#[test]
fn the_module_and_the_sandbox_stack_are_formatted_and_valid() {
    let ws = workspace();
    ws.ok(&["fmt", "-check", "-recursive", "-no-color", "."]);
    ws.ok(&["-chdir=stacks/modules/shard-delivery", "validate", "-no-color"]);
    ws.ok(&["-chdir=sandbox/shard", "init", "-input=false", "-no-color"]);
    ws.ok(&["-chdir=sandbox/shard", "validate", "-no-color"]);
}

#[test]
fn the_module_refuses_bad_input_before_touching_anything() {
    let ws = workspace();
    ws.ok(&["-chdir=sandbox/shard", "init", "-input=false", "-no-color"]);
    let vars = [
        "-var=aws_endpoint=http://127.0.0.1:9",
        "-var=hub_cluster_name=hub",
        "-var=name=shard-2",
        "-var=listener_arn=arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/a/1/2",
        "-var=target_group_arn=arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/3",
    ];
    let plan = |extra: &[&str], needle: &str| {
        let mut args = vec!["-chdir=sandbox/shard", "plan", "-input=false", "-no-color"];
        args.extend_from_slice(&vars);
        args.extend_from_slice(extra);
        ws.fails(&args, &[needle]);
    };
    plan(&["-var=weight=1000"], "weight must be a whole number from 0 to 999");
    plan(
        &[r#"-var=rollouts={ api = { namespace = "app", name = "api", promote_to_step = 2, promote_full = true } }"#],
        "A rollout gate takes promote_to_step or promote_full, not both.",
    );
}
