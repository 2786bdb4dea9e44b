#!/usr/bin/env python3
"""Reference numbers of timm's Mixup / CutMix and cross-entropies for tests/data/mixup_test.cpp
and tests/losses/soft_target_test.cpp.

timm's Mixup (timm/data/mixup.py, mode 'batch', correct_lam) is run with its random draws
replaced by fixed ones -- _params_per_batch returns a given (lam, use_cutmix) and numpy's randint a
given box centre -- so that lowbit's deterministic core (data::cutmix_at, mix_images, mix_targets)
can be compared number for number. The losses are timm's SoftTargetCrossEntropy and
LabelSmoothingCrossEntropy (timm/loss/cross_entropy.py) in double precision, with the gradients
of their values with respect to the logits (autograd).

Every line: "<name> <shape, e.g. 4x2x5x7 or scalar> <values...>"; inputs are written too.

Usage: python3 mixup_reference.py > mixup_reference.txt   (torch 2.11.0, timm 1.0.31, numpy)
"""
from unittest import mock

import numpy as np
import torch
from timm.data import mixup as timm_mixup
from timm.data.mixup import Mixup, mixup_target
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy


def emit(name, value):
    t = value if isinstance(value, torch.Tensor) else torch.tensor(value, dtype=torch.float64)
    shape = "x".join(str(d) for d in t.shape) if t.dim() > 0 else "scalar"
    print(name, shape, " ".join(repr(float(v)) for v in t.double().flatten().tolist()))


def images(batch, channels, height, width):
    # float32 values in [-1, 1): ((37 i) mod 101) / 50 - 1, exact rationals before the cast
    i = torch.arange(batch * channels * height * width, dtype=torch.float64)
    return ((i * 37) % 101 / 50 - 1).float().reshape(batch, channels, height, width)


NUM_CLASSES = 6
LABELS = torch.tensor([0, 3, 5, 3])


def mixed(name, x, lam, use_cutmix, center=None, smoothing=0.1):
    mixup = Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5, mode="batch",
                  correct_lam=True, label_smoothing=smoothing, num_classes=NUM_CLASSES)
    mixup._params_per_batch = lambda: (lam, use_cutmix)
    centre = iter(center or ())
    seen = {}
    cutmix_bbox_and_lam = timm_mixup.cutmix_bbox_and_lam

    def box_spy(*args, **kwargs):
        seen["box"], seen["lam"] = cutmix_bbox_and_lam(*args, **kwargs)
        return seen["box"], seen["lam"]

    with mock.patch.object(np.random, "randint", lambda low, high, size=None: next(centre)), \
            mock.patch.object(timm_mixup, "cutmix_bbox_and_lam", box_spy):
        out, target = mixup(x.clone(), LABELS.clone())
    emit(name + ".images", out)
    emit(name + ".targets", target)
    emit(name + ".lam", seen.get("lam", lam))
    if use_cutmix:
        emit(name + ".box", [int(v) for v in seen["box"]])  # (top, bottom, left, right)


def main():
    x = images(4, 2, 5, 7)
    emit("input.images", x)
    emit("input.labels", LABELS)
    mixed("mixup", x, 0.3721, False)
    mixed("cutmix", x, 0.61, True, center=(2, 3))      # cut 3x4 inside: (cut + 1) // 2 below the centre
    mixed("cutmix_border", x, 0.61, True, center=(0, 6))  # clipped at the top and right edges
    mixed("cutmix_odd", x, 0.3, True, center=(3, 2))    # cut 4x5: (cut + 1) // 2 right of the centre
    emit("smoothing0.targets", mixup_target(LABELS, NUM_CLASSES, 0.25, 0.0))

    logits = torch.tensor([[2.0, -1.0, 0.5, 0.0, 1.5, -0.25],
                           [0.1, 0.2, 0.3, -3.0, 0.0, 1.0],
                           [-2.0, 4.0, 0.0, 0.5, -0.5, 0.25],
                           [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    targets = mixup_target(LABELS, NUM_CLASSES, 0.3721, 0.1).double()
    emit("loss.logits", logits)
    emit("loss.soft_targets", targets)
    z = logits.clone().requires_grad_()
    soft = SoftTargetCrossEntropy()(z, targets)
    soft.backward()
    emit("soft_ce.value", soft.detach())
    emit("soft_ce.grad", z.grad)
    z = logits.clone().requires_grad_()
    smooth = LabelSmoothingCrossEntropy(0.1)(z, LABELS)
    smooth.backward()
    emit("label_smoothing_ce.value", smooth.detach())
    emit("label_smoothing_ce.grad", z.grad)


if __name__ == "__main__":
    main()
