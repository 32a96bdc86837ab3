#!/usr/bin/env bash
# The project's test command: formatting, lints, the wasm build of the library, then all tests.
# Needs: rustup's wasm32-unknown-unknown target and Mesa's Vulkan driver (`.ci/run` installs both).
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
echo "== wasm32 build of the library (web features), warnings are errors"
RUSTFLAGS='--cfg getrandom_backend="wasm_js" -D warnings' \
  cargo build --lib -p memeclip --target wasm32-unknown-unknown --no-default-features --features web
echo "== cargo test (release: burn is too slow unoptimized)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --release -- --test-threads=1 2>&1 | tee "$log"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
