// Every recipe shipped under recipes/ parses, validates its keys, and builds the model of every
// stage (data and teacher checkpoints are the user's, so they are not opened here).
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/train.h>
#include <lowbit/csrc/util/files.h>

#include <gtest/gtest.h>

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

TEST(ShippedRecipes, EveryRecipeParsesAndBuildsEveryStage) {
  std::vector<std::string> recipes;
  collect_yaml(std::string(LOWBIT_SOURCE_DIR) + "/recipes", recipes);
  ASSERT_GE(recipes.size(), 2u);
  for (const auto& path : recipes) {
    SCOPED_TRACE(path);
    try {
      const auto recipe = lowbit::engine::parse_recipe(path);
      for (size_t stage = 0; stage < recipe.stages.size(); ++stage) {
        auto model = lowbit::engine::build_model(recipe, stage);
        EXPECT_FALSE(model->parameters().empty());
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  }
}

}  // namespace
