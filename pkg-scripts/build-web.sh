#!/usr/bin/env bash
# Builds the wasm module and its JS glue into www/pkg/.
#   pkg-scripts/build-web.sh [--dev]
# Default: the module to ship. The `wasm-release` profile (thin LTO; dependencies optimized for
# size, this crate's kernels for speed), then binaryen's `wasm-opt -Oz` (npm's binaryen, pinned in
# pkg-scripts/package.json; Debian's binaryen 108 breaks the module wasm-bindgen writes). About
# 13 MB, 3.7 MB gzipped. wasm-opt takes about 3 minutes; its output is cached by input hash.
# --dev: the `release` profile and no wasm-opt, for a quick rebuild while working (about 32 MB,
# the same speed).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/memeclip/target}"
profile=wasm-release
case "${1:-}" in
  --dev) profile=release ;;
  "") ;;
  *) echo "unknown option $1 (expected --dev)" >&2; exit 2 ;;
esac

# wasm-bindgen-cli must be exactly the version of the wasm-bindgen crate in Cargo.lock.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [[ "$have" != "$want" ]]; then
  echo "installing wasm-bindgen-cli $want (found: ${have:-none})"
  cargo install wasm-bindgen-cli --version "$want"
fi

# simd128: burn's flex kernels and memeclip's int8 kernels vectorize with it (every current
# browser has wasm SIMD). `-D warnings` after `--` reaches memeclip alone, so the dependencies'
# builds are shared with other wasm builds.
RUSTFLAGS='--cfg getrandom_backend="wasm_js" -C target-feature=+simd128' cargo rustc --lib -p memeclip --profile "$profile" \
  --target wasm32-unknown-unknown --no-default-features --features web --crate-type cdylib -- -D warnings
rm -rf www/pkg
# The wasm-bindgen glue is `memeclip_core.js`; `memeclip.js` is the JS API around its worker.
wasm-bindgen --target web --out-name memeclip_core --out-dir www/pkg \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/$profile/memeclip.wasm"
if [[ "$profile" == wasm-release ]]; then
  [[ -x pkg-scripts/node_modules/.bin/wasm-opt ]] || (cd pkg-scripts && npm ci --no-audit --no-fund)
  module=www/pkg/memeclip_core_bg.wasm
  cache="$CARGO_TARGET_DIR/wasm-opt"
  optimized="$cache/$(sha256sum "$module" | cut -c1-64).wasm"
  if [[ ! -f "$optimized" ]]; then
    mkdir -p "$cache"
    echo "wasm-opt -Oz (about 3 minutes)"
    pkg-scripts/node_modules/.bin/wasm-opt -Oz "$module" -o "$optimized.tmp"
    mv "$optimized.tmp" "$optimized"
  fi
  cp "$optimized" "$module"
fi
cp www/src/*.js www/src/memeclip.d.ts www/pkg/
ls -l www/pkg/
