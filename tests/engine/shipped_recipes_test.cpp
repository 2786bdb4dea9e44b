// Every recipe shipped under recipes/ (those added later too) parses, validates its keys, builds
// the models of every stage, and trains every stage in a dry run (engine/dry_run.h: random inputs
// and weights; data and checkpoints are the user's, so they are not opened here).
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/dry_run.h>
#include <lowbit/csrc/util/files.h>

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

void collect_yaml(const std::string& directory, std::vector<std::string>& out) {
  for (const auto& entry : lowbit::util::list_directory(directory)) {
    const auto path = lowbit::util::join_path(directory, entry.name);
    if (entry.is_directory) {
      collect_yaml(path, out);
    } else if (entry.name.size() > 5 && entry.name.substr(entry.name.size() - 5) == ".yaml") {
      out.push_back(path);
    }
  }
}

std::vector<std::string> shipped_recipes() {
  std::vector<std::string> recipes;
  collect_yaml(std::string(LOWBIT_SOURCE_DIR) + "/recipes", recipes);
  return recipes;
}

// On the CPU, detectors at 256 px (DETR takes any size; at 800 px this test would take many
// minutes); the time of each recipe is printed. Its own ctest entry (tests/CMakeLists.txt).
TEST(ShippedRecipes, EveryRecipeDryRunsEveryStage) {
  const auto recipes = shipped_recipes();
  ASSERT_GE(recipes.size(), 2u);
  for (const auto& path : recipes) {
    SCOPED_TRACE(path);
    const auto started = std::chrono::steady_clock::now();
    try {
      const auto recipe = lowbit::engine::parse_recipe(path, {"device=cpu", "train.amp=false"});
      std::ostringstream out;
      const auto options = lowbit::engine::DryRunOptions().image_size(recipe.task == "detection" ? 256 : 0);
      EXPECT_EQ(lowbit::engine::dry_run(recipe, out, options).size(), recipe.stages.size());
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
    std::cout << path.substr(path.rfind("/recipes/") + 1) << ": "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() << " s\n";
  }
}

}  // namespace
