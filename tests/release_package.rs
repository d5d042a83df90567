//! Release packages (scripts/release.sh): their shape, as the Terraform Registry and
//! `terraform providers mirror` lay them out, and an install through a packed filesystem mirror
//! with the real Terraform CLI, offline, no dev_overrides.

mod support;

use base64::Engine;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use support::{Moto, Workspace, package_release, provider_binary};

const NAME: &str = "terraform-provider-shard";
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Terraform's platform name for this machine, e.g. linux_amd64.
fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("{}_{arch}", std::env::consts::OS)
}

fn zip_name() -> String {
    format!("{NAME}_{VERSION}_{}.zip", platform())
}

fn binary_name() -> String {
    format!("{NAME}_v{VERSION}")
}

/// The `h1:` hash Terraform records for a provider package: Go's dirhash "Hash1" over the
/// unpacked files, i.e. base64(SHA-256 of the lines "<sha256 hex>  <name>\n"). Computed here
/// from the binary itself, so it matches only if the zip holds exactly that binary under `name`.
fn h1_of(binary: &Path, name: &str) -> String {
    let summary = format!("{}  {name}\n", sha256_hex(binary));
    format!("h1:{}", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(summary.as_bytes())))
}

/// (name, SHA-256 hex) per line of a SHA256SUMS file, requiring `shasum -a 256`'s format.
fn parse_sums(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).expect("read SHA256SUMS");
    assert!(text.ends_with('\n'), "SHA256SUMS does not end with a newline:\n{text}");
    text.lines()
        .map(|line| {
            let (hash, name) = line.split_once("  ").unwrap_or_else(|| panic!("not `HASH  NAME`: {line:?}"));
            assert!(
                hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
                "not a lowercase SHA-256 hex digest: {line:?}"
            );
            (name.to_string(), hash.to_string())
        })
        .collect()
}

/// One central-directory entry of a zip file, the fields Terraform's unzip looks at.
#[derive(Debug)]
struct ZipEntry {
    name: String,
    made_by_unix: bool,
    mode: u32,
    dos_date: u16,
    dos_time: u16,
    size: u64,
}

/// Reads a zip's central directory (no zip64, no archive comment: what release.sh writes).
fn zip_entries(path: &Path) -> Vec<ZipEntry> {
    let b = std::fs::read(path).expect("read zip");
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let eocd = b.len() - 22;
    assert_eq!(u32_at(eocd), 0x0605_4b50, "no end-of-central-directory record at the end of {}", path.display());
    let count = u16_at(eocd + 10) as usize;
    let mut at = u32_at(eocd + 16) as usize;
    let mut entries = Vec::new();
    for _ in 0..count {
        assert_eq!(u32_at(at), 0x0201_4b50, "bad central directory entry");
        let (name_len, extra_len, comment_len) =
            (u16_at(at + 28) as usize, u16_at(at + 30) as usize, u16_at(at + 32) as usize);
        entries.push(ZipEntry {
            name: String::from_utf8(b[at + 46..at + 46 + name_len].to_vec()).expect("UTF-8 name"),
            made_by_unix: b[at + 5] == 3,
            mode: u32_at(at + 38) >> 16,
            dos_time: u16_at(at + 12),
            dos_date: u16_at(at + 14),
            size: u64::from(u32_at(at + 24)),
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    entries
}

fn tempdir(prefix: &str) -> PathBuf {
    tempfile::Builder::new().prefix(prefix).tempdir().expect("tempdir").keep()
}

#[test]
fn release_packages_have_the_registry_shape_and_a_deterministic_zip() {
    let tmp = tempdir("release");
    let binary = provider_binary();
    let (dist, mirror) = (tmp.join("dist"), tmp.join("mirror"));
    package_release(&binary, &dist, &mirror);

    let zip = dist.join(zip_name());
    let manifest = dist.join(format!("{NAME}_{VERSION}_manifest.json"));
    let sums = dist.join(format!("{NAME}_{VERSION}_SHA256SUMS"));
    let mut files: Vec<String> =
        std::fs::read_dir(&dist).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    let mut expected =
        vec![zip_name(), format!("{NAME}_{VERSION}_SHA256SUMS"), format!("{NAME}_{VERSION}_manifest.json")];
    expected.sort();
    assert_eq!(files, expected, "files in the release directory");

    // The zip: one executable entry named as the Registry expects, holding the binary.
    let entries = zip_entries(&zip);
    assert_eq!(entries.len(), 1, "zip entries: {entries:?}");
    let e = &entries[0];
    assert_eq!(e.name, binary_name());
    assert!(e.made_by_unix, "entry not marked as made on Unix (its mode would be ignored): {e:?}");
    assert_eq!(e.mode, 0o100755, "entry mode {:o}", e.mode);
    assert_eq!((e.dos_date, e.dos_time), ((1 << 5) | 1, 0), "entry time is not 1980-01-01 00:00: {e:?}");
    assert_eq!(e.size, std::fs::metadata(&binary).unwrap().len(), "entry size is not the binary's");

    // The manifest declares plugin protocol 6.
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).expect("manifest JSON");
    assert_eq!(m, serde_json::json!({ "version": 1, "metadata": { "protocol_versions": ["6.0"] } }));

    // SHA256SUMS: the zip and the manifest, each with its true SHA-256, sorted by name.
    let listed = parse_sums(&sums);
    let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, [zip_name(), format!("{NAME}_{VERSION}_manifest.json")]);
    for (name, hash) in &listed {
        assert_eq!(hash, &sha256_hex(&dist.join(name)), "SHA256SUMS is wrong for {name}");
    }

    // The packed mirror: the same zip under hostname/namespace/type.
    let mirrored = mirror.join("registry.terraform.io/shardkit/shard").join(zip_name());
    assert_eq!(sha256_hex(&mirrored), sha256_hex(&zip), "mirror zip differs from the release zip");

    // Deterministic: a copy of the binary made now, elsewhere, with another mode, packages to
    // the very same bytes.
    let copy = tmp.join("copy").join(NAME);
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(&binary, &copy).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100)); // another second in any time stamp
    package_release(&copy, &tmp.join("dist2"), &tmp.join("mirror2"));
    assert_eq!(sha256_hex(&tmp.join("dist2").join(zip_name())), sha256_hex(&zip), "the same binary zipped differently");
    assert_eq!(
        std::fs::read(tmp.join("dist2").join(format!("{NAME}_{VERSION}_SHA256SUMS"))).unwrap(),
        std::fs::read(&sums).unwrap()
    );
    support::remove_unless_failed(&tmp);
}

/// The `hashes` of shardkit/shard in .terraform.lock.hcl, after checking its version.
fn locked_hashes(ws: &Workspace) -> Vec<String> {
    let lock = std::fs::read_to_string(ws.path(".terraform.lock.hcl")).expect("read .terraform.lock.hcl");
    let block = lock
        .split("provider \"registry.terraform.io/shardkit/shard\" {")
        .nth(1)
        .unwrap_or_else(|| panic!("shardkit/shard not in the lock file:\n{lock}"));
    let block = &block[..block.find("\n}").expect("end of the provider block")];
    assert!(block.contains(&format!("version = \"{VERSION}\"")), "locked version is not {VERSION}:\n{lock}");
    let hashes = &block[block.find("hashes = [").expect("hashes")..];
    hashes.split('"').skip(1).step_by(2).map(str::to_string).collect()
}

fn write_lock(ws: &Workspace, hashes: &[&str]) {
    let list: String = hashes.iter().map(|h| format!("    \"{h}\",\n")).collect();
    std::fs::write(
        ws.path(".terraform.lock.hcl"),
        format!("provider \"registry.terraform.io/shardkit/shard\" {{\n  version = \"{VERSION}\"\n  hashes = [\n{list}  ]\n}}\n"),
    )
    .unwrap();
}

#[test]
fn installs_from_a_filesystem_mirror_offline_and_inits_again_with_state() {
    let tmp = tempdir("release-install");
    let binary = provider_binary();
    let (dist, mirror) = (tmp.join("dist"), tmp.join("mirror"));
    package_release(&binary, &dist, &mirror);
    let sums = parse_sums(&dist.join(format!("{NAME}_{VERSION}_SHA256SUMS")));
    let zip_sha = &sums.iter().find(|(n, _)| *n == zip_name()).expect("zip in SHA256SUMS").1;
    let h1 = h1_of(&binary, &binary_name());

    let moto = Moto::start();
    let topo = moto.fixture(&["topology", "weights=70,30"]);
    let tgs: Vec<String> = serde_json::from_value(topo["target_groups"].clone()).unwrap();
    moto.fixture(&["register", &tgs[0], "2"]);
    let ws = Workspace::new(&moto).with_mirror_at(&mirror);
    let cli = std::fs::read_to_string(ws.path("cli.tfrc")).unwrap();
    assert!(cli.contains("filesystem_mirror") && !cli.contains("dev_overrides") && !cli.contains("direct"), "{cli}");
    ws.write(
        &moto,
        &format!(
            "data \"shard_listener\" \"l\" {{\n  listener_arn = \"{}\"\n}}\n\
             output \"weights\" {{ value = data.shard_listener.l.target_groups[*].weight }}\n",
            topo["listener"].as_str().unwrap()
        ),
    );

    // First init: installed from the mirror's zip, checked and recorded in the lock file.
    let init = ws.ok(&["init", "-no-color", "-input=false"]);
    let text = init.flat();
    assert!(text.contains(&format!("Installed shardkit/shard v{VERSION}")), "{text}");
    assert!(!text.contains("development overrides"), "dev_overrides in effect:\n{text}");
    let installed = ws
        .path(".terraform/providers/registry.terraform.io/shardkit/shard")
        .join(VERSION)
        .join(platform())
        .join(binary_name());
    assert!(
        std::fs::symlink_metadata(&installed).map(|m| m.is_file()).unwrap_or(false),
        "{} not unpacked",
        installed.display()
    );
    assert_eq!(sha256_hex(&installed), sha256_hex(&binary), "the unpacked provider is not the packaged binary");
    let hashes = locked_hashes(&ws);
    assert!(hashes.contains(&h1), "lock file hashes {hashes:?} lack {h1} (the zip's content)");

    // The provider runs: apply reads the listener from moto; the plan after it is empty.
    ws.apply();
    let weights: Vec<i64> = ws.state_of("data.shard_listener.l")["target_groups"]
        .as_array()
        .expect("target_groups")
        .iter()
        .map(|t| t["weight"].as_i64().unwrap())
        .collect();
    assert_eq!(weights, [70, 30]);
    assert!(ws.path("terraform.tfstate").exists());

    // A second init with state present (under dev_overrides this one asks the registry).
    let again = ws.ok(&["init", "-no-color", "-input=false"]);
    assert!(
        again.flat().contains("Reusing previous version of shardkit/shard from the dependency lock file"),
        "{}",
        again.text()
    );
    assert_eq!(locked_hashes(&ws), hashes, "a second init changed the lock file");
    ws.assert_plan_empty();

    // The zip's SHA-256 from SHA256SUMS is the `zh:` hash a registry install records. Terraform
    // checks it against the mirror's zip: a wrong one fails the install ...
    std::fs::remove_dir_all(ws.path(".terraform")).unwrap();
    let wrong = format!("zh:{}", "0".repeat(64));
    write_lock(&ws, &[&wrong]);
    ws.fails(&["init", "-no-color", "-input=false"], &["doesn't match any of the checksums"]);
    // ... the one from SHA256SUMS installs, and the lock file then holds it and the h1: hash.
    let zh = format!("zh:{zip_sha}");
    write_lock(&ws, &[&zh]);
    ws.ok(&["init", "-no-color", "-input=false"]);
    let hashes = locked_hashes(&ws);
    assert!(hashes.contains(&zh) && hashes.contains(&h1), "lock file hashes {hashes:?}: want {zh} and {h1}");
    ws.assert_plan_empty();
    ws.destroy();
    drop(ws);
    support::remove_unless_failed(&tmp);
}

/// `Workspace::with_mirror()`: the shared, once-per-build mirror of the test binary that other
/// acceptance tests can install through instead of dev_overrides.
#[test]
fn workspace_with_mirror_installs_the_test_binary_and_inits_again() {
    let moto = Moto::start();
    let topo = moto.fixture(&["topology", "weights=60,40"]);
    let ws = Workspace::new(&moto).with_mirror();
    let shared = support::provider_mirror();
    assert!(shared.mirror.starts_with(env!("CARGO_TARGET_TMPDIR")), "{}", shared.mirror.display());
    let zip = shared.mirror.join("registry.terraform.io/shardkit/shard").join(zip_name());
    let sums = parse_sums(&shared.dist.join(format!("{NAME}_{VERSION}_SHA256SUMS")));
    assert_eq!(sums[0], (zip_name(), sha256_hex(&zip)), "the shared mirror's zip is not the one its SHA256SUMS lists");
    ws.write(
        &moto,
        &format!("data \"shard_listener\" \"l\" {{\n  listener_arn = \"{}\"\n}}\n", topo["listener"].as_str().unwrap()),
    );
    ws.init();
    assert!(locked_hashes(&ws).contains(&h1_of(&provider_binary(), &binary_name())), "not the test binary");
    ws.apply();
    assert_eq!(ws.state_of("data.shard_listener.l")["total_weight"], 100);
    ws.init();
    ws.assert_plan_empty();
}
