#pragma once
// Fused activation quantizers, CPU and CUDA (formulas in csrc/ops/activation_math.h): one
// element-wise pass forward, one backward (which also sums the scalar parameters' gradients, in
// double). Half and bfloat16 inputs are computed in float and returned in their dtype.

#include <ATen/core/Tensor.h>

#include <tuple>

namespace lowbit::kernels {

// DoReFa k-bit activations; the backward keeps x.
at::Tensor dorefa_activation_forward(const at::Tensor& x, int64_t bits);
at::Tensor dorefa_activation_backward(const at::Tensor& grad, const at::Tensor& x);

// AdaBin activations with the scalar parameters alpha and beta (one element each); the backward
// returns dL/dx and dL/dalpha, dL/dbeta shaped and typed like alpha and beta.
at::Tensor adabin_activation_forward(const at::Tensor& x, const at::Tensor& alpha, const at::Tensor& beta, bool code);
std::tuple<at::Tensor, at::Tensor, at::Tensor> adabin_activation_backward(const at::Tensor& grad, const at::Tensor& x,
                                                                          const at::Tensor& alpha,
                                                                          const at::Tensor& beta, bool code);

namespace cpu {
at::Tensor dorefa_activation_forward(const at::Tensor& x, int64_t bits);
at::Tensor dorefa_activation_backward(const at::Tensor& grad, const at::Tensor& x);
at::Tensor adabin_activation_forward(const at::Tensor& x, const at::Tensor& alpha, const at::Tensor& beta, bool code);
std::tuple<at::Tensor, at::Tensor, at::Tensor> adabin_activation_backward(const at::Tensor& grad, const at::Tensor& x,
                                                                          const at::Tensor& alpha,
                                                                          const at::Tensor& beta, bool code);
}  // namespace cpu
namespace cuda {
at::Tensor dorefa_activation_forward(const at::Tensor& x, int64_t bits);
at::Tensor dorefa_activation_backward(const at::Tensor& grad, const at::Tensor& x);
at::Tensor adabin_activation_forward(const at::Tensor& x, const at::Tensor& alpha, const at::Tensor& beta, bool code);
std::tuple<at::Tensor, at::Tensor, at::Tensor> adabin_activation_backward(const at::Tensor& grad, const at::Tensor& x,
                                                                          const at::Tensor& alpha,
                                                                          const at::Tensor& beta, bool code);
}  // namespace cuda

}  // namespace lowbit::kernels
