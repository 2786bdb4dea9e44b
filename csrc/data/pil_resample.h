#pragma once
// PIL's Image.resize for 8-bit images (Pillow src/libImaging/Resample.c, ImagingResample), pixel
// for pixel: a separable antialiased convolution, one pass per side whose size changes.
// For an output pixel x of a side scaled by s = in / out, with filter support r (bilinear 1,
// bicubic 2) and the filter widened by fs = max(s, 1):
//   center = (x + 0.5) * s,  xmin = max(int(center - r * fs + 0.5), 0),
//   xmax = min(int(center + r * fs + 0.5), in) - xmin,
//   w_j = K((j + xmin - center + 0.5) / fs) / sum_j K(...)                    (precompute_coeffs)
// The weights become fixed point, k_j = int(w_j * 2^22 + 0.5) (- 0.5 for negative w_j)
// (normalize_coeffs_8bpc, PRECISION_BITS = 32 - 8 - 2), and each pass rounds and clips:
//   out = clip8((2^21 + sum_j k_j * in_j) >> 22)
// so the first pass's 8-bit result feeds the second. The horizontal pass runs first unless the
// height shrinks and the width does not (ImagingResampleInner, Pillow 13; earlier Pillows always ran
// it first, which can move a pixel by one grey level in that case). Kernels (Resample.c):
//   bilinear K(x) = 1 - |x| for |x| < 1;
//   bicubic  K(x) = ((a + 2)|x| - (a + 3))|x|^2 + 1 for |x| < 1, (a|x| - 5a)|x|^2 + 8a|x| - 4a
//            for |x| < 2, a = -0.5.

#include <lowbit/csrc/data/transforms.h>

#include <ATen/core/Tensor.h>

namespace lowbit::data {

// uint8 [C, H, W] -> uint8 [C, height, width], as PIL's Image.resize((width, height), filter).
at::Tensor pil_resize(const at::Tensor& image, int64_t height, int64_t width, Interpolation interpolation);

}  // namespace lowbit::data
