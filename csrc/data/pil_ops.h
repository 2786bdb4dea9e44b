#pragma once
// PIL's colour operations on uint8 RGB images [3, H, W], pixel for pixel, as timm's RandAugment
// calls them (timm/data/auto_augment.py): ImageOps (Pillow src/PIL/ImageOps.py) and ImageEnhance
// (Pillow src/PIL/ImageEnhance.py, whose blends are Image.blend, libImaging/Blend.c).

#include <ATen/core/Tensor.h>

namespace lowbit::data {

// ImageOps.autocontrast(image) (cutoff 0): per channel, with lo / hi its smallest / largest value,
// scale = 255.0 / (hi - lo) and offset = -lo * scale (doubles),
//   lut[i] = clip(int(i * scale + offset), 0, 255)   (int truncates; the identity if hi <= lo).
at::Tensor auto_contrast(const at::Tensor& image);

// ImageOps.equalize(image): per channel histogram h, step = (N - h[last non-zero]) // 255 (N: pixels);
// a channel with one value or step == 0 is kept, else lut[i] = min(255, (step // 2 + sum_{j < i} h[j])
// // step) (Image.point clips the table, _imaging.c getlist CLIP8).
at::Tensor equalize(const at::Tensor& image);

// ImageOps.invert: 255 - i.
at::Tensor invert(const at::Tensor& image);

// ImageOps.posterize(image, bits): i & ~(2^(8 - bits) - 1); bits >= 8 keeps the image (timm). bits = 0
// (PosterizeIncreasing at magnitude 10) clears every bit, as Pillow <= 12.3 does; Pillow 13
// refuses it (bits must be in 1..8), so timm 1.0.31 on Pillow 13 raises there.
at::Tensor posterize(const at::Tensor& image, int64_t bits);

// ImageOps.solarize(image, threshold): i < threshold ? i : 255 - i.
at::Tensor solarize(const at::Tensor& image, int64_t threshold);

// timm's solarize_add(image, add, threshold): i < threshold ? min(255, i + add) : i.
at::Tensor solarize_add(const at::Tensor& image, int64_t add, int64_t threshold = 128);

// ImageEnhance.X(image).enhance(factor) = Image.blend(degenerate, image, factor), per byte
//   out = trunc(clip(degenerate + factor * (image - degenerate), 0, 255))
// in single precision, factor a C float (Blend.c ImagingBlend), with the degenerate image of each
// enhancer:
//   Color     : the greyscale image, L = (R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16, as RGB;
//   Contrast  : a constant, int(mean of the L image's histogram + 0.5);
//   Brightness: black;
//   Sharpness : the image filtered by ImageFilter.SMOOTH, [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13 in
//               float, summed from 0.5 and truncated, keeping its one-pixel border (Filter.c
//               ImagingFilter3x3).
at::Tensor adjust_color(const at::Tensor& image, double factor);
at::Tensor adjust_contrast(const at::Tensor& image, double factor);
at::Tensor adjust_brightness(const at::Tensor& image, double factor);
at::Tensor adjust_sharpness(const at::Tensor& image, double factor);

}  // namespace lowbit::data
