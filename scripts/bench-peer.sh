#!/usr/bin/env bash
# The Go peer of `make benchmark`: a tfplugin6 provider written the usual way (go-plugin with
# AutoMTLS, grpc-go) that does no work, one `noop_thing` resource passing values through: the
# floor of any external provider. It is built by the shared script next to this project
# (../shared/tools/peer-provider-go/build.sh, from Debian's Go packages; it installs them with
# apt when missing) when that script is present; PEER_PROVIDER_SRC names another copy of it.
# Prints the binary's path on stdout, or nothing (and says why on stderr) when the script is absent:
# the benchmark then skips the Go columns.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=${PEER_PROVIDER_SRC:-$root/../shared/tools/peer-provider-go}
if [ ! -f "$src/build.sh" ]; then
  echo "bench-peer: skipped: no Go peer provider script at $src/build.sh (set PEER_PROVIDER_SRC); the plan comparison runs without the Go no-op provider" >&2
  exit 0
fi
export PEER_PROVIDER_DIR=${PEER_PROVIDER_DIR:-${CARGO_TARGET_DIR:-$root/target}/peer-provider-go}
echo "bench-peer: building the Go no-op provider with $src/build.sh into $PEER_PROVIDER_DIR (about a minute the first time)" >&2
bash "$src/build.sh" | tail -n 1
