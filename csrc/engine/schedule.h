#pragma once
// Learning-rate schedules as a pure function of training progress, so that a resumed run needs
// no scheduler state: factor(t) multiplies every parameter group's base learning rate.
//   warmup   : t < w          -> t / w                                     (linear, from 0)
//   constant : 1
//   cosine   : m + (1 - m) (1 + cos(pi u)) / 2,  u = (t - w) / (E - w)      (Loshchilov & Hutter 2017)
//   linear   : m + (1 - m) (1 - u)                                        (Bi-Real Net, ReActNet)
//   step     : gamma^(number of milestones <= t)
// t is the progress in epochs (fractional when per: step, whole epochs when per: epoch), E the
// stage's epochs, m = min_lr / lr.

#include <lowbit/csrc/engine/recipe.h>

namespace lowbit::engine {

double lr_factor(const ScheduleConfig& schedule, double base_lr, double epochs_done, int64_t total_epochs);

}  // namespace lowbit::engine
