#!/usr/bin/env bash
# Builds the wasm modules and their JS glue into www/pkg/: the module with WebGPU and a
# one-thread CPU path (www/pkg/memeclip_core*), and the threaded CPU-only module
# (www/pkg/threads/), which cross-origin isolated pages run on a pool of workers.
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
  # --force: cargo's install record may list a binary that is gone or broken, and would then
  # skip the install without a word.
  cargo install --force wasm-bindgen-cli --version "$want"
fi

# The threaded module's compiler: std must be rebuilt with atomics, which only nightly does.
# Pinned, so that a fresh machine builds what was tested.
nightly=nightly-2026-05-20
if ! rustup run "$nightly" rustc --version >/dev/null 2>&1 ||
   [[ ! -d "$(rustup run "$nightly" rustc --print sysroot)/lib/rustlib/src/rust/library" ]]; then
  rustup toolchain install "$nightly" --profile minimal --component rust-src
fi

# simd128: burn's flex kernels and memeclip's int8 kernels vectorize with it (every current
# browser has wasm SIMD). `-D warnings` after `--` reaches memeclip alone, so the dependencies'
# builds are shared with other wasm builds.
RUSTFLAGS='--cfg getrandom_backend="wasm_js" -C target-feature=+simd128' cargo rustc --lib -p memeclip --profile "$profile" \
  --target wasm32-unknown-unknown --no-default-features --features webgpu --crate-type cdylib -- -D warnings
rm -rf www/pkg
# The wasm-bindgen glue is `memeclip_core.js`; `memeclip.js` is the JS API around its worker.
wasm-bindgen --target web --out-name memeclip_core --out-dir www/pkg \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/$profile/memeclip.wasm"

# wasm-opt -Oz MODULE: replaces the module with binaryen's size-optimized one, cached by the
# input's hash. npm's binaryen is itself wasm run by node, on one core for 3 to 4 minutes per
# module, so the first module's pass runs in the background while the second module builds.
optimize() {
  local module=$1 cache="$CARGO_TARGET_DIR/wasm-opt"
  mkdir -p "$cache"
  local optimized
  optimized="$cache/$(sha256sum "$module" | cut -c1-64).wasm"
  if [[ ! -f "$optimized" ]]; then
    echo "wasm-opt -Oz $module (a few minutes)"
    pkg-scripts/node_modules/.bin/wasm-opt -Oz --enable-threads --enable-bulk-memory "$module" -o "$optimized.$$.tmp"
    mv "$optimized.$$.tmp" "$optimized"
  fi
  cp "$optimized" "$module"
}
optimizing=
if [[ "$profile" == wasm-release ]]; then
  [[ -x pkg-scripts/node_modules/.bin/wasm-opt ]] || (cd pkg-scripts && npm ci --no-audit --no-fund)
  optimize www/pkg/memeclip_core_bg.wasm &
  optimizing=$!
  # A failed build below must not leave it running.
  trap 'pkill -P "$optimizing" 2>/dev/null; kill "$optimizing" 2>/dev/null || true' EXIT
fi

# The threaded module: atomics and shared memory (up to 4 GiB, wasm32's limit), its own target
# folder since its std and flags differ. rustc notes once that `atomics` is an unstable target
# feature; that notice is expected.
threads_target="$CARGO_TARGET_DIR/web-threads"
# The linker flags: one memory imported and shared by every worker, and the thread-local storage
# symbols wasm-bindgen's thread start-up calls.
link_args=(--shared-memory --import-memory --max-memory=4294967296
  --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base)
RUSTFLAGS="--cfg getrandom_backend=\"wasm_js\" -C target-feature=+simd128,+atomics,+bulk-memory${link_args[*]/#/ -C link-arg=}" \
  CARGO_TARGET_DIR="$threads_target" cargo "+$nightly" rustc --lib -p memeclip --profile "$profile" \
  --target wasm32-unknown-unknown --no-default-features --features web-threads --crate-type cdylib \
  -Z build-std=panic_abort,std -- -D warnings
wasm-bindgen --target web --out-name memeclip_core --out-dir www/pkg/threads \
  "$threads_target/wasm32-unknown-unknown/$profile/memeclip.wasm"
if [[ -n "$optimizing" ]]; then
  optimize www/pkg/threads/memeclip_core_bg.wasm
  wait "$optimizing"
  trap - EXIT
fi
cp www/src/*.js www/src/memeclip.d.ts www/pkg/
ls -l www/pkg/
