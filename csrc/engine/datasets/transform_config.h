#pragma once
// The augmentation keys of the imagenet data set's data: section, read and checked (errors are
// OptionErrors at the key, e.g. {"train_transform", "crop_scale"}):
//
//   train_transform: {interpolation: bilinear | bicubic, crop_scale: [0.08, 1.0],
//                     crop_ratio: [0.75, 1.3333333], hflip: 0.5, lighting: 0.1,
//                     rand_augment: {magnitude: 9, magnitude_std: 0.5, num_ops: 2, increasing: true},
//                     random_erasing: {probability: 0.25, mode: pixel}}
//   eval_transform:  {interpolation: bilinear | bicubic, crop_pct: 0.875}
//   mixup:           {mixup_alpha: 0.8, cutmix_alpha: 1.0, prob: 1.0, switch_prob: 0.5, label_smoothing: 0.1}
//   repeated_augment: 1
//
// Absent keys take the values shown, which are ReActNet's pipeline (data/imagenet_pipelines.h),
// except that rand_augment, random_erasing and mixup are off unless present; a present
// rand_augment / random_erasing / mixup mapping fills its absent keys from the values shown
// (timm's / DeiT's). configs/data/imagenet_reactnet.yaml and imagenet_deit.yaml write both out.

#include <lowbit/csrc/data/imagenet_pipelines.h>
#include <lowbit/csrc/data/mixup.h>
#include <lowbit/csrc/util/params.h>

#include <optional>

namespace lowbit::engine {

struct ImagenetAugmentation {
  data::TrainPipeline train;
  data::EvalPipeline eval;
  std::optional<data::MixupOptions> mixup;
  int64_t repeated_augment = 1;  // copies of each sample per epoch order (DeiT's RASampler); 1: off
};

// Reads the four keys above from `options` (the data set's reader; other keys are left to it).
ImagenetAugmentation read_imagenet_augmentation(ParamReader& options);

}  // namespace lowbit::engine
