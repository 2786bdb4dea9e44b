#pragma once
// Optimizers from a stage's recipe: SGD (momentum, Nesterov), Adam (L2 weight decay), AdamW
// (decoupled weight decay), with parameter groups chosen by regex on parameter names, e.g.
//   groups: [{pattern: '(bias|bn|step|threshold)', weight_decay: 0}]
// A parameter joins the first group whose pattern it matches (std::regex_search), else the
// default group. Each group remembers its base learning rate for the schedule.

#include <lowbit/csrc/engine/recipe.h>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <memory>
#include <vector>

namespace lowbit::engine {

struct BuiltOptimizer {
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::vector<double> base_lrs;  // per parameter group
};

BuiltOptimizer make_optimizer(const OptimizerConfig& config, const torch::nn::Module& model);

// Sets every group's learning rate to base_lr * factor.
void set_lr_factor(BuiltOptimizer& built, double factor);

}  // namespace lowbit::engine
