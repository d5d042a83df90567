#!/usr/bin/env bash
# The local sandbox (`make sandbox`): the whole shard story with the real Terraform CLI and this
# provider, against moto (AWS), two kube-apiservers (the Argo CD hub and the shards' clusters) and
# stand-in Argo CD / Argo Rollouts controllers, all on loopback. The story itself is a Rust
# program, tests/sandbox/sandbox.rs (`cargo run --example sandbox`); it stops everything it
# started at the end and on Ctrl-C, and every run starts from scratch.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}

first=
if [ ! -x "$root/.bench/bin/kube-apiserver" ] || [ ! -x "$target_dir/debug/terraform-provider-shard" ]; then
  first=1
  cat <<'EOF'
sandbox: first run. It installs the bench into .bench/ (Terraform 1.15.5, moto, etcd, and
kube-apiserver built from Debian's source: about 5 minutes on 2 cores), then builds the provider
and the sandbox driver with Cargo (about 10 minutes on 2 cores). Later runs reuse both and take
a couple of minutes, most of it the story itself.
EOF
fi
bash "$root/scripts/bench-setup.sh"

if [ -n "$first" ]; then
  echo "sandbox: building the provider and the sandbox driver (Cargo's progress below)"
else
  echo "sandbox: building the provider and the sandbox driver (up to date: a few seconds)"
fi
cargo build --manifest-path "$root/Cargo.toml" --bin terraform-provider-shard --example sandbox

# exec: the driver is the foreground process, so Ctrl-C reaches it and it stops what it started
# (its Terraform runs first, as Terraform expects; the API servers also stop by themselves once it
# is gone).
exec "$target_dir/debug/examples/sandbox" --provider-dir "$target_dir/debug"
