#!/usr/bin/env bash
# The Kubernetes part of the acceptance bench, installed into .bench/bin (idempotent):
#   - etcd, from Debian's etcd-server package (unpacked into .bench/, not installed as a service);
#   - kube-apiserver 1.20.2, built once from Debian bookworm's `kubernetes` SOURCE package (its Go
#     dependencies are vendored) with Debian's Go, then cached as .bench/bin/kube-apiserver.
# Needs Debian bookworm, root or sudo (apt-get), and a reachable Debian mirror; nothing else.
# A warm cache prints one line. Build output goes to .bench/kube-build.log (its tail on failure).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench="$root/.bench"
bin="$bench/bin"
log="$bench/kube-build.log"
mkdir -p "$bin"

apiserver="$bin/kube-apiserver"
etcd="$bin/etcd"
if [ -x "$apiserver" ] && [ -x "$etcd" ]; then
  echo "bench: kube-apiserver $("$apiserver" --version 2>/dev/null | awk '{print $2}'), etcd $("$etcd" --version 2>/dev/null | awk '/etcd Version/ {print $3}')"
  exit 0
fi

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
stage() { echo "bench:   $*"; echo "=== $(date +%T) $*" >>"$log"; }
fail() {
  echo "bench: $1; the log's tail ($log):" >&2
  tail -n 40 "$log" >&2 || true
  exit 1
}
# Runs "$@" with a line every 30 s, so a long build is never a silent terminal.
with_heartbeat() {
  local t0=$SECONDS
  "$@" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null && sleep 1; done
    kill -0 "$pid" 2>/dev/null && echo "bench:     still compiling ($((SECONDS - t0)) s so far, about 3 minutes in all)"
  done
  wait "$pid"
}

codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
if [ "$codename" != bookworm ]; then
  echo "bench: building kube-apiserver needs Debian bookworm (this is '${codename:-unknown}')." >&2
  echo "bench: put kube-apiserver 1.20+ and etcd 3.4+ binaries into $bin yourself to use another system." >&2
  exit 1
fi

: >"$log"
start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive

# 1. Sources for bookworm main, on the mirror this machine already uses for binaries.
stage "apt: adding a deb-src entry for bookworm main, apt-get update, build tools"
mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Release: bookworm' 'Component: main' 'Target-Of: deb' \
  'Identifier: Packages' 2>/dev/null | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian/}
src_list=/etc/apt/sources.list.d/shard-bench-bookworm-src.sources
if ! grep -qs "Types: deb-src" "$src_list"; then
  printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$mirror" | as_root tee "$src_list" >/dev/null
fi
as_root apt-get update >>"$log" 2>&1 || fail "apt-get update failed"
as_root apt-get install -y --no-install-recommends golang-go rsync jq make dpkg-dev \
  golang-github-modern-go-reflect2-dev openssl >>"$log" 2>&1 || fail "apt-get install failed"

# 2. etcd: unpack Debian's etcd-server package instead of installing it, so that no system etcd
#    service starts (and keeps port 2379) on a developer's machine.
work="$bench/kube-build"
rm -rf "$work"
mkdir -p "$work/home"
if [ ! -x "$etcd" ]; then
  stage "etcd: unpacking Debian's etcd-server"
  (cd "$work" && apt-get download etcd-server >>"$log" 2>&1) || fail "apt-get download etcd-server failed"
  mkdir -p "$bench/etcd"
  dpkg-deb -x "$work"/etcd-server_*.deb "$bench/etcd" >>"$log" 2>&1 || fail "unpacking etcd-server failed"
  ln -sf "$bench/etcd/usr/bin/etcd" "$etcd"
  "$etcd" --version >>"$log" 2>&1 || fail "the unpacked etcd does not run"
fi

# 3. kube-apiserver from source: about 3 minutes on 2 cores, 1 GB of sources, once.
if [ ! -x "$apiserver" ]; then
  echo "bench: building kube-apiserver from Debian's kubernetes source (about 3 minutes, once)…"
  stage "downloading the kubernetes source package"
  (cd "$work" && apt-get source --download-only kubernetes >>"$log" 2>&1) \
    || fail "apt-get source kubernetes failed"
  stage "unpacking it"
  (cd "$work" && dpkg-source -x --no-check kubernetes_*.dsc src >>"$log" 2>&1) || fail "dpkg-source -x failed"
  # The vendored reflect2 1.0.1 segfaults under Go >= 1.18 on the first custom-resource write;
  # Debian's reflect2 1.0.2 is a drop-in replacement.
  stage "replacing the vendored modern-go/reflect2 1.0.1 with Debian's 1.0.2"
  vendored="$work/src/vendor/github.com/modern-go/reflect2"
  [ -d "$vendored" ] || fail "no vendored reflect2 in the kubernetes source"
  rm -f "$vendored"/*.go "$vendored"/*.s
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go "$vendored"/
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.s "$vendored"/ 2>/dev/null || true
  # Two cuts that halve the build (docs/benchmarks.md, "First build"), neither changes the API server:
  #   - only the OpenAPI generator runs: the source ships every other generated file
  #     (zz_generated.deepcopy/defaults/conversion.go), and `make WHAT=...` would run them all again;
  #   - the `providerless` build tag leaves out the in-tree cloud providers (their SDKs are
  #     a third of the packages' compile time); nothing here talks to a cloud through them.
  build_env() {
    cd "$work/src"
    export HOME="$work/home" GOPATH="$work/gopath" PATH="/usr/lib/go/bin:$PATH" GOFLAGS=-tags=providerless
    unset GOROOT
  }
  stage "generating the OpenAPI definitions (the one generated file the source does not ship)"
  (build_env && make gen_openapi >>"$log" 2>&1) || fail "make gen_openapi failed"
  stage "compiling cmd/kube-apiserver with $(/usr/lib/go/bin/go version | awk '{print $3}'), providerless (the long part)"
  compile() { (build_env && hack/make-rules/build.sh cmd/kube-apiserver) >>"$log" 2>&1; }
  with_heartbeat compile || fail "compiling cmd/kube-apiserver failed"
  built="$work/src/_output/bin/kube-apiserver"
  [ -x "$built" ] || fail "the build produced no _output/bin/kube-apiserver"
  "$built" --version >>"$log" 2>&1 || fail "the built kube-apiserver does not run"
  cp "$built" "$apiserver.tmp" && mv "$apiserver.tmp" "$apiserver"
fi

stage "deleting the sources"
chmod -R u+w "$work" 2>/dev/null || true
rm -rf "$work"
echo "bench: kube-apiserver $("$apiserver" --version | awk '{print $2}') built and cached in $(($(date +%s) - start)) s"
