#pragma once
// How one training stage optimizes: its epochs, optimizer, schedule and gradient clipping. A
// recipe's stage (recipe/recipe.h) adds the quantizers it trains with.

#include <lowbit/csrc/engine/optim/optimizer.h>
#include <lowbit/csrc/engine/optim/schedule.h>

#include <string>

namespace lowbit::engine {

struct StageOptions {
  std::string name = "stage1";
  int64_t epochs = 1;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  double grad_clip = 0;  // max global L2 norm; 0: off
};

}  // namespace lowbit::engine
