#!/usr/bin/env python3
"""A features file as another tool would write it, for tests/fixtures/foreign-features.*.

  foreign-features.safetensors  only the documented tensors, no metadata at all: numpy's default
                                types (f32 features, i64 split), label_stance as i32 with -1 for
                                unlabelled rows, label_topic as i64 (a task memeclip does not know)
  foreign-features.json         what the test expects: the rows per split and the accuracy of the
                                reference stance head on the test rows, from PyTorch's logits

The six test rows are the inputs of tests/fixtures/head/reference.safetensors (written by
make-head-fixtures.py), so the head's PyTorch logits give the expected predictions.

Run:  python3 pkg-scripts/make-foreign-features.py   (numpy and safetensors from PyPI)
"""

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures"


def main():
    ref = load_file(OUT / "head" / "reference.safetensors")
    rng = np.random.default_rng(11)
    train, val = 24, 6
    test_image, test_text, logits = ref["image"], ref["text"], ref["logits"]
    image = np.concatenate([rng.standard_normal((train + val, 24), dtype=np.float32), test_image])
    text = np.concatenate([rng.standard_normal((train + val, 32), dtype=np.float32), test_text])
    split = np.array([0] * train + [1] * val + [2] * len(test_image))
    predicted = logits.argmax(axis=1)
    # The head is right on the first four test rows and wrong on the last two.
    test_labels = np.concatenate([predicted[:4], (predicted[4:] + 1) % 3])
    stance = np.concatenate([np.arange(train + val) % 3, test_labels]).astype(np.int32)
    stance[[2, 5]] = -1
    topic = (np.arange(len(split)) % 2).astype(np.int64)
    save_file({"image_features": image, "text_features": text, "split": split,
               "label_stance": stance, "label_topic": topic},
              OUT / "foreign-features.safetensors")
    expected = {
        "generated_by": "pkg-scripts/make-foreign-features.py",
        "rows": len(split),
        "labelled_stance_rows": {"train": int((stance[:train] >= 0).sum()), "val": val,
                                 "test": len(test_image)},
        "stance_labels": stance.tolist(),
        "topic_labels": topic.tolist(),
        "test_accuracy": float((predicted == test_labels).mean()),
        "test_predicted": predicted.tolist(),
    }
    (OUT / "foreign-features.json").write_text(json.dumps(expected) + "\n")
    print("wrote", OUT / "foreign-features.safetensors", OUT / "foreign-features.json")


if __name__ == "__main__":
    main()
