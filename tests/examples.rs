//! Every example a user copies is checked with the real Terraform CLI (v1.15.5, `.bench/bin`):
//! - every `.tf` file under `examples/` is formatted (`terraform fmt -check`);
//! - every per-type example (`examples/resources/<type>`, `data-sources/<type>`,
//!   `ephemeral-resources/<type>`, `list-resources/<type>` (with `-query`), `actions/<type>`) and
//!   `examples/provider` passes `terraform validate` against this
//!   provider's schema. The snippets refer to things a real configuration has around them (a
//!   variable, another stack's remote state, the shard's cluster module); [`surroundings`] declares
//!   exactly those, so any other undeclared reference, unknown attribute or wrong type fails;
//! - every module under `examples/stacks/modules` that needs no registry provider validates;
//! - each `import.sh` imports into an address its `resource.tf` declares.
//!
//! The stacks themselves need `hashicorp/aws` (and helm, kubernetes), which cannot be installed
//! without the registry; they get the `fmt` check here and are applied, through
//! `modules/shard-delivery`, by the sandbox.

mod support;

use std::path::{Path, PathBuf};
use support::{Workspace, project_root};

/// What a snippet refers to outside itself: declarations written beside it, and top-level
/// blocks of providers that cannot be installed here, dropped before validating.
struct Surroundings {
    declarations: String,
    drop_blocks: &'static [&'static str],
}

/// Another stack's outputs, as the stacks read them.
const INGRESS_STATE: &str = "data \"terraform_remote_state\" \"ingress\" {\n  backend = \"local\"\n  config  = { path = \"ingress.tfstate\" }\n}\n";

fn surroundings(example: &str) -> Surroundings {
    let (declarations, drop_blocks): (String, &'static [&'static str]) = match example {
        "shard_weight" => (format!("variable \"in_maintenance\" {{\n  type = bool\n}}\n{INGRESS_STATE}"), &[]),
        // The shard's EKS cluster comes from a module (examples/stacks/modules/eks-cluster).
        "shard_argocd_cluster_registration" => {
            (format!("module \"cluster\" {{\n  source = \"./cluster\"\n}}\n{INGRESS_STATE}"), &[])
        }
        "shard_listener" => ("variable \"listener_arn\" {\n  type = string\n}\n".into(), &[]),
        // Configures hashicorp/helm with the token; helm cannot be installed here.
        "shard_eks_token" => (String::new(), &["provider \"helm\""]),
        _ => (String::new(), &[]),
    };
    Surroundings { declarations, drop_blocks }
}

/// Removes top-level blocks whose header starts with one of `headers` (formatted files close a
/// top-level block with `}` in column 0, which `fmt -check` guarantees).
fn drop_top_level_blocks(text: &str, headers: &[&str]) -> String {
    let mut out = Vec::new();
    let mut dropping = false;
    for line in text.lines() {
        if !dropping && headers.iter().any(|h| line.starts_with(h)) {
            dropping = !line.trim_end().ends_with('}');
            continue;
        }
        if dropping {
            if line == "}" {
                dropping = false;
            }
            continue;
        }
        out.push(line);
    }
    out.join("\n") + "\n"
}

fn per_type_examples() -> Vec<PathBuf> {
    let root = project_root().join("examples");
    let mut dirs = vec![root.join("provider")];
    for kind in ["resources", "data-sources", "ephemeral-resources", "list-resources", "actions"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(kind))
            .unwrap_or_else(|e| panic!("examples/{kind}: {e}"))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.is_dir())
            .collect();
        found.sort();
        dirs.extend(found);
    }
    dirs
}

fn tf_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        // Query files (`list` blocks) too: `terraform validate -query` checks them.
        .filter(|p| p.extension().is_some_and(|x| x == "tf") || p.to_string_lossy().ends_with(".tfquery.hcl"))
        .collect();
    files.sort();
    files
}

/// A workspace holding a copy of `dir`'s .tf files (minus dropped blocks), plus `declarations`.
fn workspace_for(dir: &Path, s: &Surroundings) -> Workspace {
    let ws = Workspace::with_aws_endpoint("http://127.0.0.1:9");
    let files = tf_files(dir);
    assert!(!files.is_empty(), "{} has no .tf file", dir.display());
    let mut has_terraform_block = false;
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read example");
        has_terraform_block |= text.contains("required_providers");
        let name = file.file_name().expect("file name");
        std::fs::write(ws.dir.join(name), drop_top_level_blocks(&text, s.drop_blocks)).expect("copy example");
    }
    let mut around = s.declarations.clone();
    if !has_terraform_block {
        // Registry snippets leave out the required_providers block every real configuration has.
        around.push_str("\nterraform {\n  required_providers {\n    shard = { source = \"shardkit/shard\" }\n  }\n}\n");
    }
    std::fs::write(ws.dir.join("zz_surroundings.tf"), around).expect("write surroundings");
    if s.declarations.contains("./cluster") {
        std::fs::create_dir_all(ws.dir.join("cluster")).expect("mkdir");
        std::fs::write(ws.dir.join("cluster/main.tf"), "output \"name\" {\n  value = \"shard-2\"\n}\n").expect("write");
    }
    ws
}

fn validate(ws: &Workspace, what: &Path) {
    ws.ok(&["init", "-no-color", "-input=false", "-backend=false"]);
    let query = std::fs::read_dir(&ws.dir)
        .expect("read workspace")
        .any(|e| e.expect("dir entry").file_name().to_string_lossy().ends_with(".tfquery.hcl"));
    let r = if query { ws.run(&["validate", "-query", "-no-color"]) } else { ws.run(&["validate", "-no-color"]) };
    assert_eq!(r.code, 0, "{} does not validate:\n{}", what.display(), r.text());
    assert!(r.stdout.contains("The configuration is valid"), "{}: {}", what.display(), r.text());
}

#[test]
fn every_example_file_is_formatted() {
    let ws = Workspace::with_aws_endpoint("http://127.0.0.1:9");
    let examples = project_root().join("examples");
    let r = ws.run(&["fmt", "-check", "-recursive", "-diff", "-no-color", &examples.display().to_string()]);
    assert_eq!(r.code, 0, "run `terraform fmt -recursive examples/`; these files are not formatted:\n{}", r.text());
}

#[test]
fn per_type_examples_validate_against_the_provider_schema() {
    let dirs = per_type_examples();
    assert!(dirs.len() >= 7, "expected the provider example and one per type, found {dirs:?}");
    for dir in dirs {
        let name = dir.file_name().and_then(|n| n.to_str()).expect("dir name");
        let ws = workspace_for(&dir, &surroundings(name));
        validate(&ws, &dir);
    }
}

#[test]
fn registry_free_stack_modules_validate() {
    let modules = project_root().join("examples/stacks/modules");
    let mut checked = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&modules)
        .expect("examples/stacks/modules")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    for dir in entries {
        let text: String = tf_files(&dir).iter().map(|f| std::fs::read_to_string(f).expect("read")).collect();
        if text.contains("hashicorp/") {
            continue; // needs a registry provider: fmt-checked only
        }
        assert!(text.contains("shardkit/shard"), "{} declares no provider", dir.display());
        let ws = workspace_for(&dir, &Surroundings { declarations: String::new(), drop_blocks: &[] });
        validate(&ws, &dir);
        // The module's own `terraform test` files (mock_provider "shard"), as a module user runs them.
        let tests = dir.join("tests");
        if tests.is_dir() {
            support::copy_files(&tests, &ws.dir.join("tests"), &[".tftest.hcl"]).expect("copy tests");
            let r = ws.run(&["test", "-no-color"]);
            assert_eq!(r.code, 0, "{}: terraform test fails:\n{}", dir.display(), r.text());
            assert!(r.stdout.contains("Success!") && !r.stdout.contains("0 passed"), "{}: {}", dir.display(), r.text());
        }
        checked += 1;
    }
    assert!(checked >= 1, "no module under {} uses only this provider", modules.display());
}

#[test]
fn import_examples_name_the_resource_they_document() {
    let root = project_root().join("examples/resources");
    for entry in std::fs::read_dir(&root).expect("examples/resources") {
        let dir = entry.expect("dir entry").path();
        let ty = dir.file_name().and_then(|n| n.to_str()).expect("dir name").to_string();
        let import = std::fs::read_to_string(dir.join("import.sh"))
            .unwrap_or_else(|e| panic!("{ty}: every resource example has an import.sh ({e})"));
        let resource = std::fs::read_to_string(dir.join("resource.tf")).expect("resource.tf");
        let command = import
            .lines()
            .find(|l| l.starts_with("terraform import "))
            .unwrap_or_else(|| panic!("{ty}/import.sh has no `terraform import` line"));
        let address = command.split_whitespace().nth(2).expect("an address");
        let (addr_type, addr_name) = address.split_once('.').expect("<type>.<name>");
        assert_eq!(addr_type, ty, "{ty}/import.sh imports into another type: {command}");
        assert!(
            resource.contains(&format!("resource \"{ty}\" \"{addr_name}\"")),
            "{ty}/import.sh imports {address}, which resource.tf does not declare"
        );
    }
}

#[test]
fn dropping_blocks_keeps_the_rest() {
    let text = "a {\n  x = 1\n}\n\nprovider \"helm\" {\n  k = {\n    y = 2\n  }\n}\n\nb {}\n";
    assert_eq!(drop_top_level_blocks(text, &["provider \"helm\""]), "a {\n  x = 1\n}\n\n\nb {}\n");
}

/// The break-glass stack (actions only, Terraform 1.14+) uses no registry provider: it validates
/// here, so every action block in it matches the provider's schema.
#[test]
fn the_break_glass_stack_validates() {
    if !support::terraform_at_least(1, 14) {
        eprintln!("skipped: action blocks need Terraform 1.14 or later");
        return;
    }
    let dir = project_root().join("examples/stacks/break-glass");
    let ws = workspace_for(&dir, &Surroundings { declarations: String::new(), drop_blocks: &[] });
    validate(&ws, &dir);
}
