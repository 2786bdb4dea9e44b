#pragma once
// What the CPU kernels and the CUDA tensor wrappers of the fused quantizers (weight_quantizers.h,
// activation_quantizers.h) do with their arguments before computing, shared by both devices:
// the tensor to compute on, the shape checks (messages name the operator), the level count.

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <cstdint>

namespace lowbit::kernels {

// Contiguous, half and bfloat16 as float (the kernels return the input's dtype).
inline at::Tensor computable(const at::Tensor& t) {
  const bool reduced = t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16;
  return (reduced ? t.to(at::kFloat) : t).contiguous();
}

inline void check_same_shape(const char* op, const at::Tensor& grad, const at::Tensor& input) {
  TORCH_CHECK(grad.sizes() == input.sizes(), "lowbit::", op, ": gradient shape ", grad.sizes(), " != input shape ",
              input.sizes());
}

// `values` (alpha, gamma, ...) hold one number per row of the weight.
inline void check_per_row(const char* op, const at::Tensor& values, int64_t rows, const char* what) {
  TORCH_CHECK(values.numel() == rows, "lowbit::", op, ": ", what, " has ", values.numel(),
              " elements, expected one per row (", rows, ")");
}

// A scalar parameter or buffer (AdaBin's alpha and beta, the EDE's k and t).
inline void check_scalar(const char* op, const at::Tensor& t, const char* what) {
  TORCH_CHECK(t.numel() == 1, "lowbit::", op, ": ", what, " must hold one element, got shape ", t.sizes());
}

// 2^bits - 1, bits in [min_bits, 32].
inline double quantization_levels(const char* op, int64_t bits, int64_t min_bits) {
  TORCH_CHECK_VALUE(bits >= min_bits && bits <= 32, "lowbit::", op, ": bits must be in [", min_bits, ", 32], got ",
                    bits);
  return std::ldexp(1.0, static_cast<int>(bits)) - 1;
}

}  // namespace lowbit::kernels
