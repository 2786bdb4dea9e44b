#!/usr/bin/env python3
"""Writes tests/eval/coco_sample_reference.h: pycocotools' 12 bbox numbers on the COCO sample of
../shared/data (coco-sample/annotations/instances_val2017.json) for the prediction sets that
tests/eval/coco_sample_test.cpp makes with the same generator.

  python3 -m venv /tmp/venv-coco && /tmp/venv-coco/bin/pip install pycocotools numpy
  /tmp/venv-coco/bin/python tests/eval/make_coco_reference.py > tests/eval/coco_sample_reference.h

The prediction sets (every formula is written out identically in the C++ test; doubles all the way,
so both sides make the same boxes bit for bit):
  ground_truth  every annotation (crowds too) as a detection of score 1
  jittered      every annotation moved and rescaled by up to 15% / 30%, scores on a grid of 1/50
                (ties), plus a second, worse copy of 30% and a wrong-category copy of 20%
  random        0..129 boxes per image: half of them an annotation
                moved by up to half its size and rescaled by 0.5..1.5 (of its category 80% of the
                time), the others anywhere, 2 to 302 pixels wide and high (skewed small), of any
                category
and none of them has a detection on the first listed image that has annotations.
"""
import contextlib
import io
import json
import math
import os
import sys

import numpy as np
from importlib.metadata import version
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

MASK = (1 << 64) - 1


class SplitMix64:
    """splitmix64 (Steele, Lea, Flood 2014); uniform() = top 53 bits / 2^53."""

    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self):
        return (self.next() >> 11) * (1.0 / 9007199254740992.0)

    def below(self, n):
        return int(math.floor(self.uniform() * n))


def det(image_id, category_id, box, score):
    return {"image_id": image_id, "category_id": category_id, "bbox": list(box), "score": score}


def jitter(rng, a):
    x, y, w, h = a["bbox"]
    return [x + (rng.uniform() - 0.5) * 0.3 * w, y + (rng.uniform() - 0.5) * 0.3 * h,
            w * (0.7 + 0.6 * rng.uniform()), h * (0.7 + 0.6 * rng.uniform())]


def ground_truth_set(data, skipped):
    return [det(a["image_id"], a["category_id"], a["bbox"], 1.0) for a in data["annotations"] if a["image_id"] != skipped]


def jittered_set(data, skipped, categories):
    rng, out = SplitMix64(1), []
    for a in data["annotations"]:
        if a["image_id"] == skipped:
            continue
        out.append(det(a["image_id"], a["category_id"], jitter(rng, a), math.floor(rng.uniform() * 50) / 50))
        if rng.uniform() < 0.3:
            out.append(det(a["image_id"], a["category_id"], jitter(rng, a), 0.5 * rng.uniform()))
        if rng.uniform() < 0.2:
            category = categories[rng.below(len(categories))]
            out.append(det(a["image_id"], category, jitter(rng, a), rng.uniform()))
    return out


def random_set(data, skipped, categories):
    rng, out = SplitMix64(2), []
    for image in data["images"]:
        if image["id"] == skipped:
            continue
        annotations = [a for a in data["annotations"] if a["image_id"] == image["id"]]
        for _ in range(rng.below(130)):
            if annotations and rng.uniform() < 0.5:
                a = annotations[rng.below(len(annotations))]
                x, y, w, h = a["bbox"]
                box = [x + (rng.uniform() - 0.5) * w, y + (rng.uniform() - 0.5) * h,
                       w * (0.5 + rng.uniform()), h * (0.5 + rng.uniform())]
                category = a["category_id"] if rng.uniform() < 0.8 else categories[rng.below(len(categories))]
            else:
                x, y, u, v = rng.uniform() * 600, rng.uniform() * 400, rng.uniform(), rng.uniform()
                box = [x, y, 2 + u * u * 300, 2 + v * v * 300]
                category = categories[rng.below(len(categories))]
            out.append(det(image["id"], category, box, rng.uniform()))
    return out


def stats(gt, detections):
    with contextlib.redirect_stdout(io.StringIO()):
        e = COCOeval(gt, gt.loadRes(detections), "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e.stats


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data", "coco-sample")
    path = os.path.join(root, "annotations", "instances_val2017.json")
    with open(path) as f:
        data = json.load(f)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(path)
    annotated = {a["image_id"] for a in data["annotations"]}
    skipped = next(image["id"] for image in data["images"] if image["id"] in annotated)
    categories = sorted(c["id"] for c in data["categories"])
    sets = [("ground_truth", ground_truth_set(data, skipped)),
            ("jittered", jittered_set(data, skipped, categories)),
            ("random", random_set(data, skipped, categories))]
    print("#pragma once")
    print("// Written by tests/eval/make_coco_reference.py (pycocotools %s, numpy %s, Python %s): COCOeval"
          % (version("pycocotools"), np.__version__, sys.version.split()[0]))
    print("// (iouType bbox) stats on coco-sample/annotations/instances_val2017.json for each prediction set,")
    print("// with the number of detections and the sum of their box coordinates (in order) to check that")
    print("// the C++ generator made the same set.")
    print()
    print("#include <array>")
    print("#include <cstddef>")
    print("#include <cstdint>")
    print()
    print("namespace lowbit::testing::coco_reference {")
    print()
    print("struct PredictionSet {")
    print("  const char* name;")
    print("  size_t detections;")
    print("  double box_sum;")
    print("  std::array<double, 12> stats;")
    print("};")
    print()
    print("constexpr int64_t kImageWithoutPredictions = %d;" % skipped)
    print()
    for name, detections in sets:
        box_sum = 0.0
        for d in detections:
            for v in d["bbox"]:
                box_sum += v
        values = ", ".join(repr(float(v)) for v in stats(gt, detections))
        identifier = "k" + "".join(p.title() for p in name.split("_"))
        print("constexpr PredictionSet %s = {\"%s\", %d, %r,\n    {%s}};" % (identifier, name, len(detections), box_sum, values))
    print()
    print("}  // namespace lowbit::testing::coco_reference")


if __name__ == "__main__":
    main()
