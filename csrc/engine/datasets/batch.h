#pragma once
// A batch as the engine passes it from a data set to a task, a model, its loss terms and metrics.
// Classification fills `images` and `labels` (and `soft_labels` when the data set mixes images,
// data.mixup); detection adds per-image `targets` and batch-wide `meta` (padded image sizes,
// padding masks).

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <map>
#include <string>
#include <vector>

namespace lowbit::engine {

using TensorMap = std::map<std::string, at::Tensor>;

struct Batch {
  at::Tensor images;               // float [B, C, H, W], normalised
  at::Tensor labels;               // classification: int64 [B]; undefined otherwise
  at::Tensor soft_labels;          // mixup / cutmix targets: float [B, classes], what the `ce` loss then
                                   // trains on (labels stay the images' own, for metrics); or undefined
  std::vector<TensorMap> targets;  // detection: per image, e.g. {"boxes": [G, 4], "labels": [G]}
  TensorMap meta;                  // per batch, e.g. "image_sizes" [B, 2] (height, width)

  int64_t size() const { return images.defined() ? images.size(0) : 0; }

  // Samples [begin, end): images, labels, soft labels, targets, and the meta tensors whose first dimension is
  // the batch's size (the others, such as category ids, whole).
  Batch rows(int64_t begin, int64_t end) const;

  // Every tensor on `device` (those already there are not copied).
  Batch to(const c10::Device& device, bool non_blocking = false) const;
};

}  // namespace lowbit::engine
