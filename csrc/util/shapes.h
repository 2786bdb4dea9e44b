#pragma once
// Broadcasting of per-channel state.

#include <ATen/core/Tensor.h>

#include <vector>

namespace lowbit::util {

// `values` (any shape holding C numbers) reshaped to [1, C, 1, ...] with `ndim` dims, so it
// broadcasts along dim 1 of an ndim-dimensional activation ([N, C] or [N, C, H, W]).
inline at::Tensor channel_view(const at::Tensor& values, int64_t ndim) {
  std::vector<int64_t> shape(ndim, 1);
  shape[1] = values.numel();
  return values.view(shape);
}

// The dims of a weight [C_out, ...] other than the output channel: 1 .. ndim-1, the dims a
// per-output-channel statistic reduces over (keepdim gives [C_out, 1, ..., 1]).
inline std::vector<int64_t> non_channel_dims(const at::Tensor& w) {
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < w.dim(); ++d) dims.push_back(d);
  return dims;
}

}  // namespace lowbit::util
