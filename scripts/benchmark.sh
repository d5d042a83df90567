#!/usr/bin/env bash
# The benchmarks in docs/benchmarks.md (not tests), on a release build: `make benchmark`.
#   benchmark.sh            both parts
#   benchmark.sh aws        provider start-up to handshake, peak RSS during plan/apply, AWS API
#                           calls per weight change, plan time, 20 parallel shard applies (moto)
#   benchmark.sh plan       only the plan comparison of the aws part: 20 shard_weight, 20 noop_thing
#                           of the Go no-op provider (scripts/bench-peer.sh; skipped with a message
#                           when its build script is absent), 20 terraform_data; and per-RPC timings.
#                           PLAN_PROBES=1 adds two types of ours that do no work (the release build
#                           once more with the bench-probes feature): the split of shard_weight's time
#   benchmark.sh argocd     shard_argocd_cluster_registration: API requests per registration, and
#                           how soon an apply/destroy returns once Argo CD's Applications are
#                           Synced+Healthy / gone (starts its own kube-apiserver and moto; RUNS=10)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
for part in "$@"; do
  case "$part" in
    aws | argocd | plan) ;;
    *) echo "usage: benchmark.sh [aws] [plan] [argocd]" >&2; exit 2 ;;
  esac
done
bash "$root/scripts/bench-setup.sh"
target="${CARGO_TARGET_DIR:-$root/target}"
if [ "${PLAN_PROBES:-0}" = 1 ]; then
  # The release build with the two no-work types of src/resources/bench_probes.rs, copied aside
  # (the shipped binary never has them); the build below then relinks the plain binary. Only this
  # crate's features differ, so the dependencies are built once for both.
  echo "benchmark: building the release binary with the bench-probes feature (a first release build takes about 10 minutes on 2 cores)"
  cargo build --release --features bench-probes --bin terraform-provider-shard --manifest-path "$root/Cargo.toml"
  mkdir -p "$target/bench-probes"
  cp "$target/release/terraform-provider-shard" "$target/bench-probes/terraform-provider-shard"
  export SHARD_PROBES_BIN="$target/bench-probes/terraform-provider-shard"
fi
echo "benchmark: building the release binary (a first release build takes about 10 minutes on 2 cores)"
cargo build --release --bin terraform-provider-shard --manifest-path "$root/Cargo.toml"
if [ $# -eq 0 ] || [[ " $* " == *" aws "* ]] || [[ " $* " == *" plan "* ]]; then
  PEER_PROVIDER=$(bash "$root/scripts/bench-peer.sh") || {
    echo "benchmark: the Go no-op provider did not build (above); the plan comparison runs without it" >&2
    PEER_PROVIDER=""
  }
  export PEER_PROVIDER
fi
exec "$root/.bench/venv/bin/python3" "$root/scripts/benchmark.py" "$root" "$target/release/terraform-provider-shard" "$@"
