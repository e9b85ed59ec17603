#!/usr/bin/env bash
# Builds the data plane's fuzz targets and runs each for a bounded time.
#
#   bash crates/dataplane/fuzz/run.sh [TARGET[:SECONDS]...]
#
# Default: every target (esp_open engine ip natt l2tp ppp) for FUZZ_SECONDS
# (60) each, two at a time (FUZZ_JOBS). Seeds come from the real vectors (seeds.py); new inputs go to
# fuzz/corpus/<target>, crashes to fuzz/artifacts/<target>/. Exits non-zero
# if any target crashed, after running all of them.
#
# The build is what `cargo fuzz build -O -s none` does (same RUSTFLAGS),
# without needing cargo-fuzz installed, plus debug assertions and overflow
# checks. No sanitizer: the parsers are safe Rust, and the crate's unsafe
# code is checked by Miri (see the README). With cargo-fuzz installed,
# `cargo +nightly fuzz run -s none TARGET` from crates/dataplane works too.
#
# Environment: FUZZ_TOOLCHAIN (nightly), FUZZ_JOBS (2), FUZZ_TARGET_DIR
# (fuzz/target), CUSTOM_LIBFUZZER_PATH (found in Debian's libclang-rt-*-dev
# when installed; otherwise libfuzzer-sys compiles libFuzzer itself, about
# 1.5 CPU-minutes more).
set -euo pipefail
cd "$(dirname "$0")"

targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(esp_open engine ip natt l2tp ppp)
fi
toolchain=${FUZZ_TOOLCHAIN:-nightly}
jobs=${FUZZ_JOBS:-2}
triple=x86_64-unknown-linux-gnu
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/target}

if [[ -z ${CUSTOM_LIBFUZZER_PATH:-} ]]; then
  for lib in /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a; do
    if [[ -f $lib ]]; then
      export CUSTOM_LIBFUZZER_PATH=$lib
    fi
  done
fi

flags=(
  -Cpasses=sancov-module
  -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
  -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares
  -Cllvm-args=-sanitizer-coverage-stack-depth
  -Cllvm-args=-simplifycfg-branch-fold-threshold=0
  --cfg fuzzing
  -Cdebug-assertions
  -Coverflow-checks
)
t0=$(date +%s)
RUSTFLAGS="${flags[*]}" cargo "+$toolchain" build --target "$triple" --release --bins
echo "fuzz build: $(($(date +%s) - t0)) s (libFuzzer: ${CUSTOM_LIBFUZZER_PATH:-built by libfuzzer-sys})"

python3 seeds.py seeds >/dev/null

run_one() {
  local t=${1%%:*} secs=${FUZZ_SECONDS:-60}
  if [[ $1 == *:* ]]; then
    secs=${1#*:}
  fi
  mkdir -p "corpus/$t" "artifacts/$t"
  local log="artifacts/$t/last-run.log"
  if "$CARGO_TARGET_DIR/$triple/release/$t" -max_total_time="$secs" -timeout=10 \
    -print_final_stats=1 -artifact_prefix="artifacts/$t/" "corpus/$t" "seeds/$t" >"$log" 2>&1; then
    local runs cov
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    echo "fuzz $t: ok, $runs executions in $secs s, $cov, $(find "corpus/$t" -type f | wc -l) inputs in its corpus"
  else
    echo "fuzz $t: FAILED, see crates/dataplane/fuzz/$log:"
    grep -E -A3 "panicked|ERROR|Test unit written" "$log" | head -n 20
    return 1
  fi
}

failed=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if ((${#pids[@]} >= jobs)); then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do
  wait "$p" || failed=1
done
exit "$failed"
