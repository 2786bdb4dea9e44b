#!/usr/bin/env python3
"""Reference data of timm's Swin Transformer and DeiT for tests/models/swin_test.cpp.

1. timm_keys/<model>.txt: the state-dict keys of timm's swin_{tiny,small,base}_patch4_window7_224
   and deit_{tiny,small,base}[_distilled]_patch16_224, one "name shape" per line ("x"-separated
   dimensions), in timm's order; timm_keys/swin_tiny_official.txt: the official
   microsoft/Swin-Transformer layout of Swin-T that timm's checkpoint_filter_fn converts from
   (patch merging at the end of stages 0-2, `head`, the buffers relative_position_index and
   attn_mask saved), made from timm's model by that function's inverse.
2. swin_reference.pt (torch.save): a tiny Swin -- image 32, patch 2, embed 8, depths (2, 2, 2),
   heads (2, 2, 4), window 4, 10 classes -- so that shifted windows (16x16 and 8x8 grids), patch
   merging and a window clipped to the grid (4x4, no shift) all run. Entries:
     model        its state dict (float32), every tensor drawn at random (seed 0) on the scale of
                  trained weights, so that no term (relative position bias, LayerNorm affine) is
                  negligible
     input        [2, 3, 32, 32] float32
     output       the logits in eval mode, computed in float64 from the float32 weights
     input_grad   d(sum(output * weights))/d(input), weights = linspace(-1, 1, 20) as [2, 10]
     table_grad   the same loss's gradient at layers.0.blocks.1.attn.relative_position_bias_table

Usage: python3 timm_keys.py  (writes beside this file; torch 2.11.0, timm 1.0.31, Python 3.11)
"""
import os

import timm
import torch
from timm.models.swin_transformer import SwinTransformer

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = [
    "swin_tiny_patch4_window7_224", "swin_small_patch4_window7_224", "swin_base_patch4_window7_224",
    "deit_tiny_patch16_224", "deit_small_patch16_224", "deit_base_patch16_224",
    "deit_tiny_distilled_patch16_224", "deit_small_distilled_patch16_224", "deit_base_distilled_patch16_224",
]


def write_keys():
    os.makedirs(os.path.join(HERE, "timm_keys"), exist_ok=True)
    for name in MODELS:
        model = timm.create_model(name, pretrained=False)
        with open(os.path.join(HERE, "timm_keys", name + ".txt"), "w") as out:
            out.write(f"# timm {timm.__version__}, torch {torch.__version__}: "
                      f"timm.create_model('{name}').state_dict() (tests/models/data/timm_keys.py)\n")
            for key, tensor in model.state_dict().items():
                out.write(f"{key} {'x'.join(str(s) for s in tensor.shape) or 'scalar'}\n")


def write_official_swin_tiny():
    import re
    model = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False)
    state = dict(model.state_dict())
    state.update({k: v for k, v in model.named_buffers() if k.endswith(("relative_position_index", "attn_mask"))})
    with open(os.path.join(HERE, "timm_keys", "swin_tiny_official.txt"), "w") as out:
        out.write("# the official Swin-T layout (inverse of timm 1.0.31's checkpoint_filter_fn; timm_keys.py)\n")
        for key, tensor in state.items():
            key = re.sub(r"layers\.(\d+)\.downsample", lambda m: f"layers.{int(m.group(1)) - 1}.downsample", key)
            key = key.replace("head.fc.", "head.")
            out.write(f"{key} {'x'.join(str(s) for s in tensor.shape) or 'scalar'}\n")


def randomize(model):
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * noise)
            elif name.endswith("bias") or name.endswith("relative_position_bias_table"):
                p.copy_(0.5 * noise if "relative_position" in name else 0.1 * noise)
            else:  # linear / convolution weights: unit gain
                p.copy_(noise / p[0].numel() ** 0.5)


def write_reference():
    torch.manual_seed(0)
    model = SwinTransformer(img_size=32, patch_size=2, in_chans=3, num_classes=10, embed_dim=8, depths=(2, 2, 2),
                            num_heads=(2, 2, 4), window_size=4, drop_path_rate=0.0)
    randomize(model)
    model.eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    model64 = model.double()
    x = images.double().requires_grad_(True)
    output = model64(x)
    weights = torch.linspace(-1, 1, output.numel(), dtype=torch.float64).reshape(output.shape)
    (output * weights).sum().backward()
    table = model64.layers[0].blocks[1].attn.relative_position_bias_table
    torch.save({"model": state, "input": images, "output": output.detach(), "input_grad": x.grad,
                "table_grad": table.grad}, os.path.join(HERE, "swin_reference.pt"))


if __name__ == "__main__":
    write_keys()
    write_official_swin_tiny()
    write_reference()
