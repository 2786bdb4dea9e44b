#pragma once
// The configurable ImageNet pipelines (the imagenet data set's data.train_transform and
// data.eval_transform), uint8 [3, H, W] in, normalised float [3, size, size] out. Training runs
//   RandomResizedCrop(size, crop_scale, crop_ratio, interpolation) -> Lighting(lighting)
//   -> RandomHorizontalFlip(hflip) -> RandAugment -> ToTensor -> Normalize -> RandomErasing
// with each step left out when off (lighting 0, hflip 0, no rand_augment / random_erasing). The
// two pipelines it is made for:
//   ReActNet / Bi-Real Net (the defaults): bilinear, Lighting 0.1, flip.
//   DeiT (main.py build_transform -> timm create_transform, transforms_imagenet_train): bicubic,
//     flip, RandAugment rand-m9-mstd0.5-inc1, ToTensor, Normalize, RandomErasing(0.25, 'pixel').
//     DeiT's color_jitter 0.4 is not applied: timm uses colour jitter only without auto-augment.
// Evaluation (timm transforms_imagenet_eval; ReActNet's Resize(256) + CenterCrop(224) at crop_pct
// 0.875): Resize(floor(size / crop_pct)) of the shorter side -> CenterCrop(size) -> ToTensor -> Normalize.

#include <lowbit/csrc/data/rand_augment.h>
#include <lowbit/csrc/data/random_erasing.h>
#include <lowbit/csrc/data/rng.h>
#include <lowbit/csrc/data/transforms.h>

#include <ATen/core/Tensor.h>

#include <array>
#include <optional>

namespace lowbit::data {

struct TrainPipeline {
  Interpolation interpolation = Interpolation::Bilinear;
  std::array<double, 2> crop_scale = {0.08, 1.0};
  std::array<double, 2> crop_ratio = {3.0 / 4.0, 4.0 / 3.0};
  double lighting = 0.1;  // alphastd of the PCA lighting noise; 0: off
  double hflip = 0.5;     // flip probability
  std::optional<RandAugmentOptions> rand_augment;      // absent: off
  std::optional<RandomErasingOptions> random_erasing;  // absent: off
};

struct EvalPipeline {
  Interpolation interpolation = Interpolation::Bilinear;
  double crop_pct = 0.875;  // in (0, 1]
};

at::Tensor train_pipeline(const at::Tensor& image, Rng& rng, int64_t size, const TrainPipeline& pipeline);

// floor(size / crop_pct): the shorter side before the centre crop (timm's scale_size).
int64_t eval_resize(int64_t size, double crop_pct);
at::Tensor eval_pipeline(const at::Tensor& image, int64_t size, const EvalPipeline& pipeline);

}  // namespace lowbit::data
