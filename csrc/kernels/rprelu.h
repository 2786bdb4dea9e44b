#pragma once
// ReActNet's RPReLU with the residual addition before it (csrc/ops/rprelu.h), one element-wise pass
// forward and one backward on CPU and CUDA (formulas: csrc/ops/rprelu_math.h). x, the residual and
// the output share one memory format (contiguous or channels-last); gamma, beta and zeta hold one
// value per channel of dim 1 (any shape with C elements).

#include <ATen/core/Tensor.h>

#include <tuple>

namespace lowbit::kernels {

// y = prelu((x + residual) + gamma, beta) + zeta (residual may be undefined); the bits 1[t > 0]
// (uint8 [plane_bytes(n)], element i of the memory order in bit i % 8 of byte i / 8, as
// ops/bit_planes.h); t itself when keep_input, else an undefined tensor.
std::tuple<at::Tensor, at::Tensor, at::Tensor> rprelu_forward(const at::Tensor& x, const at::Tensor& residual,
                                                              const at::Tensor& gamma, const at::Tensor& beta,
                                                              const at::Tensor& zeta, bool keep_input);
// The same with y written over x (which must be in the dtype the op computes in: that of x, the
// residual and the parameters promoted together); returns the bits and t.
std::tuple<at::Tensor, at::Tensor> rprelu_forward_(const at::Tensor& x, const at::Tensor& residual,
                                                   const at::Tensor& gamma, const at::Tensor& beta,
                                                   const at::Tensor& zeta, bool keep_input);
// From `saved` (t, or the output y when saved_is_output) and the bits: dL/dt in the dtype and
// memory format of `saved`, and the per-channel sums [3, C] (float64) of dL/dgamma, dL/dbeta and
// dL/dzeta.
std::tuple<at::Tensor, at::Tensor> rprelu_backward(const at::Tensor& grad, const at::Tensor& saved,
                                                   const at::Tensor& positive, const at::Tensor& beta,
                                                   const at::Tensor& zeta, bool saved_is_output);

// The device kernels, called with arguments of one dtype and memory format (checked above them).
// The forward writes y into `y` (a fresh tensor like x, or x itself) and returns the bits and t.
namespace cpu {
std::tuple<at::Tensor, at::Tensor> rprelu_forward(const at::Tensor& x, const at::Tensor& residual,
                                                  const at::Tensor& gamma, const at::Tensor& beta,
                                                  const at::Tensor& zeta, bool keep_input, const at::Tensor& y);
std::tuple<at::Tensor, at::Tensor> rprelu_backward(const at::Tensor& grad, const at::Tensor& saved,
                                                   const at::Tensor& positive, const at::Tensor& beta,
                                                   const at::Tensor& zeta, bool saved_is_output);
}  // namespace cpu
namespace cuda {
std::tuple<at::Tensor, at::Tensor> rprelu_forward(const at::Tensor& x, const at::Tensor& residual,
                                                  const at::Tensor& gamma, const at::Tensor& beta,
                                                  const at::Tensor& zeta, bool keep_input, const at::Tensor& y);
std::tuple<at::Tensor, at::Tensor> rprelu_backward(const at::Tensor& grad, const at::Tensor& saved,
                                                   const at::Tensor& positive, const at::Tensor& beta,
                                                   const at::Tensor& zeta, bool saved_is_output);
}  // namespace cuda

}  // namespace lowbit::kernels
