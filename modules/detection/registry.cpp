#include <lowbit/modules/detection/registry.h>

#include <lowbit/csrc/util/registry.h>

namespace lowbit::detection {
namespace {

util::Registry<Factory>& registry() {
  static util::Registry<Factory> detectors("detector");
  return detectors;
}

}  // namespace

bool register_detector(const std::string& name, Factory factory) { return registry().add(name, std::move(factory)); }

std::shared_ptr<Detector> make(const std::string& name, const Params& params, const models::QuantPolicy& policy) {
  return registry().make(name, params, policy);
}

std::vector<std::string> registered_detectors() { return registry().names(); }

}  // namespace lowbit::detection
