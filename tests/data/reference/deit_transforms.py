#!/usr/bin/env python3
"""Reference numbers of the DeiT / timm image ops for tests/data/deit_transforms_test.cpp.

Runs PIL (Pillow), torchvision and timm on small deterministic uint8 RGB images -- noise [3, 37, 53]
and smooth [3, 29, 41], whose formulas are repeated in the C++ test -- with fixed parameters:
  resize   PIL Image.resize, bicubic and bilinear, up and down, one side at a time
  eval     torchvision Resize(size, BICUBIC) + CenterCrop(crop) on the PIL image
  augment  every RandAugment op of timm.data.auto_augment (NAME_TO_OP with LEVEL_TO_ARG at a fixed
           magnitude and sign; fill = timm's img_mean for ImageNet, resample bicubic or bilinear)
  rotate   PIL Image.rotate at angles beyond RandAugment's range
  erase    timm RandomErasing('pixel') with its draws fixed and its per-pixel values replaced by
           a formula, on a float image
Each uint8 output is printed as its sum and its 64-bit FNV-1a hash (bytes in [C, H, W] order);
each float output as its sum and sum of squares.

PosterizeIncreasing at magnitude 10 keeps 0 bits, which Pillow 13 refuses (ImageOps.posterize:
bits must be in 1..8); timm ran it with Pillow <= 12.3, where the mask ~(2^8 - 1) clears every bit,
so bits = 0 is computed here as that table.

Usage: python3 deit_transforms.py > deit_transforms.txt
(Pillow 13.0.0, torch 2.11.0, torchvision 0.26.0, timm 1.0.31.)
"""
import math
import random

import numpy as np
import PIL
import timm
import timm.data.auto_augment as aa
import timm.data.random_erasing as re_module
import torch
import torchvision
import torchvision.transforms as T
from PIL import Image, ImageOps

FILL = (124, 116, 104)  # timm: round(255 * IMAGENET_DEFAULT_MEAN)
FILTERS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def noise(c, h, w):
    """v_i = ((i * 2654435761 + 12345) mod 2^32) >> 24, i the index in [C, H, W] order."""
    i = np.arange(c * h * w, dtype=np.uint64)
    return ((i * 2654435761 + 12345) % 2**32 >> 24).astype(np.uint8).reshape(c, h, w)


def smooth(c, h, w):
    """v = 50 + ((x - w // 3)^2 + 2 (y - h // 2)^2 + 30 c) mod 150."""
    ch, y, x = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    return (50 + ((x - w // 3) ** 2 + 2 * (y - h // 2) ** 2 + 30 * ch) % 150).astype(np.uint8)


IMAGES = {"noise": noise(3, 37, 53), "smooth": smooth(3, 29, 41), "smooth_large": smooth(3, 60, 80)}


def pil(name):
    return Image.fromarray(np.ascontiguousarray(IMAGES[name].transpose(1, 2, 0)))


def fnv1a(data):
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ int(byte)) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def digest(image):
    chw = np.asarray(image).transpose(2, 0, 1)
    return f"{chw.shape[0]} {chw.shape[1]} {chw.shape[2]} {int(chw.sum(dtype=np.int64))} {fnv1a(chw.tobytes()):016x}"


def posterize_any_bits(img, bits, **_):
    if bits == 0:
        return img.point([0] * 768)
    return aa.posterize(img, bits)


aa.NAME_TO_OP.update(
    {name: posterize_any_bits for name in ("Posterize", "PosterizeIncreasing", "PosterizeOriginal")}
)


def augment(name, image, magnitude, negate, resample):
    aa._randomly_negate = (lambda v: -v) if negate else (lambda v: v)
    level_fn = aa.LEVEL_TO_ARG[name]
    args = level_fn(magnitude, {"translate_const": 100, "img_mean": FILL}) if level_fn else ()
    out = aa.NAME_TO_OP[name](pil(image), *args, fillcolor=FILL, resample=FILTERS[resample])
    return args, out


def erase_case(h, w, u_area, u_log_aspect, top, left):
    """RandomErasing(probability 1, mode 'pixel') with its draws fixed: U(min_area, max_area) and
    U(log aspect range) from u_area, u_log_aspect in [0, 1), randint -> top, left; the erased values
    are 0.01 * ((k * 37) mod 101) - 0.5 for the k-th erased element ([C, h, w] order)."""
    image = torch.from_numpy(smooth(3, h, w)).double() / 255.0
    draws = iter([u_area, u_log_aspect])
    positions = iter([top, left])
    re_module.random.random = lambda: 0.0
    re_module.random.uniform = lambda a, b: a + (b - a) * next(draws)
    re_module.random.randint = lambda a, b: next(positions)

    def pixels(per_pixel, rand_color, patch_size, dtype, device):
        k = torch.arange(math.prod(patch_size), dtype=torch.int64)
        return (0.01 * ((k * 37) % 101).double() - 0.5).to(dtype).reshape(patch_size)

    re_module._get_pixels = pixels
    eraser = re_module.RandomErasing(probability=1.0, mode="pixel", device="cpu")
    erased = eraser(image.clone())
    changed = (erased != image).any(0).nonzero()
    box = (0, 0, 0, 0)
    if len(changed):
        (t, l), (b, r) = changed.min(0).values.tolist(), changed.max(0).values.tolist()
        box = (t, l, b - t + 1, r - l + 1)
    return box, erased


def main():
    print(f"# deit_transforms.py: Pillow {PIL.__version__}, torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}, timm {timm.__version__}")
    print("# resize <image> <height> <width> <filter> | <C> <H> <W> <sum> <fnv1a64>")
    for image, h, w in [("noise", 20, 29), ("noise", 80, 100), ("noise", 37, 90), ("noise", 11, 53),
                        ("noise", 5, 7), ("smooth", 64, 48), ("smooth", 13, 97), ("smooth_large", 23, 31)]:
        for name, resample in FILTERS.items():
            print(f"resize {image} {h} {w} {name} | {digest(pil(image).resize((w, h), resample))}")
    print("# eval <image> <resize> <crop> | torchvision Resize(resize, BICUBIC) + CenterCrop(crop)")
    for image, size, crop in [("smooth_large", 64, 56), ("noise", 32, 30)]:
        pipeline = T.Compose([T.Resize(size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(crop)])
        print(f"eval {image} {size} {crop} | {digest(pipeline(pil(image)))}")
    print("# augment <timm op> <image> <magnitude> <negate> <filter> | <args> | <C> <H> <W> <sum> <fnv1a64>")
    signed = {"Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel", "ColorIncreasing",
              "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing"}
    geometric = {"Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"}
    names = list(dict.fromkeys(aa._RAND_INCREASING_TRANSFORMS + aa._RAND_TRANSFORMS))
    for name in names:
        for image in ("noise", "smooth"):
            magnitudes = (0.0, 2.5, 5.5, 9.0, 9.73, 10.0) if aa.LEVEL_TO_ARG[name] else (9.0,)
            for magnitude in magnitudes:
                for negate in ((False, True) if name in signed else (False,)):
                    for resample in (("bicubic", "bilinear") if name in geometric else ("bicubic",)):
                        args, out = augment(name, image, magnitude, negate, resample)
                        shown = " ".join(repr(a) for a in args) or "-"
                        print(f"augment {name} {image} {magnitude} {int(negate)} {resample} | {shown} | {digest(out)}")
    print("# rotate <image> <degrees> <filter> | <C> <H> <W> <sum> <fnv1a64>  (fill = timm's img_mean)")
    for image in ("noise", "smooth"):
        for degrees in (45.0, -123.4, 90.0, 180.0, 270.0, 400.0):
            for name, resample in FILTERS.items():
                out = pil(image).rotate(degrees, resample=resample, fillcolor=FILL)
                print(f"rotate {image} {degrees} {name} | {digest(out)}")
    print("# erase <H> <W> <u_area> <u_log_aspect> <top> <left> | <top> <left> <height> <width> | <sum> <sum sq>")
    for h, w, u_area, u_aspect, top, left in [(29, 41, 0.5, 0.5, 3, 7), (29, 41, 0.9, 0.1, 0, 0),
                                              (29, 41, 0.2, 0.95, 10, 2), (37, 53, 0.7, 0.3, 5, 11)]:
        box, erased = erase_case(h, w, u_area, u_aspect, top, left)
        print(f"erase {h} {w} {u_area} {u_aspect} {top} {left} | {' '.join(map(str, box))} | "
              f"{erased.sum().item():.12g} {(erased * erased).sum().item():.12g}")


if __name__ == "__main__":
    random.seed(0)
    main()
