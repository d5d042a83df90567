#!/usr/bin/env bash
# Benchmarks of shard_argocd_cluster_registration for docs/benchmarks.md (not tests): API requests
# per registration, and how soon an apply/destroy returns once Argo CD's Applications are
# Synced+Healthy / gone. Starts its own kube-apiserver and moto.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/bench-setup.sh"
echo "benchmark: building the release binary (a first release build takes about 10 minutes on 2 cores)"
cargo build --release --bin terraform-provider-shard --manifest-path "$root/Cargo.toml"
exec "$root/.bench/venv/bin/python3" "$root/scripts/benchmark_argocd.py" "$root" "${CARGO_TARGET_DIR:-$root/target}/release/terraform-provider-shard"
