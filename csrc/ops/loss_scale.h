#pragma once
// The loss scale of the backward in progress. Under dynamic loss scaling (engine/optim/
// grad_scaler.h) the backward runs on S * loss, so every gradient the chain rule produces is S
// times the true one. An op whose backward adds a term of its own (ReBNN's, RBONN's and IDa-Det's
// reconstruction term gamma r, ops/bilinear_sign.h) multiplies it by S, and state recorded from a
// gradient (RBONN's previous gradient, ReBNN's gradient maxima) divides by S, so that after the
// optimizer's unscaling both are what they are without scaling.
// The engine's OptimStep sets S around its backward; a loop of one's own that scales the loss
// holds a LossScaleGuard around `(S * loss).backward()`. Outside a guard S = 1. The value is
// process-wide (the autograd engine runs CUDA backward on threads of its own).

#include <ATen/core/Tensor.h>

namespace lowbit::ops {

double loss_scale();

// State recorded from a gradient: `recorded` when every element is finite, else `previous` (zeros
// when there is none of that shape yet). A scaled backward that overflows is a step the scaler
// skips; the infinities it recorded must not stay and poison the steps after it (RBONN's W - u m
// G_prev, ReBNN's gamma from the maxima). No host synchronisation.
at::Tensor finite_record(const at::Tensor& recorded, const at::Tensor& previous);

class LossScaleGuard {
 public:
  explicit LossScaleGuard(double scale);
  ~LossScaleGuard();
  LossScaleGuard(const LossScaleGuard&) = delete;
  LossScaleGuard& operator=(const LossScaleGuard&) = delete;

 private:
  double previous_;
};

}  // namespace lowbit::ops
