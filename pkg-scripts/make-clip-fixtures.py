#!/usr/bin/env python3
"""Builds the tiny CLIP fixtures under tests/fixtures/ with the reference Python packages.

What it writes (all committed; the Rust tests never need Python or the network):
  tests/fixtures/tiny-clip/        a random CLIP (quick_gelu) in the Hugging Face folder layout,
                                   with the real 49,408-token OpenAI BPE vocabulary
  tests/fixtures/tiny-clip-gelu/   a second, smaller one with the `gelu` activation
  tests/fixtures/images/           small PNG, JPEG (one with an EXIF orientation), WebP, GIF,
                                   grayscale, RGBA and 16-bit images
  tests/fixtures/reference.json    texts, image names and the token ids of transformers' tokenizer
  tests/fixtures/reference.safetensors
                                   pixel values from transformers' CLIPImageProcessorPil and the
                                   memeclip squash mode, and image_embeds / text_pooled /
                                   text_embeds from transformers' CLIPModel

Run:  python3 -m venv /opt/refpy && /opt/refpy/bin/pip install -r pkg-scripts/requirements-fixtures.txt
      /opt/refpy/bin/python pkg-scripts/make-clip-fixtures.py
"""

import gzip
import json
import os
from pathlib import Path

import numpy as np
import open_clip
import torch
from PIL import Image, ImageOps
from safetensors.numpy import save_file
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]

TEXTS = [
    "a photo of a Benign Meme.",
    "a photo of a Harmful Meme.",
    "a photo of a No particular target.",
    "",
    "when the code compiles on the first try 😂🔥👍",
    "Café naïve résumé — Ünïcödé 日本語のテキスト ĳ ﬁ",
    "  Hello   WORLD\n\tnew line  ",
    "don't you're it's we'll I'd they've I'm",
    "1234567 3.14159 #hashtag @user https://example.com/a?b=c",
    # Longer than 75 BPE tokens: truncated to start + 75 tokens + end.
    " ".join(
        ["this meme text goes on and on about everything and nothing at all"] * 8
    ),
]


def bytes_to_unicode():
    """GPT-2's reversible byte-to-printable-character table, as CLIP's BPE uses it."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, [chr(c) for c in chars]))


def build_tokenizer(out_dir: Path) -> CLIPTokenizer:
    """OpenAI's BPE file (shipped in the open-clip-torch wheel) -> CLIPTokenizer -> tokenizer.json."""
    bpe_path = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.open(bpe_path).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    base = list(bytes_to_unicode().values())
    vocab = base + [v + "</w>" for v in base] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == 49408, len(vocab)
    tok = CLIPTokenizer(vocab={v: i for i, v in enumerate(vocab)}, merges=merges)
    tok.model_max_length = 77
    tok.save_pretrained(out_dir)
    # Only tokenizer.json is part of the layout the Rust code reads; drop the rest.
    for extra in ["tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"]:
        (out_dir / extra).unlink(missing_ok=True)
    return tok


def randomize(model: CLIPModel, seed: int):
    """transformers' init leaves biases at 0 and LayerNorms at 1; make every tensor matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            elif name == "logit_scale":
                p.fill_(float(np.log(100.0)))
            else:
                p.copy_(noise * max(p.std().item(), 0.02) * 2.0)


def build_model(out_dir: Path, text: dict, vision: dict, projection_dim: int, seed: int):
    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config=dict(vocab_size=49408, max_position_embeddings=77, bos_token_id=49406,
                         eos_token_id=49407, pad_token_id=49407, **text),
        vision_config=dict(num_channels=3, **vision),
        projection_dim=projection_dim,
    )
    model = CLIPModel(config).eval()
    randomize(model, seed)
    model.save_pretrained(out_dir, safe_serialization=True)
    size = vision["image_size"]
    CLIPImageProcessorPil(
        size={"shortest_edge": size}, crop_size={"height": size, "width": size},
        image_mean=OPENAI_MEAN, image_std=OPENAI_STD,
    ).save_pretrained(out_dir)
    return model


def make_images(out_dir: Path) -> list[str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)

    def pattern(h, w):
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        r = 127 + 120 * np.sin(x / 5.0) * np.cos(y / 7.0)
        g = 255 * x / max(w - 1, 1)
        b = 255 * ((x // 8 + y // 8) % 2)
        img = np.stack([r, g, b], -1) + rng.normal(0, 12, (h, w, 3))
        return np.clip(img, 0, 255).astype(np.uint8)

    Image.fromarray(pattern(61, 97)).save(out_dir / "photo.png")
    Image.fromarray(pattern(90, 50)).save(out_dir / "portrait.jpg", quality=95)
    # Stored landscape with EXIF orientation 6: a viewer shows it rotated 90 degrees clockwise.
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pattern(50, 90)).save(out_dir / "oriented.jpg", quality=95, exif=exif)
    Image.fromarray(pattern(80, 120)).save(out_dir / "meme.webp", lossless=True)
    frames = [Image.fromarray(pattern(70, 70)).quantize(64), Image.fromarray(pattern(70, 70)[::-1]).quantize(64)]
    frames[0].save(out_dir / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    gray = pattern(64, 80)[..., 0]
    Image.fromarray(gray, "L").save(out_dir / "gray.png")
    # The same picture in 16 bits: each 8-bit level v becomes v * 257, so it must decode to gray.png.
    Image.fromarray(gray.astype(np.uint16) * 257).save(out_dir / "gray16.png")
    rgba = np.concatenate([pattern(100, 64), rng.integers(0, 256, (100, 64, 1), dtype=np.uint8)], -1)
    Image.fromarray(rgba, "RGBA").save(out_dir / "rgba.png")
    return ["photo.png", "portrait.jpg", "oriented.jpg", "meme.webp", "anim.gif", "gray.png", "rgba.png"]


def load_rgb(path: Path) -> Image.Image:
    """What a user means by the image: the first frame, upright (EXIF), as RGB."""
    img = Image.open(path)
    img.seek(0)
    return ImageOps.exif_transpose(img).convert("RGB")


def memeclip_pixels(img: Image.Image, size: int) -> np.ndarray:
    """The official MemeCLIP code: squash to size x size with PIL's bicubic, then normalize."""
    arr = np.asarray(img.resize((size, size), Image.BICUBIC), dtype=np.float32) / 255.0
    arr = (arr - np.array(OPENAI_MEAN, np.float32)) / np.array(OPENAI_STD, np.float32)
    return arr.transpose(2, 0, 1).astype(np.float32)


def main():
    torch.set_num_threads(1)
    tiny = FIXTURES / "tiny-clip"
    gelu = FIXTURES / "tiny-clip-gelu"
    for d in (tiny, gelu):
        d.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(tiny)
    (gelu / "tokenizer.json").write_bytes((tiny / "tokenizer.json").read_bytes())

    models = {
        "tiny": build_model(
            tiny,
            text=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      hidden_act="quick_gelu"),
            vision=dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                        image_size=64, patch_size=16, hidden_act="quick_gelu"),
            projection_dim=24, seed=1,
        ),
        "gelu": build_model(
            gelu,
            text=dict(hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                      hidden_act="gelu"),
            vision=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                        image_size=64, patch_size=32, hidden_act="gelu"),
            projection_dim=12, seed=2,
        ),
    }

    images = make_images(FIXTURES / "images")
    clip_64 = CLIPImageProcessorPil.from_pretrained(tiny)
    clip_224 = CLIPImageProcessorPil(image_mean=OPENAI_MEAN, image_std=OPENAI_STD)
    tensors = {}
    pil_images = [load_rgb(FIXTURES / "images" / name) for name in images]
    tensors["pixels_clip_64"] = clip_64(pil_images, return_tensors="np")["pixel_values"].astype(np.float32)
    tensors["pixels_clip_224"] = clip_224(pil_images[:2], return_tensors="np")["pixel_values"].astype(np.float32)
    tensors["pixels_memeclip_64"] = np.stack([memeclip_pixels(im, 64) for im in pil_images])

    ids = [tok(t, truncation=True, max_length=77)["input_ids"] for t in TEXTS]
    with torch.no_grad():
        for key, model in models.items():
            pixels = torch.from_numpy(tensors["pixels_clip_64"])
            tensors[f"{key}.image_embeds"] = model.get_image_features(pixel_values=pixels).pooler_output.numpy()
            pooled, embeds = [], []
            for seq in ids:
                out = model.text_model(input_ids=torch.tensor([seq]))
                pooled.append(out.pooler_output[0].numpy())
                embeds.append(model.text_projection(out.pooler_output)[0].numpy())
            tensors[f"{key}.text_pooled"] = np.stack(pooled)
            tensors[f"{key}.text_embeds"] = np.stack(embeds)
            tensors[f"{key}.image_embeds_memeclip"] = model.get_image_features(
                pixel_values=torch.from_numpy(tensors["pixels_memeclip_64"])).pooler_output.numpy()

    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, FIXTURES / "reference.safetensors")
    reference = {
        "generated_by": "pkg-scripts/make-clip-fixtures.py",
        "versions": {m.__name__: m.__version__ for m in (torch, np, __import__("transformers"),
                                                          __import__("PIL"))},
        "texts": TEXTS,
        "input_ids": ids,
        "images": images,
    }
    (FIXTURES / "reference.json").write_text(json.dumps(reference, indent=1, ensure_ascii=False) + "\n")
    print("wrote", FIXTURES, "image_embeds shape", tensors["tiny.image_embeds"].shape)


if __name__ == "__main__":
    main()
