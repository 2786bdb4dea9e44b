#pragma once
// A labelled image set held in memory, as the small classification data sets come:
// images uint8 [N, C, H, W], labels int64 [N] in [0, num_classes).

#include <ATen/core/Tensor.h>

namespace lowbit::data {

enum class Split { Train, Test };

struct ImageSet {
  at::Tensor images;
  at::Tensor labels;
  int64_t num_classes;
};

}  // namespace lowbit::data
