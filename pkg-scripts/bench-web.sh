#!/usr/bin/env bash
# Load time and per-meme latency in headless Chromium on each backend (CPU, and WebGPU on whatever
# adapter Chromium finds; SwiftShader without a GPU), for a bundle of random weights in real
# shapes, plus the transfer size of the wasm module and its JS, raw and gzipped.
#   pkg-scripts/bench-web.sh [--shape vit-b-32|vit-l-14] [--quant int8|int4|f16|f32] [--runs N] [--dev]
#       [--batch N]
#       [--compare-transformersjs MODEL_DIR]
# --batch N: also N memes one by one against classifyBatch (passes of 4 and of N), ms per meme.
# --compare-transformersjs: also times transformers.js (q8, wasm) in the same Chromium, on a
# random ViT-B/32-shaped model from pkg-scripts/make-transformersjs-model.py MODEL_DIR
# (transformers.js is installed from npm into pkg-scripts/compare/ on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/memeclip/target}"
shape=vit-b-32 quant=int8 runs=3 dev=() compare= batch=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --shape) shape=$2; shift 2 ;;
    --quant) quant=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --dev) dev=(--dev); shift ;;
    --compare-transformersjs) compare=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
cargo build --release --bin memeclip
bash pkg-scripts/build-web.sh "${dev[@]}"
(cd tests/browser && [[ -d node_modules ]] || npm ci --no-audit --no-fund)
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
cp -r www/pkg "$site/pkg"
echo '<!doctype html><meta charset="utf-8"><title>bench</title>' > "$site/pkg/bench.html"
"$CARGO_TARGET_DIR/release/memeclip" export-web --random "$shape" --quant "$quant" \
  --tokenizer tests/fixtures/tiny-clip/tokenizer.json --out "$site/model.memeclip" > /dev/null
size() { stat -c %s "$1"; }
gz() { gzip -9 -c "$1" | wc -c; }
wasm=www/pkg/memeclip_core_bg.wasm
js_raw=$(cat www/pkg/*.js | wc -c)
js_gz=$(cat www/pkg/*.js | gzip -9 | wc -c)
echo "{\"shape\": \"$shape\", \"quant\": \"$quant\", \"bundle_bytes\": $(size "$site/model.memeclip"), \"wasm_bytes\": $(size $wasm), \"wasm_gzip_bytes\": $(gz $wasm), \"js_bytes\": $js_raw, \"js_gzip_bytes\": $js_gz}"
# BACKENDS=cpu (or webgpu) in the environment limits the run to one backend; THREADS=1,2 runs the
# CPU path once per thread count.
SITE="$site" RUNS="$runs" BATCH="$batch" node tests/browser/bench-web.mjs
if [[ -n "$compare" ]]; then
  [[ -f "$compare/onnx/vision_model_quantized.onnx" ]] ||
    { echo "no transformers.js model in $compare (make one with pkg-scripts/make-transformersjs-model.py)" >&2; exit 1; }
  # --ignore-scripts: onnxruntime-node's install script downloads binaries the browser never uses.
  (cd pkg-scripts/compare && [[ -d node_modules ]] || npm ci --ignore-scripts --no-audit --no-fund)
  mkdir -p "$site/tjs" "$site/models"
  cp pkg-scripts/compare/node_modules/@huggingface/transformers/dist/transformers.js "$site/tjs/"
  echo '<!doctype html><meta charset="utf-8"><title>bench</title>' > "$site/tjs/bench.html"
  cp -r pkg-scripts/compare/node_modules/onnxruntime-web/dist "$site/ort"
  ln -s "$(realpath "$compare")" "$site/models/clip"
  SITE="$site" RUNS="$runs" node tests/browser/bench-transformersjs.mjs
fi
