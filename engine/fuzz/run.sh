#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) each and prints executions and corpus
# size per target. Needs cargo-fuzz (cargo install cargo-fuzz); RUSTC_BOOTSTRAP lets the
# stable toolchain build the sanitizer flags cargo-fuzz uses.
#   engine/fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
export RUSTC_BOOTSTRAP=1
[ -d fuzz/corpus/part ] || cargo run -q -p mergetree --example fuzz_seeds -- fuzz/corpus/part
for t in $(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v mergetree-fuzz); do
  mkdir -p "fuzz/corpus/$t"
  out=$(cargo fuzz run -O "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 2>&1) || { echo "$out" | tail -30; echo "FAILED: $t"; exit 1; }
  execs=$(echo "$out" | sed -n 's/^stat::number_of_executed_units: *//p')
  echo "$t: $execs executions in ${secs}s, corpus $(ls "fuzz/corpus/$t" | wc -l) inputs, no crash"
done
