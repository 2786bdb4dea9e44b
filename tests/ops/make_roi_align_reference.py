#!/usr/bin/env python3
"""Writes tests/ops/roi_align_reference.h: torchvision.ops.roi_align's outputs and input gradients
(float64, CPU) for the features, RoIs and output gradients that tests/ops/roi_align_test.cpp makes
with the same formulas (ATen's sin and cos on float64 tensors on both sides).

  mkdir -p /tmp/tv && pip download --no-deps torchvision==0.26.0 numpy pillow -d /tmp/tv
  (unzip the three wheels into /tmp/tv/site; torch 2.11.0 on PYTHONPATH)
  PYTHONPATH=/tmp/tv/site:<torch site-packages> python3 tests/ops/make_roi_align_reference.py \\
      > tests/ops/roi_align_reference.h
"""
import sys

import torch
import torchvision
from torchvision.ops import roi_align

N, C, H, W = 2, 2, 9, 11
SCALE = 0.5
ROIS = [
    [0, 2.3, 3.1, 15.7, 12.9],
    [1, -4.0, -3.0, 6.0, 8.0],     # partly outside the map
    [0, 10.0, 10.0, 10.5, 10.2],   # smaller than a pixel
    [1, 0.0, 0.0, 30.0, 27.0],     # larger than the map
    [0, 14.0, 12.0, 25.0, 24.0],   # past the bottom-right corner
    [1, 5.5, 7.25, 12.75, 9.5],
]
# (pooled_h, pooled_w, sampling_ratio, aligned)
CONFIGS = [(7, 7, 2, True), (7, 7, 0, True), (3, 5, 0, False), (2, 2, 3, False)]


def features():
    n = torch.arange(N, dtype=torch.float64).view(N, 1, 1, 1)
    c = torch.arange(C, dtype=torch.float64).view(1, C, 1, 1)
    h = torch.arange(H, dtype=torch.float64).view(1, 1, H, 1)
    w = torch.arange(W, dtype=torch.float64).view(1, 1, 1, W)
    return torch.sin(0.3 + 0.37 * n + 1.3 * c + 0.71 * h + 0.23 * w + 0.05 * h * w)


def upstream(k, ph, pw):
    kk = torch.arange(k, dtype=torch.float64).view(k, 1, 1, 1)
    c = torch.arange(C, dtype=torch.float64).view(1, C, 1, 1)
    y = torch.arange(ph, dtype=torch.float64).view(1, 1, ph, 1)
    x = torch.arange(pw, dtype=torch.float64).view(1, 1, 1, pw)
    return torch.cos(0.1 + 0.9 * kk + 0.4 * c + 0.3 * y + 0.17 * x)


def array(values):
    return "{" + ", ".join(repr(float(v)) for v in values.flatten().tolist()) + "}"


def main():
    out = sys.stdout
    out.write("#pragma once\n")
    out.write(f"// Written by tests/ops/make_roi_align_reference.py (torchvision {torchvision.__version__}, "
              f"torch {torch.__version__}):\n// torchvision.ops.roi_align in float64 on CPU, the output and "
              "dL/dfeatures for L = sum(output * upstream).\n\n")
    out.write("#include <array>\n#include <cstdint>\n#include <vector>\n\n")
    out.write("namespace lowbit::testing::roi_align_reference {\n\n")
    out.write(f"constexpr int64_t kN = {N}, kC = {C}, kH = {H}, kW = {W};\nconstexpr double kScale = {SCALE!r};\n")
    out.write("const std::vector<std::array<double, 5>> kRois = {\n")
    for r in ROIS:
        out.write("    {" + ", ".join(repr(float(v)) for v in r) + "},\n")
    out.write("};\n\nstruct Case {\n  int64_t pooled_h, pooled_w, sampling_ratio;\n  bool aligned;\n"
              "  std::vector<double> output, grad_features;\n};\n\nconst std::vector<Case> kCases = {\n")
    rois = torch.tensor(ROIS, dtype=torch.float64)
    for ph, pw, ratio, aligned in CONFIGS:
        x = features().requires_grad_(True)
        y = roi_align(x, rois, (ph, pw), SCALE, ratio, aligned)
        (y * upstream(len(ROIS), ph, pw)).sum().backward()
        out.write(f"    {{{ph}, {pw}, {ratio}, {'true' if aligned else 'false'},\n     {array(y.detach())},\n"
                  f"     {array(x.grad)}}},\n")
    out.write("};\n\n}  // namespace lowbit::testing::roi_align_reference\n")


if __name__ == "__main__":
    main()
