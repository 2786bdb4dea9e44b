#pragma once
// XNOR-style scaled sign of a weight with one scale per output channel (dim 0):
//   W_b = alpha_o * sign(W),  alpha_o = ||W_o||_1 / n,  n = numel(W_o) = C_in * k * k
//                                                   (XNOR-Net, Rastegari et al. 2016, eq. 4)
// Backward to the latent W, by `ScaleGrad`:
//   detached       : dL/dW = G * 1[|W| <= 1]                  (alpha detached, clamp STE: official
//                                                             Bi-Real Net / ReActNet PyTorch code)
//   magnitude_aware: dL/dW = G * alpha_o * 1[|W| <= 1]        (Bi-Real Net paper, alpha detached)
//   xnor           : dL/dW = G * (1/n + alpha_o * 1[|W| <= 1]) (XNOR-Net paper: the gradient through
//                    the scale taken as 1/n; the official Lua code's extra factor n(1 - 1/C_in) is a
//                    constant rescale, left to the learning rate)
// sign(0) = 0 (csrc/ops/ste.h). One fused pass for alpha, one for W_b, one for the backward
// (kernels/weight_quantizers.h); alpha is kept for the backward, W is the parameter itself.

#include <ATen/core/Tensor.h>

#include <string>

namespace lowbit::ops {

enum class ScaleGrad : int { Detached = 0, MagnitudeAware = 1, Xnor = 2 };

at::Tensor scaled_sign(const at::Tensor& w, ScaleGrad scale_grad);

ScaleGrad parse_scale_grad(const std::string& name);  // "detached", "magnitude_aware", "xnor"
std::string to_string(ScaleGrad grad);

}  // namespace lowbit::ops
