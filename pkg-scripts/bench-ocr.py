#!/usr/bin/env python3
"""OCR accuracy and speed, natively: memeclip against Debian's tesseract on the same images.

    python3 pkg-scripts/bench-ocr.py --memeclip target/release/memeclip \
        (--ocr models/ppocrv5 | --bundle MODEL.memeclip [--kernels fused|int8]) \
        [--images tests/fixtures/ocr/accuracy] [--backend flex] [--runs 3]

For each image of the folder's truth.json it reads the text with `memeclip ocr` (all images in one
process, so the model loads once; the load is timed apart) and with `tesseract IMAGE -` (one
process per image, as it is used), and prints per engine the character error rate (case and
punctuation ignored, as the accuracy test computes it) and the milliseconds per meme (best of
`--runs`), then one JSON line. Needs tesseract-ocr and tesseract-ocr-eng (Debian).
"""

import argparse
import json
import os
import subprocess
import time


def normalize(text):
    kept = "".join(c if c.isalnum() else " " for c in text.lower())
    return " ".join(kept.split())


def edit_distance(a, b):
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a):
        diagonal, row[0] = row[0], i + 1
        for j, cb in enumerate(b):
            diagonal, row[j + 1] = row[j + 1], min(diagonal + (ca != cb), row[j] + 1, row[j + 1] + 1)
    return row[len(b)]


def cer(got, want):
    want = normalize(want)
    return edit_distance(normalize(got), want) / len(want)


def timed(cmd):
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - start, out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--memeclip", required=True)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--ocr", help="OCR model folder")
    source.add_argument("--bundle", help="web bundle with OCR, read as the browser reads it")
    p.add_argument("--kernels", help="with --bundle: fused (f32) or int8 (the default for an int8 bundle)")
    p.add_argument("--images", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "ocr", "accuracy"))
    p.add_argument("--backend", default="flex")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    truth = json.load(open(os.path.join(args.images, "truth.json")))
    paths = [os.path.join(args.images, n) for n in truth]
    n = len(paths)

    # memeclip: one process for all images, and one with a single image for the load alone.
    model = ["--ocr", args.ocr] if args.ocr else ["--bundle", args.bundle]
    if args.kernels:
        model += ["--kernels", args.kernels]
    command = [args.memeclip, "ocr", *model, "--backend", args.backend]
    load, _ = timed([*command, paths[0]])
    best, texts = None, None
    for _ in range(args.runs):
        t, out = timed([*command, "--json", *paths])
        if best is None or t < best:
            best, texts = t, [json.loads(l)["text"] for l in out.splitlines()]
    memeclip_ms = (best - load) / (n - 1) * 1000
    memeclip_cer = sum(cer(t, truth[k]) for t, k in zip(texts, truth)) / n

    tess_best, tess_texts = None, None
    for _ in range(args.runs):
        total, outs = 0.0, []
        for path in paths:
            t, out = timed(["tesseract", path, "-"])
            total += t
            outs.append(out)
        if tess_best is None or total < tess_best:
            tess_best, tess_texts = total, outs
    tess_ms = tess_best / n * 1000
    tess_cer = sum(cer(t, truth[k]) for t, k in zip(tess_texts, truth)) / n

    print(f"{n} images; memeclip model load {load * 1000:.0f} ms (one image included)")
    print(f"{'engine':<28} {'CER':>7} {'ms/meme':>9}")
    label = f"memeclip ({args.backend}{', ' + args.kernels if args.kernels else ''})"
    print(f"{label:<28} {memeclip_cer:7.4f} {memeclip_ms:9.0f}")
    print(f"{'tesseract (Debian)':<28} {tess_cer:7.4f} {tess_ms:9.0f}")
    version = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(json.dumps({"images": n, "memeclip": {"cer": memeclip_cer, "ms_per_meme": memeclip_ms, "backend": args.backend,
                                                "kernels": args.kernels},
                      "tesseract": {"cer": tess_cer, "ms_per_meme": tess_ms, "version": version}}))


if __name__ == "__main__":
    main()
