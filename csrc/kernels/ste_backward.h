#pragma once
// dL/dx = g * ste_derivative(x) (csrc/ops/ste.h), fused into one pass on CPU and CUDA.

#include <lowbit/csrc/ops/ste.h>

#include <ATen/core/Tensor.h>

namespace lowbit::kernels {

at::Tensor ste_backward(const at::Tensor& grad, const at::Tensor& x, ops::Ste ste);

namespace cpu {
at::Tensor ste_backward(const at::Tensor& grad, const at::Tensor& x, ops::Ste ste);
}
namespace cuda {
at::Tensor ste_backward(const at::Tensor& grad, const at::Tensor& x, ops::Ste ste);
}

}  // namespace lowbit::kernels
