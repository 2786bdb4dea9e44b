#include <lowbit/csrc/engine/optim/schedule.h>

#include <lowbit/csrc/util/registry.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace lowbit::engine {
namespace {

util::Registry<ScheduleFactory>& schedule_registry() {
  static util::Registry<ScheduleFactory> r("schedule", "name");
  return r;
}

// u in [0, 1]: progress after the warm-up.
double after_warmup(double t, const ScheduleSpan& s) {
  const double span = std::max(1e-12, static_cast<double>(s.epochs) - s.warmup_epochs);
  return std::clamp((t - s.warmup_epochs) / span, 0.0, 1.0);
}

double min_factor(ParamReader& p, const ScheduleSpan& s) {
  const double min_lr = p.get<double>("min_lr", 0.0);
  p.check(min_lr >= 0, "min_lr", "expected a non-negative number, got " + c10::str(min_lr));
  return std::min(1.0, min_lr / s.base_lr);
}

ScheduleShape cosine(ParamReader& p, const ScheduleSpan& s) {
  const double m = min_factor(p, s);
  return [m, s](double t) { return m + (1 - m) * (1 + std::cos(M_PI * after_warmup(t, s))) / 2; };
}

ScheduleShape linear(ParamReader& p, const ScheduleSpan& s) {
  const double m = min_factor(p, s);
  return [m, s](double t) { return m + (1 - m) * (1 - after_warmup(t, s)); };
}

ScheduleShape step(ParamReader& p, const ScheduleSpan& s) {
  const auto milestones = p.get<std::vector<int64_t>>("milestones", {});
  const double gamma = p.get<double>("gamma", 0.1);
  p.check(gamma > 0, "gamma", "expected a positive number, got " + c10::str(gamma));
  p.check(!milestones.empty(), "milestones", "the step schedule needs milestones (epochs)");
  for (auto m : milestones) {
    p.check(m > 0 && m <= s.epochs, "milestones",
            "milestone " + std::to_string(m) + " is outside [1, " + std::to_string(s.epochs) + "]");
  }
  return [milestones, gamma](double t) {
    const auto passed = std::count_if(milestones.begin(), milestones.end(), [&](int64_t e) { return e <= t; });
    return std::pow(gamma, static_cast<double>(passed));
  };
}

}  // namespace

bool register_schedule(const std::string& name, ScheduleFactory factory) { return schedule_registry().add(name, std::move(factory)); }

std::vector<std::string> registered_schedules() { return schedule_registry().names(); }

Schedule::Schedule(const ScheduleConfig& config, const ScheduleSpan& span)
    : per_epoch_(config.per == "epoch"),
      epoch_offset_(config.epoch_offset),
      warmup_epochs_(span.warmup_epochs),
      warmup_start_(span.base_lr > 0 ? config.warmup_lr / span.base_lr : 0) {
  TORCH_CHECK_VALUE(config.per == "step" || config.per == "epoch", "schedule: per must be step or epoch, got '",
                    config.per, "'");
  LOWBIT_CHECK_OPTION(per_epoch_ || epoch_offset_ == 0, "epoch_offset", "needs per: epoch (it shifts whole epochs)");
  LOWBIT_CHECK_OPTION(std::abs(epoch_offset_) <= span.epochs, "epoch_offset", "expected |epoch_offset| <= ",
                      span.epochs, " (the stage's epochs), got ", epoch_offset_);
  auto shape_span = span;
  if (!config.warmup_prefix) shape_span.warmup_epochs = 0;
  shape_ = schedule_registry().make(config.name, config.options, shape_span);
}

double Schedule::factor(double epochs_done) const {
  const double t =
      per_epoch_ ? std::max(0.0, std::floor(epochs_done) + static_cast<double>(epoch_offset_)) : epochs_done;
  if (t < warmup_epochs_) return warmup_start_ + (1 - warmup_start_) * t / warmup_epochs_;
  return shape_(t);
}

LOWBIT_REGISTER_SCHEDULE(constant, [](ParamReader&, const ScheduleSpan&) -> ScheduleShape { return [](double) { return 1.0; }; });
LOWBIT_REGISTER_SCHEDULE(cosine, cosine);
LOWBIT_REGISTER_SCHEDULE(linear, linear);
LOWBIT_REGISTER_SCHEDULE(step, step);

}  // namespace lowbit::engine
