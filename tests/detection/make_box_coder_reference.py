#!/usr/bin/env python3
"""Writes tests/detection/box_coder_reference.h: torchvision's BoxCoder
(torchvision.models.detection._utils.BoxCoder, float64, CPU) on boxes and deltas that
tests/detection/box_coder_test.cpp makes with the same formulas (ATen's sin and cos on float64
tensors on both sides). mmdetection's DeltaXYWHBBoxCoder with stds s is torchvision's BoxCoder with
weights 1 / s (both clamp dw, dh at log(1000 / 16); mmdetection also from below, which these
deltas never reach).

  (torchvision 0.26.0, numpy and pillow wheels unzipped into /tmp/tv/site, as
   tests/ops/make_roi_align_reference.py says; torch 2.11.0 on PYTHONPATH)
  PYTHONPATH=/tmp/tv/site:<torch site-packages> python3 tests/detection/make_box_coder_reference.py \\
      > tests/detection/box_coder_reference.h
"""
import torch
import torchvision
from torchvision.models.detection._utils import BoxCoder

K, CLASSES = 8, 2
WEIGHTS = {"rpn": (1.0, 1.0, 1.0, 1.0), "rcnn": (10.0, 10.0, 5.0, 5.0)}


def boxes(phase):
    """K boxes (x1, y1, x2, y2), 3 to 123 pixels wide and high."""
    k = torch.arange(K, dtype=torch.float64)
    x1 = 50 + 40 * torch.sin(phase + 0.7 * k)
    y1 = 60 + 45 * torch.cos(phase + 1.1 * k)
    w = 63 + 60 * torch.sin(phase + 2.3 * k)
    h = 63 + 60 * torch.cos(phase + 0.9 * k)
    return torch.stack([x1, y1, x1 + w, y1 + h], -1)


def deltas():
    """[K, 4 CLASSES]; the last RoI's dw, dh beyond the clamp at log(1000 / 16) = 4.1352."""
    i = torch.arange(K * 4 * CLASSES, dtype=torch.float64).view(K, 4 * CLASSES)
    d = 0.8 * torch.sin(0.37 * i + 0.2)
    d[K - 1, 2::4] = 4.5
    return d


def upstream():
    i = torch.arange(K * 4 * CLASSES, dtype=torch.float64).view(K, 4 * CLASSES)
    return torch.cos(0.29 * i + 0.4)


def array(values):
    return "{" + ", ".join(repr(float(v)) for v in values.flatten().tolist()) + "}"


def main():
    proposals, gt = boxes(0.3), boxes(1.9)
    print("#pragma once")
    print(f"// Written by tests/detection/make_box_coder_reference.py (torchvision {torchvision.__version__}, "
          f"torch {torch.__version__}):\n// BoxCoder encode and decode in float64, and the decode's "
          "dL/ddeltas for L = sum(boxes * upstream).\n")
    print("#include <vector>\n\nnamespace lowbit::testing::box_coder_reference {\n")
    print("struct Case {\n  const char* name;\n  std::vector<double> encoded, decoded, grad_deltas;\n};\n")
    print("const std::vector<Case> kCases = {")
    for name, weights in WEIGHTS.items():
        coder = BoxCoder(weights)
        encoded = coder.encode_single(gt, proposals)
        d = deltas().requires_grad_(True)
        decoded = coder.decode_single(d, proposals)
        (decoded * upstream()).sum().backward()
        print(f'    {{"{name}",\n     {array(encoded)},\n     {array(decoded.detach())},\n     {array(d.grad)}}},')
    print("};\n\n}  // namespace lowbit::testing::box_coder_reference")


if __name__ == "__main__":
    main()
