#pragma once
// RBONN's recurrent model (modules/quant/rbonn.h): W~ = W - c (.) P, with c one number per output
// channel (dim 0) and P a constant shaped like W (the previous step's gradient).
//   dL/dW = dL/dW~ (the same tensor),  dL/dc_k = -sum_{i in channel k} dL/dW~_i P_i
// One pass forward, one reading pass backward (a dot product per channel); P is held as given at the
// forward, so replacing the caller's tensor later (RBONN's hook, set_data) does not change it.

#include <ATen/core/Tensor.h>

namespace lowbit::ops {

// `w`: [C, ...] (dim >= 2); `c`: C numbers (any shape; its gradient has its shape); `p`: w's shape.
at::Tensor recurrent_shift(const at::Tensor& w, const at::Tensor& c, const at::Tensor& p);

}  // namespace lowbit::ops
