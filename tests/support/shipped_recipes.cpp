#include "support/shipped_recipes.h"

#include <lowbit/csrc/util/files.h>

#include <algorithm>

namespace lowbit::testing {
namespace {

void collect_yaml(const std::string& directory, std::vector<std::string>& out) {
  for (const auto& entry : util::list_directory(directory)) {
    const auto path = util::join_path(directory, entry.name);
    if (entry.is_directory) {
      collect_yaml(path, out);
    } else if (entry.name.size() > 5 && entry.name.substr(entry.name.size() - 5) == ".yaml") {
      out.push_back(path);
    }
  }
}

}  // namespace

std::vector<std::string> shipped_recipes() {
  std::vector<std::string> recipes;
  collect_yaml(std::string(LOWBIT_SOURCE_DIR) + "/recipes", recipes);
  std::sort(recipes.begin(), recipes.end());
  return recipes;
}

}  // namespace lowbit::testing
