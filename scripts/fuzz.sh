#!/usr/bin/env bash
# Runs every SecMX fuzz target in fuzz/, seeded from fuzz/seeds/<target>/.
#
#   scripts/fuzz.sh smoke [SECONDS]   each target for SECONDS (default 15),
#                                     from the committed seeds only; part of
#                                     scripts/test.sh
#   scripts/fuzz.sh depth [TARGET..]  each target until 10 million executions
#                                     or 30 minutes, whichever comes first,
#                                     growing fuzz/corpus/<target>/
#
# Targets are built without a sanitizer (`-s none`): SecMX's crates forbid
# `unsafe`, so the fuzzers look for panics, failed assertions, unbounded
# memory (-rss_limit_mb) and hangs (-timeout), and run several times faster
# than under AddressSanitizer. Stable Rust works; FUZZ_TOOLCHAIN=nightly picks
# another toolchain. A crash leaves its input in fuzz/artifacts/<target>/ and makes
# the script fail.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

mode=${1:-smoke}
shift || true
toolchain=()
[[ -n ${FUZZ_TOOLCHAIN:-} ]] && toolchain=("+${FUZZ_TOOLCHAIN}")
# FUZZ_TARGET_DIR keeps builds of different toolchains apart.
build=(-s none -O)
[[ -n ${FUZZ_TARGET_DIR:-} ]] && build+=(--target-dir "$FUZZ_TARGET_DIR")

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

all=$(cargo "${toolchain[@]}" fuzz list)
cargo "${toolchain[@]}" fuzz build "${build[@]}"

common=(-rss_limit_mb=1024 -timeout=10 -print_final_stats=1)
case $mode in
smoke)
  seconds=${1:-15}
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  for t in $all; do
    mkdir -p "$scratch/$t"
    log="$scratch/$t.log"
    if ! cargo "${toolchain[@]}" fuzz run "${build[@]}" "$t" "$scratch/$t" "seeds/$t" -- \
      "${common[@]}" -max_total_time="$seconds" >"$log" 2>&1; then
      tail -n 40 "$log"
      echo "fuzz smoke: $t failed" >&2
      exit 1
    fi
    echo "fuzz smoke: $t $(grep -o 'number_of_executed_units: [0-9]*' "$log" | cut -d' ' -f2) executions"
  done
  ;;
depth)
  targets=("$@")
  ((${#targets[@]})) || read -r -a targets <<<"$(echo $all)"
  mkdir -p logs
  for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    log="logs/$t.log"
    start=$(date +%s)
    status=0
    cargo "${toolchain[@]}" fuzz run "${build[@]}" "$t" "corpus/$t" "seeds/$t" -- \
      "${common[@]}" -runs=10000000 -max_total_time=1800 >"$log" 2>&1 || status=$?
    runs=$(grep -o 'number_of_executed_units: [0-9]*' "$log" | cut -d' ' -f2 || true)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2 || true)
    echo "fuzz depth: $t runs=${runs:-?} seconds=$(($(date +%s) - start)) cov=${cov:-?} corpus=$(ls "corpus/$t" | wc -l) status=$status"
  done
  ;;
*)
  echo "usage: $0 smoke [SECONDS] | depth [TARGET..]" >&2
  exit 2
  ;;
esac
