#!/usr/bin/env bash
# The project's test command: formatting, lints, the wasm build of the library, the Rust tests,
# then the wasm module in headless Chromium.
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

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (native, all targets)"
cargo clippy --release --all-targets -- -D warnings
echo "== cargo clippy (wasm32, web features)"
RUSTFLAGS='--cfg getrandom_backend="wasm_js" -C target-feature=+simd128' \
  cargo clippy --lib -p memeclip --target wasm32-unknown-unknown --no-default-features --features web -- -D warnings
echo "== wasm32 build of the library (web features), warnings are errors"
RUSTFLAGS='--cfg getrandom_backend="wasm_js" -C target-feature=+simd128 -D warnings' \
  cargo build --lib -p memeclip --target wasm32-unknown-unknown --no-default-features --features web
echo "== cargo test (release: burn is too slow unoptimized)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --release -- --test-threads=1 2>&1 | tee "$log"
echo "== the shipped wasm module (pkg-scripts/build-web.sh) in headless Chromium, and the CPU kernels' simd128 paths"
bash pkg-scripts/build-web.sh
(cd tests/browser && MEMECLIP_BIN="$CARGO_TARGET_DIR/release/memeclip" node --test) 2>&1 | tee -a "$log"
# One closing line for the whole run: every cargo test binary plus the browser tests.
awk '/^test result:/ { p += $4; f += $6 } /^# pass / { p += $3 } /^# fail / { f += $3 }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
