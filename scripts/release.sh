#!/usr/bin/env bash
# Release packages of terraform-provider-shard in the Terraform Registry's shape (see --help).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

usage() {
  cat <<'HELP'
Usage: scripts/release.sh [--binary PATH] [--platform OS_ARCH | --target TRIPLE] [--out DIR] [--mirror DIR]

Builds the provider (cargo build --release; on Linux x86_64 by default with cargo-zigbuild against
glibc 2.17, so the binary starts on Amazon Linux 2, RHEL 7+, Ubuntu 18.04+) and writes, for the
version in Cargo.toml:
  DIR/terraform-provider-shard_<version>_<os>_<arch>.zip   the binary terraform-provider-shard_v<version>
  DIR/terraform-provider-shard_<version>_manifest.json     {"version": 1, "metadata": {"protocol_versions": ["6.0"]}}
  DIR/terraform-provider-shard_<version>_SHA256SUMS        every zip of that version in DIR, and the manifest
The zip is deterministic (fixed time stamps and mode): the same binary gives the same SHA-256.
Signing SHA256SUMS (gpg --detach-sign, for the Registry) is left to the release manager.

Options:
  --binary PATH      package this binary instead of building (e.g. target/debug/terraform-provider-shard)
  --platform OS_ARCH the binary's platform (default: this machine's, e.g. linux_amd64)
  --target TRIPLE    build for this Rust target triple (cargo build --release --target TRIPLE);
                     sets the platform. RELEASE_CARGO overrides the build command (default "cargo
                     zigbuild" for a target with a glibc suffix, else "cargo"):
                       x86_64-unknown-linux-gnu.2.17   linux_amd64   the default on Linux x86_64
                       aarch64-unknown-linux-gnu.2.17  linux_arm64   cross-built with cargo-zigbuild
                       x86_64-apple-darwin             darwin_amd64  on a Mac (rustup target add); from Linux
                       aarch64-apple-darwin            darwin_arm64  a macOS SDK is needed; see CONTRIBUTING.md
                     cargo-zigbuild's glibc suffix is accepted: --target x86_64-unknown-linux-gnu.2.17
                     (a plain build on Debian bookworm needs glibc 2.34+ wherever it runs).
                     Default on Linux x86_64: x86_64-unknown-linux-gnu.2.17 with "cargo zigbuild";
                     RELEASE_NATIVE=1 builds natively instead (the builder's glibc).
                     A target with a glibc suffix installs what it needs, once, into
                     .bench/release-tools/ unless already on PATH: cargo-zigbuild (crates.io)
                     and zig (PyPI's ziglang); and the Rust target (rustup target add).
                     Every linux package's binary is checked: the highest GLIBC_ symbol version it
                     needs must not exceed the suffix (release_package.py glibc-floor).
  --out DIR          where the packages go (default: dist/)
  --mirror DIR       also lay the zip out as a packed filesystem mirror:
                       DIR/registry.terraform.io/shardkit/shard/terraform-provider-shard_<version>_<os>_<arch>.zip
                     for a CLI config with provider_installation { filesystem_mirror { path = "DIR" } }.
                     A rebuilt binary under the same version has new checksums: a directory whose
                     .terraform.lock.hcl recorded the old ones must delete it (init -upgrade keeps them).
HELP
}

binary="" platform="" target="" out="$root/dist" mirror=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=${2:?--binary needs a path}; shift 2 ;;
    --platform) platform=${2:?--platform needs OS_ARCH}; shift 2 ;;
    --target) target=${2:?--target needs a Rust target triple}; shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --mirror) mirror=${2:?--mirror needs a directory}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "release: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [ -n "$binary" ] && [ -n "$target" ]; then
  echo "release: --binary and --target exclude each other (--platform names a given binary's platform)" >&2
  exit 2
fi

# Python's zipfile (stdlib) makes the zip: no `zip` needed. The bench's venv if it is there.
python="$root/.bench/venv/bin/python3"
[ -x "$python" ] || python=python3
helper="$root/scripts/release_package.py"
version=$("$python" "$helper" version "$root/Cargo.toml")

triple=${target%%.*} # without a cargo-zigbuild glibc suffix (.2.17)
if [ -n "$target" ]; then
  case "$triple" in
    x86_64-unknown-linux-gnu | x86_64-unknown-linux-musl) platform=linux_amd64 ;;
    aarch64-unknown-linux-gnu | aarch64-unknown-linux-musl) platform=linux_arm64 ;;
    x86_64-apple-darwin) platform=darwin_amd64 ;;
    aarch64-apple-darwin) platform=darwin_arm64 ;;
    *) echo "release: no Terraform platform known for target $target" >&2; exit 2 ;;
  esac
fi
if [ -z "$platform" ]; then
  case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) echo "release: unknown OS $(uname -s); pass --platform" >&2; exit 2 ;; esac
  case "$(uname -m)" in x86_64 | amd64) arch=amd64 ;; aarch64 | arm64) arch=arm64 ;; *) echo "release: unknown architecture $(uname -m); pass --platform" >&2; exit 2 ;; esac
  platform="${os}_${arch}"
fi

# The glibc floor of Linux builds: without a target, on Linux x86_64, the default is glibc 2.17
# (the oldest cargo-zigbuild supports well; Rust's own floor for *-linux-gnu is 2.17 too,
# https://doc.rust-lang.org/rustc/platform-support.html).
if [ -z "$binary" ] && [ -z "$target" ] && [ "${RELEASE_NATIVE:-0}" != 1 ] \
  && [ "$(uname -s)" = Linux ] && [ "$platform" = linux_amd64 ]; then
  target=x86_64-unknown-linux-gnu.2.17
  triple=x86_64-unknown-linux-gnu
fi
glibc_floor=""
case "$target" in *-linux-gnu.*) glibc_floor=${target#*-linux-gnu.} ;; esac

# Pinned tools for cross and glibc-floor builds, installed once into .bench/release-tools/.
ZIGBUILD_VERSION=0.24.0 # crates.io
ZIGLANG_VERSION=0.15.2  # PyPI's zig
ensure_zigbuild() {
  # The physical path: .bench may be a symlink shared between checkouts, and the zig shim names
  # its interpreter by absolute path.
  mkdir -p "$root/.bench"
  local tools
  tools="$(cd "$root/.bench" && pwd -P)/release-tools"
  if ! command -v zig >/dev/null; then
    if [ ! -x "$tools/venv/bin/python3" ] || ! "$tools/venv/bin/python3" -c 'import ziglang' 2>/dev/null; then
      echo "release: installing zig $ZIGLANG_VERSION (PyPI's ziglang, about 50 MB) into $tools (once)"
      rm -rf "$tools/venv"
      python3 -m venv "$tools/venv"
      "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "ziglang==$ZIGLANG_VERSION" >/dev/null
    fi
    mkdir -p "$tools/zig-bin"
    printf '#!/bin/sh\nexec "%s" -m ziglang "$@"\n' "$tools/venv/bin/python3" >"$tools/zig-bin/zig"
    chmod +x "$tools/zig-bin/zig"
    export PATH="$tools/zig-bin:$PATH"
  fi
  if ! command -v cargo-zigbuild >/dev/null; then
    if [ ! -x "$tools/bin/cargo-zigbuild" ]; then
      echo "release: installing cargo-zigbuild $ZIGBUILD_VERSION from crates.io into $tools (cargo install: about 3 minutes on 2 cores, once)"
      cargo install --locked --quiet --version "$ZIGBUILD_VERSION" --root "$tools" cargo-zigbuild
    fi
    export PATH="$tools/bin:$PATH"
  fi
  echo "release: $(cargo-zigbuild --version), zig $(zig version)"
}
ensure_rust_target() {
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$1"; then
    echo "release: rustup target add $1 (the Rust standard library for it, once)"
    rustup target add "$1"
  fi
}

if [ -z "$binary" ]; then
  target_dir=${CARGO_TARGET_DIR:-$root/target}
  default_cargo=cargo
  if [ -n "$glibc_floor" ]; then
    default_cargo="cargo zigbuild"
  fi
  read -r -a cargo <<<"${RELEASE_CARGO:-$default_cargo}"
  # `cargo zigbuild` is the build command itself (cargo build's options); others take `build`.
  if [ "${cargo[*]}" = "cargo zigbuild" ]; then
    ensure_zigbuild
  else
    cargo+=(build)
  fi
  [ -z "$target" ] || ensure_rust_target "$triple"
  if [ -n "$target" ]; then
    echo "release: ${cargo[*]} --release --locked --target $target (version $version, $platform; a cold release build compiles every dependency, then fat LTO in one codegen unit: about 660 CPU-seconds)"
    "${cargo[@]}" --release --locked --bin terraform-provider-shard --target "$target" --manifest-path "$root/Cargo.toml"
    binary="$target_dir/$triple/release/terraform-provider-shard"
  else
    echo "release: ${cargo[*]} --release --locked (version $version, $platform; a cold release build compiles every dependency, then fat LTO in one codegen unit: about 660 CPU-seconds)"
    "${cargo[@]}" --release --locked --bin terraform-provider-shard --manifest-path "$root/Cargo.toml"
    binary="$target_dir/release/terraform-provider-shard"
  fi
fi

args=(package --binary "$binary" --version "$version" --platform "$platform" --out "$out")
[ -z "$mirror" ] || args+=(--mirror "$mirror")
"$python" "$helper" "${args[@]}"

# The oldest glibc the binary runs on, checked against the floor it was built for.
if [ -n "$glibc_floor" ]; then
  "$python" "$helper" glibc-floor "$binary" --max "$glibc_floor"
elif [ "${platform%%_*}" = linux ]; then
  "$python" "$helper" glibc-floor "$binary"
fi
