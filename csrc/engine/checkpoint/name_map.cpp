#include <lowbit/csrc/engine/checkpoint/name_map.h>

#include <c10/util/Exception.h>

namespace lowbit::engine {

NameMap::NameMap(std::vector<Rename> rules) {
  for (size_t i = 0; i < rules.size(); ++i) {
    try {
      rules_.emplace_back(std::regex(rules[i].pattern), std::move(rules[i].replacement));
    } catch (const std::regex_error& e) {
      TORCH_CHECK_VALUE(false, "name map rule ", i, ": invalid pattern '", rules[i].pattern, "' (", e.what(), ")");
    }
  }
}

std::string NameMap::apply(const std::string& key) const {
  std::string name = key;
  for (const auto& [pattern, replacement] : rules_) name = std::regex_replace(name, pattern, replacement);
  return name;
}

}  // namespace lowbit::engine
