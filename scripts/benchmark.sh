#!/usr/bin/env bash
# Benchmarks for docs/benchmarks.md (not tests): provider start-up to handshake, peak RSS
# during plan/apply, AWS API calls per weight change, and 20 parallel shard applies.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/bench-setup.sh"
echo "benchmark: building the release binary (a first release build takes about 10 minutes on 2 cores)"
cargo build --release --bin terraform-provider-shard --manifest-path "$root/Cargo.toml"
exec "$root/.bench/venv/bin/python3" "$root/scripts/benchmark.py" "$root" "${CARGO_TARGET_DIR:-$root/target}/release/terraform-provider-shard"
