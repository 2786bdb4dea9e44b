#pragma once
// AdaBin's binarizers (Tu et al., ECCV 2022; modules/quant/adabin.h has the method and its
// decisions), each one fused pass per statistic and per output, forward and backward:
//   weights    : per output channel, y = sign(u) alpha + beta, beta = mean W, alpha = std W (population,
//                variance clamped at 1e-24), u = (W - beta) / alpha; the sign's backward is IR-Net's EDE
//                k t (1 - tanh^2(t u)) (ops/ede_sign.h), and the gradient flows through beta and alpha
//                (kernels/weight_quantizers.h, formulas in ops/weight_math.h).
//   activations: u = (x - beta_a) / alpha_a, s = sign(u) with ApproxSign; y = alpha_a (s + beta_a)
//                (form code) or alpha_a s + beta_a (paper), with the gradients of the scalar parameters
//                alpha_a and beta_a (kernels/activation_quantizers.h, formulas in ops/activation_math.h).
// The tanh of the weights' backward is a vectorised single-precision approximation for float32
// (kernels/cpu/fast_tanh.h): within a few units in the last place of ATen's.

#include <ATen/core/Tensor.h>

namespace lowbit::ops {

// `k`, `t`: one value each (the EDE schedule's buffers); they receive no gradient.
at::Tensor adabin_weight(const at::Tensor& w, const at::Tensor& k, const at::Tensor& t);

at::Tensor adabin_activation(const at::Tensor& x, const at::Tensor& alpha, const at::Tensor& beta, bool code);

}  // namespace lowbit::ops
