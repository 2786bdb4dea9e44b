#include <lowbit/modules/quant/registry.h>

#include <lowbit/csrc/util/registry.h>

namespace lowbit::quant {
namespace {

util::Registry<Factory>& registry() {
  static util::Registry<Factory> quantizers("quantizer");
  return quantizers;
}

}  // namespace

bool register_quantizer(const std::string& name, Factory factory) { return registry().add(name, std::move(factory)); }

Quantizer make(const std::string& name, const Params& params) {
  const auto& factory = registry().get(name);
  ParamReader reader("quantizer '" + name + "'", params);
  auto quantizer = factory(reader);
  reader.finish();
  return quantizer;
}

std::vector<std::string> registered_quantizers() { return registry().names(); }

}  // namespace lowbit::quant
