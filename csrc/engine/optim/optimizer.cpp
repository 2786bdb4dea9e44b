#include <lowbit/csrc/engine/optim/optimizer.h>

#include <lowbit/csrc/util/registry.h>

#include <regex>

namespace lowbit::engine {
namespace {

util::Registry<OptimizerFactory>& optimizer_registry() {
  static util::Registry<OptimizerFactory> r("optimizer", "name");
  return r;
}

}  // namespace

bool register_optimizer(const std::string& name, OptimizerFactory factory) { return optimizer_registry().add(name, std::move(factory)); }

std::vector<std::string> registered_optimizers() { return optimizer_registry().names(); }

std::unique_ptr<OptimizerKind> make_optimizer_kind(const OptimizerConfig& config) {
  return optimizer_registry().make(config.name, config.options);
}

BuiltOptimizer make_optimizer(const OptimizerConfig& c, const torch::OrderedDict<std::string, torch::Tensor>& parameters) {
  const auto kind = make_optimizer_kind(c);
  std::vector<std::regex> patterns;
  for (const auto& g : c.groups) patterns.emplace_back(g.pattern);
  std::vector<std::vector<torch::Tensor>> members(c.groups.size() + 1);
  for (const auto& p : parameters) {
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
    groups.emplace_back(members[g], kind->group_options(lr, wd));
    built.base_lrs.push_back(lr);
  }
  built.optimizer = kind->make(std::move(groups), c.lr, c.weight_decay);
  return built;
}

void set_lr_factor(BuiltOptimizer& built, double factor) {
  auto& groups = built.optimizer->param_groups();
  for (size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(built.base_lrs[g] * factor);
}

}  // namespace lowbit::engine
