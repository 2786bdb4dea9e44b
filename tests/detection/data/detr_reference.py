#!/usr/bin/env python3
"""Reference numbers of the official DETR for tests/detection/detr_reference_test.cpp.

Builds a small DETR from the official code (facebookresearch/detr @ 29901c51, checked out at
DETR_SRC; not part of lowbit) -- resnet18, hidden 32, 4 heads, 1 encoder + 2 decoder layers, FFN
64, 6 queries, 5 classes, aux_loss -- sets every parameter and buffer to a value computed from
its name and element index (deterministic_value below, repeated in the C++ test), runs it in
double precision and eval mode on a fixed padded batch, and prints: the outputs, the weighted
losses of SetCriterion (HungarianMatcher 1/5/2, eos_coef 0.1, weights 1/5/2, aux losses), the
gradient of their sum at a few parameters (as sums of squares), and PostProcess's results.

Usage: DETR_SRC=/tmp/detr-src python3 detr_reference.py > detr_reference.txt
(torch 2.11.0, torchvision 0.26.0, scipy; see detr_r50_keys.txt for the environment.)
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.environ.get("DETR_SRC", "/tmp/detr-src"))
import models.backbone as backbone_module  # noqa: E402

backbone_module.is_main_process = lambda: False  # no ImageNet download
from models.backbone import Backbone, Joiner  # noqa: E402
from models.detr import DETR, PostProcess, SetCriterion  # noqa: E402
from models.matcher import HungarianMatcher  # noqa: E402
from models.position_encoding import PositionEmbeddingSine  # noqa: E402
from models.transformer import Transformer  # noqa: E402
from util.misc import NestedTensor  # noqa: E402


def deterministic_value(name, shape):
    """u_i = ((i 2654435761 + 97531 seed(name)) mod 2^32) / 2^32 (Knuth's multiplicative hash, exact
    in int64), s_i = 2 u_i - 1, scaled by the kind of tensor (He-uniform for matrices)."""
    seed = sum((k + 1) * ord(c) for k, c in enumerate(name)) % 997
    n = math.prod(shape)
    u = ((torch.arange(n, dtype=torch.int64) * 2654435761 + seed * 97531) % 2**32).double().reshape(shape) / 2**32
    s = 2 * u - 1
    if name.endswith("running_var"):
        return 1 + 0.5 * u
    if len(shape) == 1:
        return 1 + 0.2 * s if name.endswith(".weight") else 0.1 * s
    if name == "query_embed.weight":
        return math.sqrt(3) * s
    return s * math.sqrt(6 / (n // shape[0]))


def build():
    backbone = Backbone("resnet18", train_backbone=True, return_interm_layers=False, dilation=False)
    joiner = Joiner(backbone, PositionEmbeddingSine(16, normalize=True))
    joiner.num_channels = backbone.num_channels
    transformer = Transformer(d_model=32, nhead=4, num_encoder_layers=1, num_decoder_layers=2,
                              dim_feedforward=64, dropout=0.1, return_intermediate_dec=True)
    model = DETR(joiner, transformer, num_classes=5, num_queries=6, aux_loss=True).double()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            tensor.copy_(deterministic_value(name, tuple(tensor.shape)))
    return model.eval()


def batch():
    """Two images 64 x 96, the second 64 x 64 and padded (zeros, mask true) on the right."""
    i = torch.arange(2 * 3 * 64 * 96, dtype=torch.float64).reshape(2, 3, 64, 96)
    y = torch.arange(64, dtype=torch.float64).view(1, 1, 64, 1)
    x = torch.arange(96, dtype=torch.float64).view(1, 1, 1, 96)
    c = torch.arange(3, dtype=torch.float64).view(1, 3, 1, 1)
    b = torch.arange(2, dtype=torch.float64).view(2, 1, 1, 1)
    images = torch.sin(0.37 * i) + 2 * torch.sin(x / 9 + c + b) * torch.cos(y / 7 - c)
    mask = torch.zeros(2, 64, 96, dtype=torch.bool)
    mask[1, :, 64:] = True
    images[1, :, :, 64:] = 0
    targets = [
        {"labels": torch.tensor([1, 3]), "boxes": torch.tensor([[0.3, 0.4, 0.2, 0.3], [0.7, 0.6, 0.4, 0.5]],
                                                                dtype=torch.float64)},
        {"labels": torch.tensor([0]), "boxes": torch.tensor([[0.5, 0.5, 0.6, 0.4]], dtype=torch.float64)},
    ]
    return images, mask, targets


def show(name, tensor):
    values = " ".join("%.17g" % v for v in tensor.detach().reshape(-1).tolist())
    print(name, "x".join(str(s) for s in tensor.shape) or "scalar", values)


def main():
    model = build()
    images, mask, targets = batch()
    outputs = model(NestedTensor(images, mask))
    show("pred_logits", outputs["pred_logits"])
    show("pred_boxes", outputs["pred_boxes"])
    show("aux_logits", torch.stack([a["pred_logits"] for a in outputs["aux_outputs"]]))
    show("aux_boxes", torch.stack([a["pred_boxes"] for a in outputs["aux_outputs"]]))

    weights = {"loss_ce": 1, "loss_bbox": 5, "loss_giou": 2}
    weights.update({k + "_0": v for k, v in list(weights.items())})
    criterion = SetCriterion(5, HungarianMatcher(1, 5, 2), weights, eos_coef=0.1,
                             losses=["labels", "boxes", "cardinality"]).double()
    losses = criterion(outputs, targets)
    total = 0
    for name in weights:
        weighted = losses[name] * weights[name]
        show(name, weighted)
        total = total + weighted
    total.backward()
    params = dict(model.named_parameters())
    for name in ["input_proj.weight", "query_embed.weight", "class_embed.bias",
                 "transformer.encoder.layers.0.self_attn.in_proj_weight",
                 "transformer.decoder.layers.1.multihead_attn.in_proj_weight",
                 "backbone.0.body.layer4.1.conv2.weight", "backbone.0.body.layer2.0.downsample.0.weight"]:
        show("grad_sq:" + name, (params[name].grad ** 2).sum())

    results = PostProcess()(outputs, torch.tensor([[480, 640], [300, 200]]))
    for key in ["scores", "labels", "boxes"]:
        show("post_" + key, torch.stack([r[key] for r in results]))


if __name__ == "__main__":
    main()
