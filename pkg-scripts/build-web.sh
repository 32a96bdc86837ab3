#!/usr/bin/env bash
# Builds the wasm module and its JS glue into www/pkg/.
#   pkg-scripts/build-web.sh [--small]
# --small: the `wasm-release` profile (thin LTO, opt-level s; slower to build): 21.5 MB instead of
# 32.3 MB (4.4 MB gzipped). No wasm-opt pass: Debian's binaryen 108 breaks the module
# wasm-bindgen writes (its reference-types table fails to initialize in Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/memeclip/target}"
profile=release
if [[ "${1:-}" == "--small" ]]; then profile=wasm-release; fi

# wasm-bindgen-cli must be exactly the version of the wasm-bindgen crate in Cargo.lock.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [[ "$have" != "$want" ]]; then
  echo "installing wasm-bindgen-cli $want (found: ${have:-none})"
  cargo install wasm-bindgen-cli --version "$want"
fi

# simd128: burn's flex kernels vectorize with it (every current browser has wasm SIMD).
RUSTFLAGS='--cfg getrandom_backend="wasm_js" -C target-feature=+simd128' cargo rustc --lib -p memeclip --profile "$profile" \
  --target wasm32-unknown-unknown --no-default-features --features web --crate-type cdylib
rm -rf www/pkg
# The wasm-bindgen glue is `memeclip_core.js`; `memeclip.js` is the JS API around its worker.
wasm-bindgen --target web --out-name memeclip_core --out-dir www/pkg \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/$profile/memeclip.wasm"
cp www/src/memeclip.js www/src/worker.js www/pkg/
ls -l www/pkg/
