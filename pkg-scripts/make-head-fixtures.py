#!/usr/bin/env python3
"""Reference values for the MemeCLIP head and the metrics, written to tests/fixtures/.

  head/reference_head.safetensors  a small head (image 24, text 32, map 48, 3 classes) with fixed
                                   random weights, in memeclip's head-file layout
  head/official.ckpt               the same weights inside a PyTorch Lightning-style checkpoint
                                   (state_dict with the official key names plus CLIP keys to skip)
  head/reference.safetensors       inputs and the logits the PyTorch head computes (eval mode)
  metrics.json                     fixed logits and labels with scikit-learn's dataset-level
                                   metrics and torchmetrics' per-batch (code-faithful) metrics

The head follows shared/spec/memeclip.md §1.3, written here in PyTorch.

Run:  /opt/refpy/bin/python pkg-scripts/make-head-fixtures.py
"""

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchmetrics.functional.classification as tmf
from safetensors.torch import save_file
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures"


class Head(nn.Module):
    def __init__(self, image_dim, text_dim, map_dim, classes, layers=1):
        super().__init__()

        def projection(d_in):
            mods = [nn.Linear(d_in, map_dim), nn.Dropout(0.1)]
            for _ in range(1, layers):
                mods += [nn.ReLU(), nn.Linear(map_dim, map_dim), nn.Dropout(0.1)]
            return nn.Sequential(*mods)

        def adapter():
            return nn.Sequential(nn.Linear(map_dim, map_dim // 4, bias=False), nn.ReLU(),
                                 nn.Linear(map_dim // 4, map_dim, bias=False), nn.ReLU())

        self.image_map = nn.Module()
        self.image_map.proj = projection(image_dim)
        self.text_map = nn.Module()
        self.text_map.proj = projection(text_dim)
        self.img_adapter = nn.Module()
        self.img_adapter.fc = adapter()
        self.text_adapter = nn.Module()
        self.text_adapter.fc = adapter()
        self.pre_output = nn.Sequential(nn.Dropout(0.4), nn.Linear(map_dim, map_dim), nn.ReLU(), nn.Dropout(0.2))
        self.classifier = nn.Module()
        self.classifier.weight = nn.Parameter(torch.randn(classes, map_dim))

    def forward(self, image, text, ratio=0.2, scale=30.0):
        p_i, p_t = self.image_map.proj(image), self.text_map.proj(text)
        f_i = ratio * self.img_adapter.fc(p_i) + (1 - ratio) * p_i
        f_t = ratio * self.text_adapter.fc(p_t) + (1 - ratio) * p_t
        f_i = f_i / f_i.norm(dim=-1, keepdim=True)
        f_t = f_t / f_t.norm(dim=-1, keepdim=True)
        g = self.pre_output(f_i * f_t)
        return scale * F.normalize(g, dim=-1) @ F.normalize(self.classifier.weight, dim=-1).t()


def head_fixtures():
    torch.manual_seed(3)
    out = OUT / "head"
    out.mkdir(parents=True, exist_ok=True)
    head = Head(24, 32, 48, 3, layers=2).eval()
    with torch.no_grad():
        for p in head.parameters():  # larger than the default init so every layer matters
            p.copy_(torch.randn_like(p) * 0.3)
    image, text = torch.randn(6, 24), torch.randn(6, 32)
    with torch.no_grad():
        logits = head(image, text)
    state = {k: v.detach().contiguous() for k, v in head.state_dict().items()}
    meta = {"format": "memeclip-head", "version": "1", "kind": "memeclip", "task": "stance",
            "class_names": json.dumps(["Neutral", "Support", "Oppose"]), "clip_model": "tiny-clip",
            "ratio": "0.2", "scale": "30", "dropout": "[0.1,0.4,0.2]"}
    save_file(state, out / "reference_head.safetensors", metadata=meta)
    save_file({"image": image, "text": text, "logits": logits}, out / "reference.safetensors")
    # A Lightning checkpoint: the module's state_dict, CLIP copy included, under "state_dict".
    ckpt_state = dict(state)
    ckpt_state["clip_model.visual.proj"] = torch.randn(4, 3)
    ckpt_state["clip_model.positional_embedding"] = torch.randn(5, 4).half()
    torch.save({"epoch": 7, "global_step": 2168, "pytorch-lightning_version": "2.0.0",
                "state_dict": ckpt_state}, out / "official.ckpt")


def clip_fixtures():
    """SAI weights and zero-shot logits of the tiny CLIP, for the stance class names."""
    from safetensors.numpy import load_file
    from transformers import CLIPModel, CLIPTokenizer

    tiny = OUT / "tiny-clip"
    model, tok = CLIPModel.from_pretrained(tiny).eval(), CLIPTokenizer.from_pretrained(tiny)
    classes = ["Neutral", "Support", "Oppose"]
    prompts = [f"a photo of a {c.replace('_', ' ')}." for c in classes]
    pixels = torch.from_numpy(load_file(OUT / "reference.safetensors")["pixels_clip_64"])
    with torch.no_grad():
        embeds = torch.cat([model.get_text_features(**tok([p], return_tensors="pt")).pooler_output
                            for p in prompts])
        embeds = embeds / embeds.norm(dim=-1, keepdim=True)
        # visual.proj in OpenAI's layout is [vision width, projection], i.e. the transposed HF weight.
        sai = embeds @ model.visual_projection.weight
        sai = sai / sai.norm(dim=-1, keepdim=True)
        image = model.get_image_features(pixel_values=pixels).pooler_output
        image = image / image.norm(dim=-1, keepdim=True)
        zero_shot = model.logit_scale.exp() * image @ embeds.t()
    save_file({"sai": sai.contiguous(), "zero_shot_logits": zero_shot.contiguous()},
              OUT / "head" / "clip_reference.safetensors")


def metrics_fixture():
    rng = np.random.default_rng(11)
    cases = []
    for classes, n in [(2, 53), (3, 61), (4, 40)]:
        labels = rng.integers(0, classes, n)
        logits = rng.normal(0, 1.5, (n, classes)) + 1.2 * np.eye(classes)[labels]
        if classes == 4:
            labels[labels == 3] = 1  # class 3 never occurs: tests absent-class handling
        probs = torch.softmax(torch.tensor(logits), -1).numpy()
        pred = logits.argmax(-1)
        present = sorted(set(labels))
        proper = {
            "accuracy": accuracy_score(labels, pred),
            "macro_f1": f1_score(labels, pred, average="macro"),
            "auroc": roc_auc_score(labels, probs[:, 1]) if classes == 2 else
            float(np.mean([roc_auc_score(labels == c, probs[:, c]) for c in present])),
        }
        # The official code: torchmetrics per batch of 16 on sigmoid(logits), weighted by size.
        sums = np.zeros(3)
        t_logits, t_labels = torch.tensor(logits, dtype=torch.float32), torch.tensor(labels)
        for i in range(0, n, 16):
            lb, yb = t_logits[i:i + 16], t_labels[i:i + 16]
            w = len(yb)
            sums += w * np.array([
                tmf.multiclass_accuracy(lb, yb, num_classes=classes, average="micro").item(),
                tmf.multiclass_f1_score(lb, yb, num_classes=classes, average="macro").item(),
                tmf.multiclass_auroc(torch.sigmoid(lb), yb, num_classes=classes, average="macro").item(),
            ])
        faithful = dict(zip(["accuracy", "macro_f1", "auroc"], (sums / n).tolist()))
        cases.append({"classes": classes, "labels": labels.tolist(), "logits": logits.round(6).tolist(),
                      "proper": proper, "code_faithful": faithful})
    (OUT / "metrics.json").write_text(json.dumps({"generated_by": "pkg-scripts/make-head-fixtures.py",
                                                  "cases": cases}) + "\n")


if __name__ == "__main__":
    head_fixtures()
    clip_fixtures()
    metrics_fixture()
    print("wrote", OUT / "head", OUT / "metrics.json")
