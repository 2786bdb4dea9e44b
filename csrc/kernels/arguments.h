#pragma once
// What the CPU kernels and the CUDA tensor wrappers of the fused quantizers (weight_quantizers.h,
// activation_quantizers.h) do with their arguments before computing, shared by both devices:
// the tensor to compute on, the shape checks (messages name the operator), the level count.

#include <lowbit/csrc/ops/weight_math.h>
#include <lowbit/csrc/util/dtypes.h>

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <cstdint>
#include <optional>

namespace lowbit::kernels {

// Contiguous, half and bfloat16 as float (the kernels return the input's dtype).
inline at::Tensor computable(const at::Tensor& t) { return util::at_least_float(t).contiguous(); }

inline void check_same_shape(const char* op, const at::Tensor& grad, const at::Tensor& input) {
  TORCH_CHECK(grad.sizes() == input.sizes(), "lowbit::", op, ": gradient shape ", grad.sizes(), " != input shape ",
              input.sizes());
}

// `values` (alpha, gamma, ...) hold one number per row of the weight.
inline void check_per_row(const char* op, const at::Tensor& values, int64_t rows, const char* what) {
  TORCH_CHECK(values.numel() == rows, "lowbit::", op, ": ", what, " has ", values.numel(),
              " elements, expected one per row (", rows, ")");
}

// How a backward records its gradient divided by `scale` (ops::Record): 0 for not at all.
inline ops::Record record_mode(const char* op, double scale) {
  TORCH_CHECK_VALUE(std::isfinite(scale) && scale >= 0, "lowbit::", op, ": the record scale must be finite and >= 0 ",
                    "(0: no record), got ", scale);
  if (scale == 0) return ops::Record::None;
  int exponent = 0;
  const bool power_of_two = std::frexp(scale, &exponent) == 0.5 && exponent >= -62 && exponent <= 65;  // 1 / S exact
  return power_of_two ? ops::Record::TimesInverse : ops::Record::Divided;
}

// RBONN's recurrent shift of a bilinear binarization (weight_quantizers.h): c, one number per row,
// and P, shaped as the weight, both or neither. Whether there is one.
inline bool check_shift(const char* op, const std::optional<at::Tensor>& c, const std::optional<at::Tensor>& p,
                        const at::Tensor& w, int64_t rows) {
  const bool has_c = c.has_value() && c->defined(), has_p = p.has_value() && p->defined();
  TORCH_CHECK(has_c == has_p, "lowbit::", op, ": a recurrent shift takes both c and P, got only ", has_c ? "c" : "P");
  if (!has_c) return false;
  check_per_row(op, *c, rows, "the shift's c");
  TORCH_CHECK(p->sizes() == w.sizes(), "lowbit::", op, ": the shift's P has shape ", p->sizes(),
              ", expected the weight's ", w.sizes());
  return true;
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
