#pragma once
// One optimizer step from a loss, in the order mixed precision needs:
//   zero_grad; backward on S·loss (S = 1 without train.amp); g <- g / S and, with a clip, the
//   global L2 norm of the clipped parameters' gradients limited to grad_clip; step unless a
//   gradient is non-finite (amp); adjust S.
// This is where gradient accumulation and DDP's no_sync belong. Clipping does not read the norm
// back to the host (LibTorch's clip_grad_norm_ does), so a step synchronises with the device
// only under amp (to decide whether to step).

#include <lowbit/csrc/engine/optim/grad_scaler.h>

#include <torch/optim/optimizer.h>

#include <vector>

namespace lowbit::engine {

// g <- g · min(1, max_norm / (‖(‖g_i‖₂)_i‖₂ + 1e-6)) over the parameters with a gradient, as
// torch.nn.utils.clip_grad_norm_ (same operations, same order); returns the total norm before
// clipping, on the gradients' device (undefined when no parameter has a gradient).
torch::Tensor clip_grad_norm(const std::vector<torch::Tensor>& parameters, double max_norm);

class OptimStep {
 public:
  // `clipped`: the parameters whose gradient norm grad_clip bounds (0: no clipping).
  OptimStep(torch::optim::Optimizer& optimizer, std::vector<torch::Tensor> clipped, double grad_clip, bool amp);

  // Returns whether the optimizer stepped (false after a non-finite gradient under amp).
  bool operator()(const torch::Tensor& loss);

  GradScaler& scaler() { return scaler_; }

 private:
  torch::optim::Optimizer& optimizer_;
  std::vector<torch::Tensor> clipped_;
  double grad_clip_;
  GradScaler scaler_;
};

}  // namespace lowbit::engine
