#!/usr/bin/env bash
# rustc for the workspace's own crates in pkg-scripts/fuzz.sh's default build (cargo runs it as
# RUSTC_WORKSPACE_WRAPPER): libFuzzer's coverage instrumentation, debug assertions and overflow
# checks on memeclip and the fuzz targets, while the dependencies build as in every release
# build of the same target folder and are shared with them. Cargo keys the wrapped crates'
# artifacts by this script's path, so they never mix with the plain ones.
#   fuzz-rustc.sh RUSTC ARGS...   (as cargo calls it)
#   fuzz-rustc.sh --flags         prints the flags, for fuzz.sh --all-crates' RUSTFLAGS
set -euo pipefail
flags=(-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks
  --cfg fuzzing)
if [[ "${1:-}" == --flags ]]; then
  echo "${flags[*]}"
  exit 0
fi
rustc=$1
shift
# Build scripts and cargo's queries of rustc itself run without libFuzzer: leave them alone.
for arg in "$@"; do
  case "$arg" in
    build_script_build | -vV | --print=*) exec "$rustc" "$@" ;;
  esac
done
exec "$rustc" "$@" "${flags[@]}"
