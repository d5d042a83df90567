#!/usr/bin/env bash
# A throwaway Kubernetes API server for tests and the sandbox: etcd + kube-apiserver 1.20 from
# .bench/bin (scripts/bench-kube.sh), on free loopback ports, with the Argo CRDs and the bench's
# RBAC (tests/fixtures/crds/, tests/fixtures/kube/) installed. No controller-manager, no nodes.
# Every request is recorded in DIR/audit.log (metadata only, one JSON event per line), and
# EKS tokens for cluster `bench` are accepted through a token webhook that asks STS, as
# aws-iam-authenticator does on EKS (tests/fixtures/kube/eks_authn_webhook.py). With
# KUBE_CLUSTER_EKS_NAMES=a,b,... (start only) tokens for those EKS cluster names instead: one
# API server standing in for several EKS clusters (the sandbox's shards).
#
#   kube-cluster.sh start DIR [OWNER_PID]  start one in DIR; writes DIR/connection.json
#                                          {host, ca_file, admin_token, limited_token} and
#                                          DIR/kubeconfig (context `bench`, admin). With OWNER_PID,
#                                          it stops itself once that process is gone.
#   kube-cluster.sh stop DIR               stop it (safe to repeat)
#   kube-cluster.sh run [--] CMD ARGS...   start one in a temp dir, run CMD with
#                                          SHARD_TEST_KUBE_DIR=that dir, stop it on every exit
#                                          (Ctrl-C included), exit with CMD's code
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench="$root/.bench"
py="$bench/venv/bin/python3"
helper="$root/scripts/kube_cluster.py"
fixtures=("$root"/tests/fixtures/crds/*.yaml "$root"/tests/fixtures/kube/*.yaml)

say() { echo "kube-cluster: $*" >&2; }

need_bench() {
  for b in "$bench/bin/etcd" "$bench/bin/kube-apiserver" "$py"; do
    if [ ! -x "$b" ]; then
      say "$b is missing: run 'make bench' (scripts/bench-setup.sh) first"
      exit 1
    fi
  done
}

# The pid in FILE, if that process is still one of ours (its command line names DIR).
our_pid() {
  local file=$1 dir=$2 pid
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir" \
    && echo "$pid"
}

log_tail() {
  say "last lines of $1:"
  tail -n 25 "$1" | sed 's/^/    /' >&2 || true
}

start_etcd() {
  local dir=$1 client=$2 peer=$3
  rm -rf "$dir/etcd-data"
  "$bench/bin/etcd" --name default --data-dir "$dir/etcd-data" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "default=http://127.0.0.1:$peer" --logger zap --log-level warn \
    </dev/null >"$dir/etcd.log" 2>&1 &
  echo $! >"$dir/etcd.pid"
  "$py" "$helper" wait-etcd "$client" 20 "$(cat "$dir/etcd.pid")"
}

# The EKS token webhook on a free port, and the kubeconfig kube-apiserver reaches it with.
start_authn_webhook() {
  local dir=$1 port attempt
  for attempt in 1 2 3; do
    port=$("$py" "$helper" ports 1)
    # DIR on its command line lets stop_one recognise it as this instance's.
    "$py" "$root/tests/fixtures/kube/eks_authn_webhook.py" "$port" "${KUBE_CLUSTER_EKS_NAMES:-bench}" "$dir" </dev/null >"$dir/eks-authn.log" 2>&1 &
    echo $! >"$dir/eks-authn.pid"
    for _ in $(seq 50); do
      if "$py" -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.2)" "$port" 2>/dev/null; then
        cat >"$dir/eks-authn.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: eks-authn
    cluster: { server: "http://127.0.0.1:$port/authenticate" }
users:
  - name: kube-apiserver
contexts:
  - name: webhook
    context: { cluster: eks-authn, user: kube-apiserver }
current-context: webhook
EOF
        return 0
      fi
      sleep 0.1
    done
    stop_one "$dir/eks-authn.pid" "$dir"
  done
  say "the EKS token webhook did not start"
  log_tail "$dir/eks-authn.log"
  return 1
}

# Audit: every request's metadata (never a body: no Secret data), except kube-apiserver's own.
write_audit_policy() {
  cat >"$1/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    users: ["system:apiserver"]
  - level: None
    nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", "/version", "/openapi*"]
  - level: Metadata
EOF
}

start_apiserver() {
  local dir=$1 client=$2 port=$3
  "$bench/bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$client" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$port" \
    --cert-dir "$dir/certs" \
    --token-auth-file "$dir/tokens.csv" \
    --authorization-mode RBAC \
    --authentication-token-webhook-config-file "$dir/eks-authn.kubeconfig" \
    --authentication-token-webhook-version v1 \
    --audit-policy-file "$dir/audit-policy.yaml" --audit-log-path "$dir/audit.log" \
    --service-cluster-ip-range 10.0.0.0/24 \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$dir/sa.key" --service-account-signing-key-file "$dir/sa.key" \
    --profiling=false \
    </dev/null >"$dir/apiserver.log" 2>&1 &
  echo $! >"$dir/apiserver.pid"
}

cmd_start() {
  local dir=${1:?usage: kube-cluster.sh start DIR [OWNER_PID]} owner=${2:-}
  need_bench
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if our_pid "$dir/etcd.pid" "$dir" >/dev/null || our_pid "$dir/apiserver.pid" "$dir" >/dev/null; then
    say "an instance is already running in $dir (kube-cluster.sh stop $dir)"
    exit 1
  fi
  local t0 client peer port attempt
  t0=$(date +%s%N)
  rm -rf "$dir/certs" "$dir/connection.json" "$dir/kubeconfig"

  # Credentials, new for every start: a service-account key and two bearer tokens.
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  (
    umask 077
    printf '%s,admin,uid-admin,system:masters\n%s,limited,uid-limited\n' \
      "$("$py" -c 'import secrets; print(secrets.token_hex(24))')" \
      "$("$py" -c 'import secrets; print(secrets.token_hex(24))')" >"$dir/tokens.csv"
  )

  write_audit_policy "$dir"
  start_authn_webhook "$dir" || exit 1

  # Free ports can be taken between the check and the bind (other instances start too): retry.
  for attempt in 1 2 3; do
    read -r client peer port <<<"$("$py" "$helper" ports 3)"
    if start_etcd "$dir" "$client" "$peer"; then break; fi
    stop_one "$dir/etcd.pid" "$dir"
    if [ "$attempt" = 3 ] || ! grep -q "address already in use" "$dir/etcd.log"; then
      say "etcd did not start"
      log_tail "$dir/etcd.log"
      stop_one "$dir/eks-authn.pid" "$dir"
      exit 1
    fi
  done
  for attempt in 1 2 3; do
    start_apiserver "$dir" "$client" "$port"
    if "$py" "$helper" wait-ready "$dir" "$port" 60 "$(cat "$dir/apiserver.pid")"; then break; fi
    stop_one "$dir/apiserver.pid" "$dir"
    if [ "$attempt" = 3 ] || ! grep -q "address already in use" "$dir/apiserver.log"; then
      say "kube-apiserver did not become ready within 60 s"
      log_tail "$dir/apiserver.log"
      stop_one "$dir/etcd.pid" "$dir"
      stop_one "$dir/eks-authn.pid" "$dir"
      exit 1
    fi
    port=$("$py" "$helper" ports 1)
  done
  local ready_ms=$((($(date +%s%N) - t0) / 1000000))

  if ! "$py" "$helper" setup "$dir" "$port" "${fixtures[@]}"; then
    log_tail "$dir/apiserver.log"
    cmd_stop "$dir"
    exit 1
  fi
  if [ -n "$owner" ]; then
    # Stops the instance once the owner is gone, even if it was killed without cleaning up.
    nohup bash -c 'while kill -0 "$1" 2>/dev/null && [ -f "$2/apiserver.pid" ]; do sleep 1; done
                   exec bash "$3" stop "$2"' watchdog "$owner" "$dir" "$0" </dev/null >/dev/null 2>&1 &
  fi
  say "https://127.0.0.1:$port ready in $((ready_ms / 1000)).$(printf %03d $((ready_ms % 1000))) s," \
    "CRDs in $((($(date +%s%N) - t0) / 1000000 - ready_ms)) ms ($dir)"
}

# Stops the process in FILE: SIGTERM, then SIGKILL after GRACE tenths of a second.
stop_one() {
  local file=$1 dir=$2 grace=${3:-50} pid i
  if pid=$(our_pid "$file" "$dir"); then
    kill "$pid" 2>/dev/null || true
    for i in $(seq "$grace"); do
      # Gone, or a zombie nobody reaps (the parent was killed): done either way.
      kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

cmd_stop() {
  local dir=${1:?usage: kube-cluster.sh stop DIR}
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  # kube-apiserver waits for open watches before it exits; nothing here is worth waiting for.
  stop_one "$dir/apiserver.pid" "$dir" 20
  stop_one "$dir/etcd.pid" "$dir"
  stop_one "$dir/eks-authn.pid" "$dir"
}

cmd_run() {
  [ "${1:-}" = -- ] && shift
  [ $# -gt 0 ] || { say "usage: kube-cluster.sh run [--] CMD ARGS..."; exit 2; }
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/shard-kube.XXXXXX")
  # shellcheck disable=SC2064
  trap "finish_run '$dir'" EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  cmd_start "$dir" $$
  export SHARD_TEST_KUBE_DIR="$dir"
  local code=0
  "$@" || code=$?
  exit "$code"
}

finish_run() {
  local code=$? dir=$1
  cmd_stop "$dir"
  if [ "$code" = 0 ]; then
    rm -rf "$dir"
  else
    say "logs kept in $dir (apiserver.log, etcd.log)"
  fi
  exit "$code"
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  run) shift; cmd_run "$@" ;;
  *) say "usage: kube-cluster.sh start DIR [OWNER_PID] | stop DIR | run [--] CMD ARGS..."; exit 2 ;;
esac
