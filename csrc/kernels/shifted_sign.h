#pragma once
// sign(x + b) with b per channel along dim 1 (ReActNet's RSign), forward and backward each one
// element-wise pass on CPU and CUDA, the backward's per-channel sum inside it on the CPU and
// ATen's after it on CUDA (csrc/ops/shifted_sign.h):
//   y = sign(x + b_c),  dL/dx = g * ste'(x + b_c),  dL/db_c = sum over channel c of dL/dx.

#include <lowbit/csrc/ops/ste.h>

#include <ATen/core/Tensor.h>

#include <tuple>

namespace lowbit::kernels {

at::Tensor shifted_sign_forward(const at::Tensor& x, const at::Tensor& shift);
// dL/dx and dL/db (shaped like shift).
std::tuple<at::Tensor, at::Tensor> shifted_sign_backward(const at::Tensor& grad, const at::Tensor& x,
                                                         const at::Tensor& shift, ops::Ste ste);

// The device kernels; the backward's dL/db as [C] in float64.
namespace cpu {
at::Tensor shifted_sign_forward(const at::Tensor& x, const at::Tensor& shift);
std::tuple<at::Tensor, at::Tensor> shifted_sign_backward(const at::Tensor& grad, const at::Tensor& x,
                                                         const at::Tensor& shift, ops::Ste ste);
}  // namespace cpu
namespace cuda {
at::Tensor shifted_sign_forward(const at::Tensor& x, const at::Tensor& shift);
std::tuple<at::Tensor, at::Tensor> shifted_sign_backward(const at::Tensor& grad, const at::Tensor& x,
                                                         const at::Tensor& shift, ops::Ste ste);
}  // namespace cuda

}  // namespace lowbit::kernels
