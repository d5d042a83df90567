#!/usr/bin/env bash
# The local sandbox: a moto "AWS" with one shared ALB and three shard target groups, and the
# provider applied against it with the real Terraform CLI. Prints how traffic is split.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/bench-setup.sh"
echo "sandbox: building the provider (a first build compiles its dependencies: about 10 minutes on 2 cores)"
cargo build --bin terraform-provider-shard --manifest-path "$root/Cargo.toml"
target_dir=${CARGO_TARGET_DIR:-$root/target}

work=$(mktemp -d "${TMPDIR:-/tmp}/shard-sandbox.XXXXXX")
port=$("$root/.bench/venv/bin/python3" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$root/.bench/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
export MOTO_ENDPOINT="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox \
  AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done

fixture() { "$root/.bench/venv/bin/python3" "$root/tests/fixtures/aws_fixture.py" "$@"; }
echo "== ingress: one shared ALB, three shard target groups (weights 50/30/20)"
topo=$(fixture topology weights=50,30,20 name=sandbox)
listener=$(echo "$topo" | "$root/.bench/venv/bin/python3" -c 'import json,sys; print(json.load(sys.stdin)["listener"])')
for tg in $(echo "$topo" | "$root/.bench/venv/bin/python3" -c 'import json,sys; print(" ".join(json.load(sys.stdin)["target_groups"]))'); do
  fixture register "$tg" 2 >/dev/null
done

cat >"$work/cli.tfrc" <<CLI
provider_installation {
  dev_overrides { "shardkit/shard" = "$target_dir/debug" }
  direct {}
}
CLI
export TF_CLI_CONFIG_FILE="$work/cli.tfrc"
tf() { "$root/.bench/bin/terraform" "$@"; }

cp -r "$root/examples/sandbox/traffic" "$work/traffic"
readout() {
  (cd "$work/traffic" && tf apply -auto-approve -no-color -input=false \
    -var "aws_endpoint=$MOTO_ENDPOINT" -var "listener_arn=$listener" 2>/dev/null | sed -n '/^Outputs:/,$p' | tail -n +2)
}
(cd "$work/traffic" && tf init -no-color -input=false >/dev/null 2>&1)

# shard <n> <weight> [ramp step]: apply shard-<n>/ (its own directory and state).
shard() {
  local n=$1 weight=$2 step=${3:-0} tg
  tg=$(echo "$topo" | "$root/.bench/venv/bin/python3" -c "import json,sys; print(json.load(sys.stdin)['target_groups'][$n - 1])")
  if [ ! -d "$work/shard-$n" ]; then
    mkdir -p "$work/shard-$n" && cp "$root/examples/sandbox/shard/main.tf" "$work/shard-$n/"
    (cd "$work/shard-$n" && tf init -no-color -input=false >"$work/shard-$n/init.log" 2>&1) ||
      { cat "$work/shard-$n/init.log"; exit 1; }
  fi
  (cd "$work/shard-$n" && tf apply -auto-approve -no-color -input=false -var "aws_endpoint=$MOTO_ENDPOINT" -var "listener_arn=$listener" \
      -var "target_group_arn=$tg" -var "weight=$weight" -var "ramp_step=$step" >"$work/shard-$n/apply.log" 2>&1) ||
    { cat "$work/shard-$n/apply.log"; exit 1; }
}

echo "== before: the ingress stack's initial split"
readout
echo "== three shard directories apply at the same time (33/33/34)"
pids=()
for spec in "1 33" "2 33" "3 34"; do
  # shellcheck disable=SC2086
  shard $spec &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
readout
echo "== maintenance: take shard-2 out of traffic (drains, then returns)"
shard 2 0
readout
echo "== shard-2 upgraded: ramp it back to 33 in steps of 11, checking health at each step"
shard 2 33 11
readout
echo "sandbox files: $work"
