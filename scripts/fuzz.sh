#!/usr/bin/env bash
# Coverage-guided fuzzing of the provider's parsers and value codecs (cargo-fuzz, libFuzzer):
# the targets in fuzz/fuzz_targets/, see docs/reliability.md.
#
#   scripts/fuzz.sh short [TARGET...]   each target for FUZZ_SECONDS (default 15) seconds
#   scripts/fuzz.sh long  [TARGET...]   each target for FUZZ_RUNS (default 10000000) executions
#                                       (FUZZ_MAX_SECONDS, if set, also bounds each run's time)
#   scripts/fuzz.sh cmin  [TARGET...]   rebuild fuzz/corpus/<target>/ from it, the seeds and the
#                                       inputs the runs found, minimized (cargo fuzz cmin), then
#                                       cut to its smallest inputs (FUZZ_CORPUS_BYTES, _FILES)
#   scripts/fuzz.sh build               only build the targets
#
# Needs the nightly toolchain and cargo-fuzz; without nightly it says so and exits 0, and it
# installs cargo-fuzz (`cargo install cargo-fuzz --locked`) when it is missing, or says why not
# and exits 0. Builds into ${CARGO_TARGET_DIR:-target}/fuzz (FUZZ_SKIP_BUILD=1 runs the binaries
# built before). Each run reads fuzz/seeds/<target>/ and fuzz/corpus/<target>/ (committed) and
# writes what it finds to a working corpus under the target dir; a crash leaves its input in
# fuzz/artifacts/<target>/ and makes the script exit 1 after the other targets ran. The figures
# of each run go to <target dir>/fuzz/summary-<mode>.md.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
mode=${1:-short}
shift || true

case "$mode" in
short | long | cmin | build) ;;
-h | --help | help)
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "fuzz.sh: unknown mode '$mode' (short, long, cmin or build)" >&2
    exit 2
    ;;
esac

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh: skipped: the nightly toolchain is not installed (cargo-fuzz needs it: rustup toolchain install nightly)"
    exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz is not installed; installing it (cargo install cargo-fuzz --locked, about a minute)..."
    if ! cargo install cargo-fuzz --locked; then
        echo "fuzz.sh: skipped: cargo-fuzz could not be installed (offline?); install it with: cargo install cargo-fuzz --locked"
        exit 0
    fi
fi

target_dir="${CARGO_TARGET_DIR:-$root/target}/fuzz"
# No sanitizer: the code under test is safe Rust (no `unsafe` in the provider), and AddressSanitizer
# would halve the executions per second. Debug assertions on, so integer overflow panics.
build_flags=(--sanitizer none --debug-assertions --codegen-units 16 --target-dir "$target_dir")

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi

mkdir -p "$target_dir"
# `cargo fuzz build` builds one target or all of them.
build_one=()
[ ${#targets[@]} -eq 1 ] && build_one=("${targets[0]}")
echo "fuzz.sh: building ${#targets[@]} target(s) into $target_dir (from cold: several minutes on 2 cores; log: $target_dir/build.log)"
start=$(date +%s)
if [ -n "${FUZZ_SKIP_BUILD:-}" ]; then
    echo "fuzz.sh: FUZZ_SKIP_BUILD is set: running the binaries already built"
elif ! cargo +nightly fuzz build "${build_flags[@]}" "${build_one[@]}" >"$target_dir/build.log" 2>&1; then
    tail -40 "$target_dir/build.log" >&2
    echo "fuzz.sh: the fuzz build failed" >&2
    exit 1
fi
echo "fuzz.sh: built in $(($(date +%s) - start)) s"
[ "$mode" = build ] && exit 0

bin_dir="$target_dir/x86_64-unknown-linux-gnu/release"

if [ "$mode" = cmin ]; then
    for t in "${targets[@]}"; do
        mkdir -p "fuzz/corpus/$t"
        # cmin keeps the smallest set of the corpus directory's inputs with the same coverage;
        # give it the seeds and what the runs found too.
        cp -n "fuzz/seeds/$t/"* "fuzz/corpus/$t/" 2>/dev/null || true
        cp -n "$target_dir/corpus/$t/"* "fuzz/corpus/$t/" 2>/dev/null || true
        before=$(find "fuzz/corpus/$t" -type f | wc -l)
        cargo +nightly fuzz cmin "${build_flags[@]}" "$t" "fuzz/corpus/$t" >"$target_dir/cmin-$t.log" 2>&1
        # The repository keeps a small corpus (all targets < 2 MB): the smallest inputs, up to
        # FUZZ_CORPUS_BYTES (default 150000) and FUZZ_CORPUS_FILES (default 400) per target; the
        # seeds are kept apart in fuzz/seeds/.
        used=0
        kept=0
        while read -r size file; do
            used=$((used + size))
            kept=$((kept + 1))
            if [ "$used" -gt "${FUZZ_CORPUS_BYTES:-150000}" ] || [ "$kept" -gt "${FUZZ_CORPUS_FILES:-400}" ]; then
                rm -f "$file"
            fi
        done < <(find "fuzz/corpus/$t" -type f -printf '%s %p\n' | sort -n)
        echo "fuzz.sh: $t: corpus $before → $(find "fuzz/corpus/$t" -type f | wc -l) inputs, $(find "fuzz/corpus/$t" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}') bytes"
    done
    exit 0
fi

summary="$target_dir/summary-$mode.md"
echo "| target | executions | exec/s | crashes | corpus (inputs / bytes) | seconds |" >"$summary"
echo "| --- | ---: | ---: | ---: | ---: | ---: |" >>"$summary"
failed=()
total_start=$(date +%s)
for t in "${targets[@]}"; do
    work="$target_dir/corpus/$t"
    mkdir -p "$work" "fuzz/artifacts/$t" "fuzz/corpus/$t"
    if [ "$mode" = short ]; then
        limit=(-max_total_time="${FUZZ_SECONDS:-15}")
    else
        limit=(-runs="${FUZZ_RUNS:-10000000}")
        [ -n "${FUZZ_MAX_SECONDS:-}" ] && limit+=(-max_total_time="$FUZZ_MAX_SECONDS")
    fi
    log="$target_dir/$t.log"
    echo "fuzz.sh: $t (${limit[*]})"
    t0=$(date +%s)
    status=0
    "$bin_dir/$t" "$work" "fuzz/corpus/$t" "fuzz/seeds/$t" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1 || status=$?
    secs=$(($(date +%s) - t0))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corp=$( (grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" || true) | tail -1 | sed 's/corp: //; s|/| / |')
    if [ "$status" -ne 0 ]; then
        failed+=("$t")
        crashes=$(grep -c '^==[0-9]*== ERROR: libFuzzer\|^SUMMARY: libFuzzer\|panicked at' "$log" || true)
        echo "fuzz.sh: $t FAILED (exit $status); see $log and fuzz/artifacts/$t/"
        grep -m5 -E 'panicked at|SUMMARY|Test unit written' "$log" || true
    else
        crashes=0
    fi
    echo "| $t | ${runs:-?} | ${rate:-?} | $crashes | ${corp:-?} | $secs |" >>"$summary"
    echo "fuzz.sh: $t: ${runs:-?} runs, ${rate:-?} exec/s, corpus ${corp:-?}, ${secs} s"
done
echo "fuzz.sh: fuzzing took $(($(date +%s) - total_start)) s; figures in $summary"
cat "$summary"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: crashes in: ${failed[*]}" >&2
    exit 1
fi
