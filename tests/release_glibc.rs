//! The glibc floor of release binaries: the highest `GLIBC_` symbol version a binary needs is the
//! oldest glibc its dynamic loader accepts (Amazon Linux 2 has 2.26, RHEL 8 2.28, Debian bookworm
//! 2.36). `make release` builds Linux packages against glibc 2.17 (cargo-zigbuild) and checks the
//! floor with `scripts/release_package.py glibc-floor`; this file checks that checker against
//! binutils' `objdump -T`, and (ignored by default: `make release-check` runs it after a
//! `make release`) the packages in dist/ themselves.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{Workspace, project_root, provider_binary};

/// `release_package.py glibc-floor PATH [--max M]`: (success, what it printed).
fn glibc_floor(path: &Path, max: Option<&str>) -> (bool, String) {
    let mut c = Command::new("python3");
    c.arg(project_root().join("scripts/release_package.py")).arg("glibc-floor").arg(path);
    if let Some(m) = max {
        c.args(["--max", m]);
    }
    let out = c.output().expect("run release_package.py");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The version in "needs glibc X.Y" of the checker's answer.
fn floor_of(text: &str) -> String {
    text.split("needs glibc ").nth(1).and_then(|t| t.split_whitespace().next()).unwrap_or_default().to_string()
}

/// The highest `GLIBC_x.y` among the dynamic symbols `objdump -T` lists for `path`.
fn objdump_floor(path: &Path) -> String {
    let out = Command::new("objdump").arg("-T").arg(path).output().expect("objdump (binutils) is needed");
    assert!(out.status.success(), "objdump -T {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut versions: Vec<Vec<u32>> = text
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter_map(|v| v.split('.').map(|p| p.parse().ok()).collect::<Option<Vec<u32>>>())
        .collect();
    versions.sort();
    versions.last().map(|v| v.iter().map(u32::to_string).collect::<Vec<_>>().join(".")).unwrap_or_default()
}

#[test]
fn the_floor_checker_agrees_with_objdump_and_refuses_a_binary_above_the_floor() {
    let binary = provider_binary();
    let (ok, text) = glibc_floor(&binary, None);
    assert!(ok, "{text}");
    let floor = floor_of(&text);
    assert_eq!(floor, objdump_floor(&binary), "{text}");
    // A floor below the binary's: refused, naming both and the way out.
    let (ok, text) = glibc_floor(&binary, Some("2.3"));
    assert!(!ok && text.contains(&format!("needs glibc {floor}, above the floor 2.3")), "{text}");
    assert!(text.contains("cargo-zigbuild"), "{text}");
    let (ok, text) = glibc_floor(&binary, Some(&floor));
    assert!(ok, "{text}");
}

/// The release packages `make release` wrote (SHARD_RELEASE_DIST, default dist/).
fn release_zips() -> Vec<PathBuf> {
    let dist = std::env::var_os("SHARD_RELEASE_DIST").map(PathBuf::from).unwrap_or_else(|| project_root().join("dist"));
    let version = env!("CARGO_PKG_VERSION");
    let mut zips: Vec<PathBuf> = std::fs::read_dir(&dist)
        .unwrap_or_else(|e| panic!("{}: {e}: run `make release` first", dist.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
            name.starts_with(&format!("terraform-provider-shard_{version}_linux_")) && name.ends_with(".zip")
        })
        .collect();
    zips.sort();
    assert!(!zips.is_empty(), "no linux release zip of {version} in {}: run `make release`", dist.display());
    zips
}

/// Every Linux package in dist/ needs glibc 2.17 at most; this machine's own platform's package
/// is installed through a filesystem mirror and driven by Terraform (handshake, mTLS with the
/// zig-built aws-lc, schema, validation).
#[test]
#[ignore = "needs `make release` first; `make release-check` runs it"]
fn release_packages_need_glibc_2_17_at_most_and_run() {
    for zip in release_zips() {
        let (ok, text) = glibc_floor(&zip, Some("2.17"));
        assert!(ok, "{}: {text}", zip.display());
        println!("{text}");
        let mirror = tempfile::Builder::new().prefix("release-mirror").tempdir().unwrap().keep();
        let unpacked = mirror.join("unpacked");
        std::fs::create_dir_all(&unpacked).unwrap();
        let status = Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(&zip)
            .arg(&unpacked)
            .status()
            .expect("python3 -m zipfile");
        assert!(status.success());
        let binary = std::fs::read_dir(&unpacked).unwrap().next().expect("one binary").unwrap().path();
        assert_eq!(objdump_floor(&binary), floor_of(&text), "the checker and objdump disagree on {}", zip.display());

        let native = match std::env::consts::ARCH {
            "x86_64" => "_linux_amd64.zip",
            "aarch64" => "_linux_arm64.zip",
            _ => "none",
        };
        if !zip.to_string_lossy().ends_with(native) {
            continue;
        }
        let layout = mirror.join("registry.terraform.io/shardkit/shard");
        std::fs::create_dir_all(&layout).unwrap();
        std::fs::copy(&zip, layout.join(zip.file_name().unwrap())).unwrap();
        let ws = Workspace::with_aws_endpoint("http://127.0.0.1:9").with_mirror_at(&mirror);
        std::fs::write(
            ws.path("main.tf"),
            "terraform {\n  required_providers {\n    shard = { source = \"shardkit/shard\" }\n  }\n}\n\nprovider \"shard\" {\n  region = \"us-east-1\"\n}\n\nresource \"shard_weight\" \"w\" {\n  listener_arn     = \"arn:aws:elasticloadbalancing:us-east-1:111122223333:listener/app/a/0123456789abcdef/0123456789abcdef\"\n  target_group_arn = \"arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/t/0123456789abcdef\"\n  weight           = 1000\n}\n",
        )
        .unwrap();
        ws.init();
        // Validation runs in the provider: its refusal of weight 1000 proves the release binary
        // served Terraform (AWS allows 0..999).
        ws.fails(&["validate", "-no-color"], &["Invalid value for weight"]);
    }
}
