#pragma once
// ReActNet's RPReLU with the residual addition before it (csrc/ops/rprelu.h), one element-wise pass
// forward and one backward on CPU and CUDA (formulas: csrc/ops/rprelu_math.h). x, the residual and
// the output share one memory format (contiguous or channels-last); gamma, beta and zeta hold one
// value per channel of dim 1 (any shape with C elements).

#include <ATen/core/Tensor.h>

#include <tuple>

namespace lowbit::kernels {

// y = prelu((x' + residual) + gamma, beta) + zeta (residual may be undefined), x' = x scale + shift
// when scale and shift are defined (a batch norm's output, folded into one value per channel:
// ops/rprelu_math.h), else x; the bits 1[t > 0] (uint8 [plane_bytes(n)], element i of the memory
// order in bit i % 8 of byte i / 8, as ops/bit_planes.h); t itself when keep_input, else an
// undefined tensor.
std::tuple<at::Tensor, at::Tensor, at::Tensor> rprelu_forward(const at::Tensor& x, const at::Tensor& residual,
                                                              const at::Tensor& gamma, const at::Tensor& beta,
                                                              const at::Tensor& zeta, bool keep_input,
                                                              const at::Tensor& scale = {},
                                                              const at::Tensor& shift = {});
// The same with y written over x (which must be in the dtype the op computes in: that of x, the
// residual and the parameters promoted together); returns the bits and t.
std::tuple<at::Tensor, at::Tensor> rprelu_forward_(const at::Tensor& x, const at::Tensor& residual,
                                                   const at::Tensor& gamma, const at::Tensor& beta,
                                                   const at::Tensor& zeta, bool keep_input,
                                                   const at::Tensor& scale = {}, const at::Tensor& shift = {});
// From `saved` (t, or the output y when saved_is_output) and the bits: dL/dt in the dtype and
// memory format of `saved`, and the per-channel sums [3, C] (float64) of dL/dgamma, dL/dbeta and
// dL/dzeta.
std::tuple<at::Tensor, at::Tensor> rprelu_backward(const at::Tensor& grad, const at::Tensor& saved,
                                                   const at::Tensor& positive, const at::Tensor& beta,
                                                   const at::Tensor& zeta, bool saved_is_output);
// The backward of the batch norm fused into the forward (x' = batch_norm(x) with weight, bias and
// invstd), from the output y and the bits: dL/dt (= dL/dresidual), dL/dx, both in y's dtype and
// memory format, and the per-channel sums [4, C] (float64) of dL/dgamma (= dL/dbias), dL/dbeta,
// dL/dzeta and dL/dweight. batch_statistics: the forward normalised with the batch's own mean and
// variance (training), else with running ones (ops/rprelu_math.h).
std::tuple<at::Tensor, at::Tensor, at::Tensor> batch_norm_rprelu_backward(
    const at::Tensor& grad, const at::Tensor& y, const at::Tensor& positive, const at::Tensor& residual,
    const at::Tensor& gamma, const at::Tensor& beta, const at::Tensor& zeta, const at::Tensor& weight,
    const at::Tensor& bias, const at::Tensor& invstd, bool batch_statistics);

// The device kernels, called with arguments of one dtype and memory format (checked above them).
// The forward writes y into `y` (a fresh tensor like x, or x itself) and returns the bits and t;
// scale and shift are both defined or both undefined.
#define LOWBIT_RPRELU_KERNELS                                                                                      \
  std::tuple<at::Tensor, at::Tensor> rprelu_forward(const at::Tensor& x, const at::Tensor& residual,               \
                                                    const at::Tensor& gamma, const at::Tensor& beta,               \
                                                    const at::Tensor& zeta, bool keep_input, const at::Tensor& scale, \
                                                    const at::Tensor& shift, const at::Tensor& y);                 \
  std::tuple<at::Tensor, at::Tensor> rprelu_backward(const at::Tensor& grad, const at::Tensor& saved,              \
                                                     const at::Tensor& positive, const at::Tensor& beta,           \
                                                     const at::Tensor& zeta, bool saved_is_output);                \
  std::tuple<at::Tensor, at::Tensor, at::Tensor> batch_norm_rprelu_backward(                                      \
      const at::Tensor& grad, const at::Tensor& y, const at::Tensor& positive, const at::Tensor& residual,          \
      const at::Tensor& gamma, const at::Tensor& beta, const at::Tensor& zeta, const at::Tensor& weight,            \
      const at::Tensor& bias, const at::Tensor& invstd, bool batch_statistics);
namespace cpu {
LOWBIT_RPRELU_KERNELS
}  // namespace cpu
namespace cuda {
LOWBIT_RPRELU_KERNELS
}  // namespace cuda
#undef LOWBIT_RPRELU_KERNELS

}  // namespace lowbit::kernels
