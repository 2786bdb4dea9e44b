#include <lowbit/modules/models/registry.h>

#include <lowbit/csrc/util/registry.h>

namespace lowbit::models {
namespace {

util::Registry<Factory>& registry() {
  static util::Registry<Factory> models("model");
  return models;
}

}  // namespace

bool register_model(const std::string& name, Factory factory) { return registry().add(name, std::move(factory)); }

torch::nn::Sequential make(const std::string& name, const Params& params, const QuantPolicy& policy) {
  return registry().make(name, params, policy);
}

std::vector<std::string> registered_models() { return registry().names(); }

}  // namespace lowbit::models
