#include <lowbit/csrc/engine/optimizer.h>

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <regex>

namespace lowbit::engine {
namespace {

std::unique_ptr<torch::optim::OptimizerOptions> options_for(const OptimizerConfig& c, double lr, double weight_decay) {
  if (c.name == "sgd") {
    return std::make_unique<torch::optim::SGDOptions>(
        torch::optim::SGDOptions(lr).momentum(c.momentum).nesterov(c.nesterov).weight_decay(weight_decay));
  }
  if (c.name == "adamw") {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(lr).betas({c.beta1, c.beta2}).eps(c.eps).weight_decay(weight_decay));
  }
  return std::make_unique<torch::optim::AdamOptions>(
      torch::optim::AdamOptions(lr).betas({c.beta1, c.beta2}).eps(c.eps).weight_decay(weight_decay));
}

}  // namespace

BuiltOptimizer make_optimizer(const OptimizerConfig& c, const torch::nn::Module& model) {
  std::vector<std::regex> patterns;
  for (const auto& g : c.groups) patterns.emplace_back(g.pattern);
  std::vector<std::vector<torch::Tensor>> members(c.groups.size() + 1);
  for (const auto& p : model.named_parameters()) {
    if (!p.value().requires_grad()) continue;
    size_t group = c.groups.size();
    for (size_t g = 0; g < patterns.size(); ++g) {
      if (std::regex_search(p.key(), patterns[g])) {
        group = g;
        break;
      }
    }
    members[group].push_back(p.value());
  }
  BuiltOptimizer built;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (size_t g = 0; g < members.size(); ++g) {
    if (members[g].empty()) continue;
    const bool is_default = g == c.groups.size();
    const double lr = c.lr * (is_default ? 1.0 : c.groups[g].lr_scale);
    const double wd = is_default ? c.weight_decay : c.groups[g].weight_decay.value_or(c.weight_decay);
    groups.emplace_back(members[g], options_for(c, lr, wd));
    built.base_lrs.push_back(lr);
  }
  const auto defaults = options_for(c, c.lr, c.weight_decay);
  if (c.name == "sgd") {
    built.optimizer = std::make_unique<torch::optim::SGD>(groups, static_cast<torch::optim::SGDOptions&>(*defaults));
  } else if (c.name == "adamw") {
    built.optimizer = std::make_unique<torch::optim::AdamW>(groups, static_cast<torch::optim::AdamWOptions&>(*defaults));
  } else {
    built.optimizer = std::make_unique<torch::optim::Adam>(groups, static_cast<torch::optim::AdamOptions&>(*defaults));
  }
  return built;
}

void set_lr_factor(BuiltOptimizer& built, double factor) {
  auto& groups = built.optimizer->param_groups();
  for (size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(built.base_lrs[g] * factor);
}

}  // namespace lowbit::engine
