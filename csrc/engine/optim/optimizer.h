#pragma once
// Optimizers by name, with parameter groups chosen by regex on parameter names:
//   optimizer: {name: sgd, lr: 0.1, weight_decay: 1e-4, momentum: 0.9, nesterov: true,
//               groups: [{pattern: '(bias|bn|step|threshold)', weight_decay: 0}, {pattern: '\.u$', lr_scale: 0.1}]}
// A parameter joins the first group whose pattern it matches (std::regex_search), else the
// default group. Each group remembers its base learning rate for the schedule.
// `lr_per: B` (recipes only, recipe.cpp) scales lr with the whole batch: lr · data.batch_size / B,
// as DeiT's main.py `args.lr * args.batch_size * world_size / 512`; `lr` is then the scaled rate.
// Built in (optim/optimizers.cpp; the kind's own options in brackets):
//   sgd    [momentum = 0.9, nesterov = false]
//   adam   [beta1 = 0.9, beta2 = 0.999, eps = 1e-8]   L2 weight decay
//   adamw  [beta1, beta2, eps as adam]                 decoupled weight decay
//   lamb   [beta1, beta2 as adam, eps = 1e-6, max_grad_norm = 1.0, use_nvlamb = false]
//          apex's FusedLAMB (lamb.h): global gradient-norm clip, decoupled decay, trust ratio
// A user's optimizer registers an OptimizerKind factory:
//   LOWBIT_REGISTER_OPTIMIZER(lion, [](ParamReader& options) { return std::make_unique<MyLionKind>(...); });

#include <lowbit/csrc/util/params.h>

#include <torch/ordered_dict.h>
#include <torch/optim/optimizer.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lowbit::engine {

// One optimizer with its own options read; makes the options of each parameter group and the
// optimizer over the groups.
class OptimizerKind {
 public:
  virtual ~OptimizerKind() = default;
  virtual std::unique_ptr<torch::optim::OptimizerOptions> group_options(double lr, double weight_decay) const = 0;
  virtual std::unique_ptr<torch::optim::Optimizer> make(std::vector<torch::optim::OptimizerParamGroup> groups,
                                                        double lr, double weight_decay) const = 0;
};

using OptimizerFactory = std::function<std::unique_ptr<OptimizerKind>(ParamReader& options)>;

bool register_optimizer(const std::string& name, OptimizerFactory factory);
std::vector<std::string> registered_optimizers();

struct ParamGroupConfig {
  std::string pattern;  // ECMAScript regex on parameter names
  std::optional<double> weight_decay;
  double lr_scale = 1.0;
};

struct OptimizerConfig {
  std::string name = "adam";
  double lr = 1e-3;  // a recipe's lr_per applied already
  double weight_decay = 0.0;
  std::vector<ParamGroupConfig> groups;
  Params options;  // the kind's own (momentum, betas, ...)
};

// The kind `config.name` with its options checked: OptionError at "name" or the option's key.
std::unique_ptr<OptimizerKind> make_optimizer_kind(const OptimizerConfig& config);

struct BuiltOptimizer {
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::vector<double> base_lrs;  // per parameter group
};

// Over the named parameters that require a gradient, in their order.
BuiltOptimizer make_optimizer(const OptimizerConfig& config, const torch::OrderedDict<std::string, torch::Tensor>& parameters);

// Sets every group's learning rate to base_lr * factor.
void set_lr_factor(BuiltOptimizer& built, double factor);

}  // namespace lowbit::engine

#define LOWBIT_REGISTER_OPTIMIZER(name, factory) \
  static const bool lowbit_optimizer_registered_##name = ::lowbit::engine::register_optimizer(#name, factory)
