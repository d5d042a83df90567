#!/usr/bin/env bash
# Makes a new shard directory from an existing one, safely:
#   ./new-shard.sh shard-3 [--from shard-2] [--weight 10]
# Copies only the configuration (*.tf, terraform.tfvars, .terraform.lock.hcl for the same
# provider versions): never .terraform/ (it holds the source shard's backend, so the first
# `terraform init` would keep using the source shard's state), never a state file or plan.
# Sets the backend key to shards/<name>.tfstate, name = "<name>", weight, and maintenance = false.
# Refuses an existing target directory and checks the result before it says done.
set -euo pipefail

usage() { echo "usage: $0 NEW_SHARD [--from SOURCE_SHARD] [--weight N]" >&2; exit 2; }
[ $# -ge 1 ] || usage
new=$1; shift
from=shard-2 weight=10
while [ $# -gt 0 ]; do
  case $1 in
    --from) from=${2:?}; shift 2 ;;
    --weight) weight=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
[[ $new =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || { echo "new-shard: $new is not a DNS label" >&2; exit 2; }
[[ $weight =~ ^[0-9]+$ ]] && [ "$weight" -le 999 ] || { echo "new-shard: weight is 0..999" >&2; exit 2; }
src=$here/$from dst=$here/$new
[ -d "$src" ] || { echo "new-shard: no $src" >&2; exit 1; }
[ ! -e "$dst" ] || { echo "new-shard: $dst exists; not touching it" >&2; exit 1; }

mkdir "$dst"
for f in "$src"/*.tf "$src"/terraform.tfvars "$src"/.terraform.lock.hcl; do
  [ -f "$f" ] && cp "$f" "$dst/"
done

# The backend key: one state per shard.
sed -i -E "s#(key[[:space:]]*=[[:space:]]*\")shards/${from}\.tfstate\"#\1shards/${new}.tfstate\"#" "$dst/versions.tf"
# The shard's own values.
sed -i -E \
  -e "s#^(name[[:space:]]*=[[:space:]]*)\"${from}\"#\1\"${new}\"#" \
  -e "s#^(weight[[:space:]]*=[[:space:]]*)[0-9]+#\1${weight}#" \
  -e "s#^(maintenance[[:space:]]*=[[:space:]]*)true#\1false#" \
  "$dst/terraform.tfvars"

fail() { echo "new-shard: $1; removing $dst" >&2; rm -rf "$dst"; exit 1; }
grep -q "key *= *\"shards/${new}.tfstate\"" "$dst/versions.tf" || fail "could not set the backend key"
if grep -rq "shards/${from}.tfstate" "$dst"; then fail "the source shard's state key is still there"; fi
grep -q "^name *= *\"${new}\"" "$dst/terraform.tfvars" || fail "could not set name"
[ ! -e "$dst/.terraform" ] || fail ".terraform/ was copied"

echo "new-shard: $dst (state key shards/${new}.tfstate, weight ${weight})."
echo "  Next: add \"${new}\" to ingress/'s shards and apply there; then in ${new}/: terraform init && terraform plan."
