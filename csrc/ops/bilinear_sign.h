#pragma once
// Bilinear binarization of a weight, shared by ReBNN (Xu et al. AAAI 2023), RBONN (Xu et al.
// ECCV 2022) and IDa-Det's BiConv (Xu et al. ECCV 2022). Official code: SteveTsui/ReBNN
// 2_step2_rebnn/rebnn.py `Binarization`, SteveTsui/RBONN 2_step2_rbonn/rbonn.py
// `Bilinear_binarization`, SteveTsui/IDa-Det mmcv-0.5.1/mmcv/cnn/bricks/BiConv.py `Binarization`.
//
// Per output channel c (dim 0), with a learnable scale s_c and alpha_c = |s_c|:
//   forward : W_hat = alpha_c * b,  b = kappa * sign(W)        (sign(0) = 0; kappa = 0.02 in all three)
//   backward, g = dL/dW_hat, r = W - alpha_c b:
//     dL/dW       = gamma_c r + alpha_c g
//     dL/dalpha_c = sum_{i,kh,kw} g W - gamma_c sum_{i,kh,kw} r b
//     dL/ds_c     = sign(s_c) dL/dalpha_c      (scale_sign_grad, ReBNN / RBONN: |s| is taken by autograd
//                                              outside their Function)
//                 = dL/dalpha_c                (IDa-Det: |s| is taken inside its Function, so s gets no
//                                              sign factor, even where s < 0)
// The gamma terms are the gradient of the reconstruction loss (gamma/2) ||W - alpha b||^2 with
// sign(W) held constant; that loss is never added to the loss value, it exists only here. The
// task terms are not those of autograd through the forward: the STE factor to W is alpha_c (not
// kappa alpha_c, no |W| <= 1 clip) and the scale sees the latent W (sum g W, not sum g b), as in
// all three official codes.
// gamma_c is ReBNN's balanced parameter, RBONN's lambda (1e-4) or IDa-Det's mu (1e-4); it is a
// constant of the backward (no gradient flows to it).
// Fused (kernels/weight_quantizers.h): one pass forward; one backward pass writes dL/dW and sums
// g W and r b per channel.

#include <ATen/core/Tensor.h>

#include <torch/arg.h>

#include <functional>

namespace lowbit::ops {

struct BilinearSignOptions {
  TORCH_ARG(double, kappa) = 0.02;
  TORCH_ARG(bool, scale_sign_grad) = true;
};

// `w`: [C, ...] (dim >= 2); `scale`: C numbers (any shape, e.g. the official [C, 1, 1, 1]);
// `gamma`: one number or C numbers (any shape). The scale's gradient has the scale's shape.
at::Tensor bilinear_sign(const at::Tensor& w, const at::Tensor& scale, const at::Tensor& gamma,
                         const BilinearSignOptions& options = {});
at::Tensor bilinear_sign(const at::Tensor& w, const at::Tensor& scale, double gamma,
                         const BilinearSignOptions& options = {});

// RBONN's recurrent model folded into its binarization (modules/quant/rbonn.h): the sign is taken of
//   W~ = W - c (.) P    (ops::recurrent_value: one rounding; c: C numbers, u m; P: shaped as W, the
//                        previous gradient, a constant held as given at the forward)
//   dL/dW = dL/dW~,  dL/dc_k = -sum_{i in channel k} dL/dW~_i P_i,
// and the backward hands dL/dW~ / S (S: the loss scale, ops/loss_scale.h) to `record` when it is set.
// W~ is recomputed in the backward, never stored: one pass over W and P forward, one backward that
// also writes the record and sums dL/dc. Without c and P, W~ = W (RBONN's first step, which records).
using GradientRecord = std::function<void(const at::Tensor& unscaled_grad)>;
struct Recurrence {
  at::Tensor c, p;        // both or neither
  GradientRecord record;  // may be empty
};
// `gamma` as bilinear_sign's; bilinear_sign is this without a recurrence.
at::Tensor recurrent_bilinear_sign(const at::Tensor& w, const at::Tensor& scale, const at::Tensor& gamma,
                                   const BilinearSignOptions& options, const Recurrence& recurrence);

// `values` (C numbers) reshaped to [C, 1, ..., 1] with `ndim` dims, to broadcast along dim 0 of a
// weight.
at::Tensor output_channel_view(const at::Tensor& values, int64_t ndim);

}  // namespace lowbit::ops
