#include <lowbit/csrc/engine/checkpoint/name_map.h>

#include <lowbit/csrc/util/regex_check.h>

#include <c10/util/Exception.h>

namespace lowbit::engine {

NameMap::NameMap(std::vector<Rename> rules) {
  for (size_t i = 0; i < rules.size(); ++i) {
    const auto problem = util::regex_problem(rules[i].pattern);
    TORCH_CHECK_VALUE(problem.empty(), "name map rule ", i, ": ", problem);
    rules_.emplace_back(std::regex(rules[i].pattern), std::move(rules[i].replacement));
  }
}

std::string NameMap::apply(const std::string& key) const {
  std::string name = key;
  for (const auto& [pattern, replacement] : rules_) name = std::regex_replace(name, pattern, replacement);
  return name;
}

}  // namespace lowbit::engine
