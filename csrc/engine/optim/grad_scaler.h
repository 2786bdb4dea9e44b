#pragma once
// Dynamic loss scaling for float16 mixed precision (Micikevicius et al. 2018), the algorithm of
// torch.cuda.amp.GradScaler, which LibTorch lacks:
//   backward on S * loss; before the step, g <- g / S and check every gradient for inf/NaN;
//   a step with a non-finite gradient is skipped and S <- S * backoff (0.5); after
//   `growth_interval` (2000) finite steps in a row S <- S * growth (2).
// Disabled, it is the identity and always steps.

#include <torch/optim/optimizer.h>

#include <optional>

namespace lowbit::engine {

class GradScaler {
 public:
  explicit GradScaler(bool enabled, double init_scale = 65536.0, double growth = 2.0, double backoff = 0.5,
                      int64_t growth_interval = 2000);

  torch::Tensor scale(const torch::Tensor& loss) const;
  // Divides the gradients by the scale (once per step; before clipping) and records non-finite ones.
  void unscale(torch::optim::Optimizer& optimizer);
  // Unscales if not done, then steps unless a gradient was non-finite; returns whether it stepped.
  bool step(torch::optim::Optimizer& optimizer);
  // Adjusts the scale after step().
  void update();

  double current_scale() const;
  // What scale() multiplies the loss by: the current scale, or 1 when disabled.
  double multiplier() const { return enabled_ ? scale_ : 1.0; }
  // [scale, finite steps in a row], for checkpoints.
  torch::Tensor state() const;
  void load_state(const torch::Tensor& state);

 private:
  bool enabled_;
  double growth_, backoff_;
  int64_t growth_interval_;
  double scale_;
  int64_t growth_tracker_ = 0;
  bool unscaled_ = false;
  torch::Tensor found_inf_;     // > 0 where unscale() met a non-finite gradient (on the gradients' device)
  std::optional<bool> found_;   // found_inf_ read on the host, once per step

  bool found_inf();
};

}  // namespace lowbit::engine
