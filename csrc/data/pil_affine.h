#pragma once
// PIL's affine resampling of uint8 images [C, H, W] (Pillow src/libImaging/Geometry.c,
// ImagingGenericTransform with affine_transform and the bilinear / bicubic filters), as timm's
// RandAugment geometric ops call it: img.transform(size, AFFINE, matrix, resample, fillcolor) and
// img.rotate(degrees, resample, fillcolor).

#include <lowbit/csrc/data/transforms.h>

#include <ATen/core/Tensor.h>

#include <array>

namespace lowbit::data {

// Output pixel (x, y) samples the input at (u, v) = (a x' + b y' + c, d x' + e y' + f), x' = x + 0.5,
// y' = y + 0.5, matrix = {a, b, c, d, e, f}; outside 0 <= u < W, 0 <= v < H it is the fill colour
// (one value per channel). Inside, with i = floor(u - 0.5), t = u - 0.5 - i (and j, s along v), taps
// clamped to the image:
//   bilinear: lerp(lerp(p[j][i], p[j][i+1], t), lerp(p[j+1][i], p[j+1][i+1], t), s), truncated;
//   bicubic : Keys' cubic with a = -1 (not the resize's -0.5) through p[j-1..j+2][i-1..i+2], first
//             along rows then down the column, c(v1..v4, t) = v2 + t (v3 - v1 + t (2 (v1 - v2) +
//             v3 - v4 + t (v2 - v1 + v4 - v3))), clipped to [0, 255] and truncated.
// All in double precision, as Geometry.c's bilinear_filter32RGB / bicubic_filter32RGB.
at::Tensor affine_transform(const at::Tensor& image, const std::array<double, 6>& matrix,
                            Interpolation interpolation, const std::array<uint8_t, 3>& fill);

// Image.rotate(degrees) (counter-clockwise, about the centre (W / 2, H / 2), same size): the
// affine_transform with matrix {cos t, sin t, c, -sin t, cos t, f}, t = -radians(degrees mod 360)
// (Python's float modulo), each entry rounded to 15 decimals, and (c, f) mapping the centre onto
// itself.
at::Tensor rotate(const at::Tensor& image, double degrees, Interpolation interpolation,
                  const std::array<uint8_t, 3>& fill);

}  // namespace lowbit::data
