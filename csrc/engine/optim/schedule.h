#pragma once
// Learning-rate schedules by name, as a pure function of training progress, so that a resumed run
// needs no scheduler state: factor(t) multiplies every parameter group's base learning rate.
//   warmup   : t < w          -> s + (1 - s) t / w,  s = warmup_lr / lr     (linear, from warmup_lr)
//   constant : 1
//   cosine   : m + (1 - m) (1 + cos(pi u)) / 2,  u = (t - w') / (E - w')    (Loshchilov & Hutter 2017)
//   linear   : m + (1 - m) (1 - u)                                        (Bi-Real Net, ReActNet)
//   step     : gamma^(number of milestones <= t)
// t is the progress in epochs (fractional when per: step, whole epochs when per: epoch), E the
// stage's epochs, m = min_lr / lr (options min_lr of cosine and linear; milestones and gamma of
// step). w' = w with warmup_prefix (the default: the shape starts after the warm-up), w' = 0
// without: the shape spans the whole stage and the warm-up replaces its first w epochs, as timm's
// schedulers (warmup_prefix=False) under DeiT, whose warm-up starts from warmup_lr_init (1e-6).
// warmup_lr is absolute (the default group's start); a group with lr_scale starts at its share.
// epoch_offset k (per: epoch, |k| <= E): epoch e trains at the factor for t = max(0, e + k), which
// replays where official loops step their schedulers (an uninterrupted run's): k = 1 for a
// LambdaLR stepped at the start of each epoch (Bi-Real Net, ReActNet: epoch 0 already at
// lr (1 - 1/E)), k = -1 for timm's lr_scheduler.step(epoch) after epoch `epoch` (DeiT, Q-ViT,
// Bi-ViT: epochs 0 and 1 both at t = 0).
// Warm-up and `per` are common to every schedule; a user's shape registers a factory:
//   LOWBIT_REGISTER_SCHEDULE(exp, [](ParamReader& o, const ScheduleSpan& s) -> ScheduleShape { ... });

#include <lowbit/csrc/util/params.h>

#include <functional>
#include <string>
#include <vector>

namespace lowbit::engine {

struct ScheduleConfig {
  std::string name = "constant";
  std::string per = "step";  // step | epoch: how often the learning rate changes
  double warmup_epochs = 0;
  double warmup_lr = 0;        // the warm-up's start
  bool warmup_prefix = true;   // the shape starts after the warm-up (w' = w), else at 0 (w' = 0)
  int64_t epoch_offset = 0;    // per: epoch only, |k| <= E: epoch e trains at t = max(0, e + k)
  Params options;              // the shape's own
};

// What a shape may depend on besides progress.
struct ScheduleSpan {
  double base_lr = 0;       // the stage's optimizer lr
  int64_t epochs = 1;       // E
  double warmup_epochs = 0;  // w' (the constructor passes 0 to shapes without warmup_prefix)
};

// factor(t) for t >= w.
using ScheduleShape = std::function<double(double epochs_done)>;
using ScheduleFactory = std::function<ScheduleShape(ParamReader& options, const ScheduleSpan& span)>;

bool register_schedule(const std::string& name, ScheduleFactory factory);
std::vector<std::string> registered_schedules();

class Schedule {
 public:
  // Throws OptionError at "name", "epoch_offset" or the shape's option's key.
  Schedule(const ScheduleConfig& config, const ScheduleSpan& span);
  double factor(double epochs_done) const;

 private:
  bool per_epoch_;
  int64_t epoch_offset_;
  double warmup_epochs_, warmup_start_;  // w, s
  ScheduleShape shape_;
};

}  // namespace lowbit::engine

#define LOWBIT_REGISTER_SCHEDULE(name, factory) \
  static const bool lowbit_schedule_registered_##name = ::lowbit::engine::register_schedule(#name, factory)
