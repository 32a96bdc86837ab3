#!/usr/bin/env bash
# The project's test command: formatting, lints, the wasm build of the library, the Rust tests,
# the fuzz targets for a few seconds each, then the wasm module in headless Chromium.
# Needs: rustup's wasm32-unknown-unknown target, Mesa's Vulkan driver, Debian's chromium and
# `npm ci` in tests/browser and pkg-scripts (`.ci/run` installs them all).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/memeclip/target}"
# Mesa's Vulkan driver warns on every start without a runtime folder.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  XDG_RUNTIME_DIR=$(mktemp -d)
  export XDG_RUNTIME_DIR
fi
mkdir -p "$CARGO_TARGET_DIR"
# The OCR model (PP-OCRv5 from its PyPI wheel), kept beside the builds; the Rust and browser
# tests read it from MEMECLIP_OCR_DIR.
export MEMECLIP_OCR_DIR="${MEMECLIP_OCR_DIR:-$(dirname "$CARGO_TARGET_DIR")/ppocrv5}"

# Each stage prints how long it took, so a slow CI run shows where its time went.
started=$SECONDS
stage() {
  if [[ -n "${stage_name:-}" ]]; then echo "-- $stage_name: $((SECONDS - stage_start)) s"; fi
  stage_name=$1
  stage_start=$SECONDS
  [[ -n "$1" ]] && echo "== $1"
  return 0
}

stage "the OCR model (pkg-scripts/get-ocr.sh)"
bash pkg-scripts/get-ocr.sh "$MEMECLIP_OCR_DIR"
stage "cargo fmt --check"
cargo fmt --all -- --check
stage "cargo clippy (native, all targets, the fuzz targets too)"
cargo clippy --release --workspace --all-targets -- -D warnings
# Clippy's -D warnings covers rustc's own warnings too; the wasm module itself is built once,
# by build-web.sh below, which also refuses warnings.
stage "cargo clippy (wasm32, the WebGPU module's features)"
RUSTFLAGS='--cfg getrandom_backend="wasm_js" -C target-feature=+simd128' \
  cargo clippy --lib -p memeclip --target wasm32-unknown-unknown --no-default-features --features webgpu -- -D warnings
stage "cargo test (release: burn is too slow unoptimized)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --release -- --test-threads=1 2>&1 | tee "$log"
stage "the fuzz targets, 6 s each after their kept regression inputs (pkg-scripts/fuzz.sh)"
bash pkg-scripts/fuzz.sh --seconds 6
stage "the shipped wasm module (pkg-scripts/build-web.sh)"
bash pkg-scripts/build-web.sh
stage "the npm package (pkg-scripts/build-npm.sh)"
bash pkg-scripts/build-npm.sh
stage "the wasm module in headless Chromium, and the CPU kernels' simd128 paths"
(cd tests/browser && MEMECLIP_BIN="$CARGO_TARGET_DIR/release/memeclip" node --test) 2>&1 | tee -a "$log"
stage ""
echo "-- all stages: $((SECONDS - started)) s"
# One closing line for the whole run: every cargo test binary plus the browser tests.
awk '/^test result:/ { p += $4; f += $6 } /^# pass / { p += $3 } /^# fail / { f += $3 }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
