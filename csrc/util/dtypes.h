#pragma once
// The dtype lowbit computes sums, squares and statistics in: float32 for float16 and bfloat16
// (autocast's reduced precision, whose range ends at 65504 or whose 8 bits round sums), a
// tensor's own dtype otherwise.

#include <ATen/core/Tensor.h>

namespace lowbit::util {

inline at::ScalarType at_least_float(at::ScalarType dtype) {
  return dtype == at::kHalf || dtype == at::kBFloat16 ? at::kFloat : dtype;
}

// `x` itself when it has that dtype already.
inline at::Tensor at_least_float(const at::Tensor& x) { return x.to(at_least_float(x.scalar_type())); }

}  // namespace lowbit::util
