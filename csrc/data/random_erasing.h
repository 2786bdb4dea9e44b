#pragma once
// Random Erasing (Zhong et al. 2020) as timm's RandomErasing (timm/data/random_erasing.py), which
// DeiT applies after Normalize (re_prob 0.25, re_mode 'pixel', re_count 1). On a float image
// [C, H, W]: with probability `probability`, count boxes (count = min_count, or U{min..max}),
// each from up to 10 attempts of
//   target_area = U(min_area, max_area) * H * W / count,  aspect = exp(U(ln min_aspect, ln max_aspect)),
//   h = round(sqrt(target_area * aspect)),  w = round(sqrt(target_area / aspect))   (half to even)
// accepting the first with w < W and h < H at top ~ U{0..H-h}, left ~ U{0..W-w}; the box is
// overwritten with values by mode:
//   "const": 0;  "rand": one N(0, 1) per channel;  "pixel": one N(0, 1) per pixel and channel.
// Randomness comes from lowbit's Rng: the same distributions as timm, not Python's stream.

#include <lowbit/csrc/data/rng.h>
#include <lowbit/csrc/data/transforms.h>

#include <ATen/core/Tensor.h>

#include <string>

namespace lowbit::data {

struct RandomErasingOptions {
  double probability = 0.25;  // re_prob
  std::string mode = "pixel";  // re_mode: "const", "rand" or "pixel"
  double min_area = 0.02;
  double max_area = 1.0 / 3.0;
  double min_aspect = 0.3;
  double max_aspect = 1.0 / 0.3;
  int64_t min_count = 1;
  int64_t max_count = 1;  // re_count
};

// The erasing itself: a copy of image with rows [top, top + height) and columns
// [left, left + width) replaced by values, broadcast to [C, height, width].
at::Tensor erase(const at::Tensor& image, const CropBox& box, const at::Tensor& values);

at::Tensor random_erasing(const at::Tensor& normalized_float_image, Rng& rng, const RandomErasingOptions& options);

}  // namespace lowbit::data
