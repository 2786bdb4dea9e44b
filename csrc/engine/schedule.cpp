#include <lowbit/csrc/engine/schedule.h>

#include <algorithm>
#include <cmath>

namespace lowbit::engine {

double lr_factor(const ScheduleConfig& s, double base_lr, double epochs_done, int64_t total_epochs) {
  const double t = s.per == "epoch" ? std::floor(epochs_done) : epochs_done;
  if (t < s.warmup_epochs) return t / s.warmup_epochs;
  const double m = std::min(1.0, s.min_lr / base_lr);
  const double span = std::max(1e-12, static_cast<double>(total_epochs) - s.warmup_epochs);
  const double u = std::clamp((t - s.warmup_epochs) / span, 0.0, 1.0);
  if (s.name == "cosine") return m + (1 - m) * (1 + std::cos(M_PI * u)) / 2;
  if (s.name == "linear") return m + (1 - m) * (1 - u);
  if (s.name == "step") {
    const auto passed = std::count_if(s.milestones.begin(), s.milestones.end(), [&](int64_t e) { return e <= t; });
    return std::pow(s.gamma, static_cast<double>(passed));
  }
  return 1.0;
}

}  // namespace lowbit::engine
