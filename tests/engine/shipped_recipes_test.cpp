// Every recipe shipped under recipes/ (those added later too) parses, validates its keys, builds
// the models of every stage, and trains every stage in a dry run (engine/dry_run.h: random inputs
// and weights; data and checkpoints are the user's, so they are not opened here).
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/dry_run.h>

#include "support/shipped_recipes.h"

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

// On the CPU, detectors at 256 px (DETR takes any size; at 800 px this test would take many
// minutes); the time of each recipe is printed. Its own ctest entry (tests/CMakeLists.txt).
TEST(ShippedRecipes, EveryRecipeDryRunsEveryStage) {
  const auto recipes = lowbit::testing::shipped_recipes();
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
