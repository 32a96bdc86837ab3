#!/usr/bin/env python3
"""Renders meme-style test images with known texts for the OCR accuracy test.

    python3 pkg-scripts/make-ocr-accuracy.py

Writes tests/fixtures/ocr/accuracy/NN-style.{png,jpg} and truth.json ({file: text}). Needs
Pillow and numpy (PyPI) and Debian's fonts-dejavu-core and fonts-liberation. Three styles, as
memes are made: white capitals with a black outline at the top and bottom of a picture, a black
caption on a white band above a picture, and dark text on a light card; several fonts and sizes;
JPEG and PNG. Sides are deliberately not multiples of 32, so the detector's resizing is exercised.
"""

import json
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "ocr", "accuracy")
FONTS = "/usr/share/fonts/truetype"

IMPACT_LIKE = ["liberation/LiberationSans-Bold.ttf", "dejavu/DejaVuSans-Bold.ttf",
               "liberation/LiberationSansNarrow-Bold.ttf", "dejavu/DejaVuSansCondensed-Bold.ttf"]
CAPTION = ["dejavu/DejaVuSans.ttf", "liberation/LiberationSans-Regular.ttf",
           "dejavu/DejaVuSansCondensed.ttf", "liberation/LiberationSerif-Regular.ttf"]
CARD = ["dejavu/DejaVuSerif.ttf", "liberation/LiberationMono-Regular.ttf",
        "liberation/LiberationSerif-Bold.ttf", "dejavu/DejaVuSans.ttf"]

TOP_BOTTOM = [
    ("ONE DOES NOT SIMPLY", "DEPLOY ON A FRIDAY"),
    ("I DON'T ALWAYS TEST MY CODE", "BUT WHEN I DO, IT'S IN PRODUCTION"),
    ("WHAT IF I TOLD YOU", "THE BUG WAS A SEMICOLON"),
    ("BRACE YOURSELVES", "THE 404 ERRORS ARE COMING"),
]
CAPTIONS = [
    ["me trying to explain my", "weekend plans to my cat"],
    ["when the wifi drops to", "one bar during a 2 hour call"],
    ["nobody: absolutely nobody:", "my brain at 3am: remember 2009?"],
    ["teachers when you ask to go", "to the bathroom 5 minutes early"],
]
CARDS = [
    ["Roses are red,", "my code is too.", "Please send help."],
    ["Monday again?", "I just finished", "the last one!"],
    ["Rule #1:", "never trust a", "meme about rules."],
    ["Coffee first,", "questions later", "(maybe never)."],
]


def font(name, size):
    return ImageFont.truetype(os.path.join(FONTS, name), size)


def picture(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([
        110 + 90 * np.sin(x / (23.0 + seed) + seed),
        100 + 80 * np.cos(y / (31.0 + seed)),
        100 + 70 * np.sin((x - y) / 47.0),
    ], axis=-1)
    base += rng.normal(0, 1, base.shape)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(8):
        x0, y0 = int(rng.integers(0, w - 50)), int(rng.integers(0, h - 50))
        s = int(rng.integers(25, 90))
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)([x0, y0, x0 + s, y0 + s], fill=color)
    return img


def fit(d, text, name, size, width):
    """The largest size up to `size` at which `text` fits in `width`."""
    while size > 10 and d.textlength(text, font=font(name, size)) > width:
        size -= 1
    return font(name, size)


def centered(d, text, y, f, **kw):
    w = d.textlength(text, font=f)
    d.text(((d.im.size[0] - w) / 2, y), text, font=f, **kw)


def top_bottom(i, top, bottom):
    w, h = [(500, 420), (460, 470), (540, 400), (430, 380)][i]
    img = picture(w, h, 10 + i)
    d = ImageDraw.Draw(img)
    name = IMPACT_LIKE[i]
    style = dict(fill="white", stroke_width=3, stroke_fill="black")
    f = fit(d, top, name, 40, w - 24)
    centered(d, top, 10, f, **style)
    f = fit(d, bottom, name, 40, w - 24)
    centered(d, bottom, h - f.size - 24, f, **style)
    return img, f"{top} {bottom}"


def caption(i, lines):
    w, h = [(480, 430), (520, 460), (450, 400), (500, 470)][i]
    band = 110
    img = Image.new("RGB", (w, h), "white")
    img.paste(picture(w, h - band, 20 + i), (0, band))
    d = ImageDraw.Draw(img)
    name = CAPTION[i]
    f = fit(d, max(lines, key=len), name, 28, w - 30)
    for k, line in enumerate(lines):
        d.text((15, 14 + k * (f.size + 14)), line, font=f, fill="black")
    return img, " ".join(lines)


def card(i, lines):
    w, h = [(420, 360), (460, 380), (400, 350), (440, 390)][i]
    img = picture(w, h, 30 + i)
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([24, 40, w - 24, h - 40], radius=14, fill=(247, 242, 230))
    name = CARD[i]
    f = fit(d, max(lines, key=len), name, 30, w - 90)
    for k, line in enumerate(lines):
        d.text((46, 62 + k * (f.size + 18)), line, font=f, fill=(28, 28, 36))
    return img, " ".join(lines)


def main():
    os.makedirs(OUT, exist_ok=True)
    truth = {}
    made = [top_bottom(i, *t) for i, t in enumerate(TOP_BOTTOM)]
    made += [caption(i, c) for i, c in enumerate(CAPTIONS)]
    made += [card(i, c) for i, c in enumerate(CARDS)]
    styles = ["outline"] * 4 + ["caption"] * 4 + ["card"] * 4
    for k, ((img, text), style) in enumerate(zip(made, styles)):
        ext = "jpg" if k % 2 else "png"
        name = f"{k:02d}-{style}.{ext}"
        path = os.path.join(OUT, name)
        if ext == "jpg":
            img.save(path, quality=85)
        else:
            img.save(path)
        truth[name] = text
    with open(os.path.join(OUT, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)
        f.write("\n")
    print(f"{len(truth)} images in {OUT}")


if __name__ == "__main__":
    main()
