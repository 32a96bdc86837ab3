#!/usr/bin/env bash
# Builds the wasm module and its JS glue into www/pkg/.
#   pkg-scripts/build-web.sh [--small]
# --small: the `wasm-release` profile (thin LTO, opt-level s; slower to build) and wasm-opt -Oz
# when binaryen's wasm-opt is installed.
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
if [[ "$profile" == wasm-release ]] && command -v wasm-opt >/dev/null; then
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    -o www/pkg/memeclip_core_bg.wasm www/pkg/memeclip_core_bg.wasm
fi
cp www/src/memeclip.js www/src/worker.js www/pkg/
ls -l www/pkg/
