#!/usr/bin/env python3
"""A random-weight CLIP in ViT-B/32 shapes laid out as transformers.js loads it, for comparing
memeclip's browser speed with transformers.js on the same machine (pkg-scripts/bench-web.sh
--compare-transformersjs).

    make-transformersjs-model.py OUT_DIR

Writes OUT_DIR/config.json and OUT_DIR/onnx/{vision,text}_model_quantized.onnx: the towers with
their projections (image_embeds, text_embeds) exported by torch.onnx and quantized the way
transformers.js's q8 files are (onnxruntime dynamic quantization, uint8 weights).
Needs torch, transformers, onnx, onnxscript and onnxruntime (PyPI).
"""

import sys
from pathlib import Path

import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import CLIPConfig, CLIPTextModelWithProjection, CLIPVisionModelWithProjection


class Output(torch.nn.Module):
    """A tower returning one named output, so that torch.onnx sees a single tensor."""

    def __init__(self, model, output):
        super().__init__()
        self.model = model
        self.output = output

    def forward(self, inputs):
        return getattr(self.model(inputs), self.output)


def export(module, example, input_name, output_name, dynamic, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    float_path = path.with_name(path.stem + "_f32.onnx")
    torch.onnx.export(
        module,
        (example,),
        str(float_path),
        input_names=[input_name],
        output_names=[output_name],
        dynamic_axes={input_name: dynamic},
        opset_version=18,
        dynamo=False,
    )
    quantize_dynamic(str(float_path), str(path), weight_type=QuantType.QUInt8)
    float_path.unlink()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    torch.manual_seed(0)
    config = CLIPConfig()  # the ViT-B/32 shapes: 768/12 vision layers, 512/12 text layers
    config.save_pretrained(out)
    vision = CLIPVisionModelWithProjection(config.vision_config).eval()
    text = CLIPTextModelWithProjection(config.text_config).eval()
    with torch.no_grad():
        export(Output(vision, "image_embeds"), torch.randn(1, 3, 224, 224), "pixel_values", "image_embeds",
               {0: "batch"}, out / "onnx" / "vision_model_quantized.onnx")
        export(Output(text, "text_embeds"), torch.randint(0, 49406, (1, 77)), "input_ids", "text_embeds",
               {0: "batch", 1: "sequence"}, out / "onnx" / "text_model_quantized.onnx")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
