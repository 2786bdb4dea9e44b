#pragma once
// DoReFa-Net k-bit quantizers (Zhou et al. 2016; tensorpack examples/DoReFa-Net/dorefa.py).
//   round_ste(x)        = round(x),   dL/dx = G                        (identity STE)
//   quantize_k(x)       = round_ste((2^k - 1) x) / (2^k - 1)
//   weights, k > 1      : w_q = 2 quantize_k( tanh(w) / (2 max|tanh(w)|) + 1/2 ) - 1
//                         (max over the whole tensor; the gradient flows through tanh and the max;
//                         fused after tanh, kernels/weight_quantizers.h)
//   weights, k = 1      : w_q = E sign(w / E), E = mean|w| (stop-gradient), dL/dw = G
//   activations         : a_q = quantize_k(clip(x, 0, 1)), dL/dx = G * 1[0 <= x <= 1]
//                         (fused, kernels/activation_quantizers.h)

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lowbit::ops {

at::Tensor round_ste(const at::Tensor& x);
at::Tensor dorefa_quantize(const at::Tensor& x, int64_t bits);
at::Tensor dorefa_weight(const at::Tensor& w, int64_t bits);
at::Tensor dorefa_activation(const at::Tensor& x, int64_t bits);

}  // namespace lowbit::ops
