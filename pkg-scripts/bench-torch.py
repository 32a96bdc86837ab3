#!/usr/bin/env python3
"""The same measurement as `memeclip bench`, on PyTorch + transformers, for comparison on one
machine: random weights in ViT-B/32 (or ViT-L/14) shapes, median ms per call, fresh inputs each
iteration. Prints a table and a JSON line. With --train, times what `memeclip bench --train` does:
10 epochs of the MemeCLIP head (the PyTorch head of make-head-fixtures.py) with AdamW, batch 16, on
PrideMM-sized random features (4,328 train, 228 val, 507 test rows), evaluating val and test after
each epoch.

    /opt/refpy/bin/python pkg-scripts/bench-torch.py [--shape vit-b-32|vit-l-14] [--iters 10] [--train]
"""
import argparse
import json
import statistics
import time

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import CLIPConfig, CLIPModel

SHAPES = {
    "vit-b-32": dict(text=(512, 8, 12), vision=(768, 12, 12, 32), proj=512),
    "vit-l-14": dict(text=(768, 12, 12), vision=(1024, 16, 24, 14), proj=768),
}


def bench_training(shape):
    spec = importlib.util.spec_from_file_location("fixtures", Path(__file__).parent / "make-head-fixtures.py")
    fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixtures)
    s = SHAPES[shape]
    image_dim, text_dim, map_dim = s["proj"], s["text"][0], s["vision"][0]
    torch.manual_seed(42)
    rows = {"train": 4328, "val": 228, "test": 507}
    data = {k: (torch.randn(n, image_dim), torch.randn(n, text_dim), torch.randint(0, 2, (n,))) for k, n in rows.items()}
    head = fixtures.Head(image_dim, text_dim, map_dim, 2)
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-4, weight_decay=1e-4)
    start = time.perf_counter()
    image, text, labels = data["train"]
    for _ in range(10):
        head.train()
        for batch in torch.randperm(rows["train"]).split(16):
            loss = F.cross_entropy(head(image[batch], text[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        head.eval()
        with torch.no_grad():
            for split in ("val", "test"):
                i, t, _ = data[split]
                for b in torch.arange(rows[split]).split(16):
                    head(i[b], t[b]).softmax(-1)
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in head.parameters())
    print(json.dumps(dict(runtime=f"torch {torch.__version__}", threads=torch.get_num_threads(),
                          model=f"{shape}-shaped", epochs=10, train_rows=rows["train"],
                          head_parameters=params, seconds=seconds)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="vit-b-32", choices=SHAPES)
    ap.add_argument("--batch", default="1,8")
    ap.add_argument("--text-len", default="30,77")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--train", action="store_true")
    args = ap.parse_args()
    if args.train:
        return bench_training(args.shape)
    s = SHAPES[args.shape]
    tw, th, tl = s["text"]
    vw, vh, vl, patch = s["vision"]
    config = CLIPConfig(
        text_config=dict(hidden_size=tw, num_attention_heads=th, num_hidden_layers=tl, intermediate_size=4 * tw),
        vision_config=dict(hidden_size=vw, num_attention_heads=vh, num_hidden_layers=vl, intermediate_size=4 * vw,
                           patch_size=patch, image_size=224),
        projection_dim=s["proj"],
    )
    model = CLIPModel(config).eval()

    def median_ms(make_input, run):
        run(make_input())
        times = []
        for _ in range(args.iters):
            x = make_input()
            t = time.perf_counter()
            run(x)
            times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times)

    results = []
    with torch.inference_mode():
        for b in [int(v) for v in args.batch.split(",")]:
            ms = median_ms(lambda: torch.randn(b, 3, 224, 224),
                           lambda x: model.get_image_features(pixel_values=x))
            results.append(dict(tower="vision", batch=b, median_ms=ms, items_per_s=b * 1000 / ms))
            for n in [int(v) for v in args.text_len.split(",")]:
                def ids():
                    x = torch.randint(300, 40000, (b, n))
                    x[:, 0], x[:, -1] = 49406, 49407
                    return x
                ms = median_ms(ids, lambda x: model.text_model(input_ids=x).pooler_output)
                results.append(dict(tower="text", batch=b, tokens=n, median_ms=ms, items_per_s=b * 1000 / ms))
    print(f"{'tower':<8} {'batch':>5} {'tokens':>7} {'median ms':>11} {'items/s':>10}")
    for r in results:
        print(f"{r['tower']:<8} {r['batch']:>5} {r.get('tokens', '-'):>7} {r['median_ms']:>11.1f} {r['items_per_s']:>10.2f}")
    print(json.dumps(dict(runtime=f"torch {torch.__version__}", threads=torch.get_num_threads(),
                          model=f"{args.shape}-shaped", results=results)))


if __name__ == "__main__":
    main()
