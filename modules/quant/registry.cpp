#include <lowbit/modules/quant/registry.h>

#include <lowbit/csrc/util/suggest.h>

#include <map>

namespace lowbit::quant {
namespace {

std::map<std::string, Factory>& factories() {
  static std::map<std::string, Factory> registry;
  return registry;
}

}  // namespace

bool register_quantizer(const std::string& name, Factory factory) {
  TORCH_CHECK(factories().emplace(name, std::move(factory)).second, "quantizer '", name, "' registered twice");
  return true;
}

Quantizer make(const std::string& name, const Params& params) {
  auto it = factories().find(name);
  if (it == factories().end()) util::choose("quantizer", name, registered_quantizers());  // throws
  ParamReader reader("quantizer '" + name + "'", params);
  auto quantizer = it->second(reader);
  reader.finish();
  return quantizer;
}

std::vector<std::string> registered_quantizers() {
  std::vector<std::string> names;
  for (const auto& entry : factories()) names.push_back(entry.first);
  return names;
}

}  // namespace lowbit::quant
