// `lowbit train --dry-run` (engine/dry_run.h): every stage trains a few steps on random inputs
// through the real Runner, with no data folder, no teacher or init checkpoint, and nothing written.
#include <lowbit/csrc/engine/dry_run.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/recipe/recipe_error.h>
#include <lowbit/csrc/util/files.h>

#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

namespace {

using lowbit::testing::TempDir;
namespace engine = lowbit::engine;

// Two stages, a teacher and a model.init whose files do not exist, a data root that does not either.
std::string two_stage_recipe(const TempDir& dir, const std::string& terms = "[{loss: kl}, {loss: ce, weight: 0.5}]") {
  return "name: dry\nseed: 3\noutput: " + dir.file("runs") + "\n"
         "data: {dataset: fashion_mnist, root: " + dir.file("no-data") + ", batch_size: 16}\n"
         "model: {name: small_cnn, channels: [4, 8], weight_quantizer: {name: xnor}, input_quantizer: {name: sign},\n"
         "        init: {checkpoint: " + dir.file("no-init.pt") + "}}\n"
         "teacher: {model: {name: small_cnn, channels: [8, 8]}, checkpoint: " + dir.file("no-teacher.pt") + "}\n"
         "distill: {terms: " + terms + "}\n"
         "stages:\n"
         "  - {name: warm, epochs: 3, weight_quantizer: {name: identity}, optimizer: {name: adam, lr: 0.01},\n"
         "     schedule: {name: step, milestones: [2]}}\n"
         "  - {name: binary, epochs: 2, optimizer: {name: sgd, lr: 0.1}}\n";
}

}  // namespace

TEST(DryRun, TrainsEveryStageWithoutTheUsersFilesAndWritesNothing) {
  TempDir dir;
  dir.write("r.yaml", two_stage_recipe(dir));
  std::ostringstream out;
  const auto stages = engine::dry_run(engine::parse_recipe(dir.file("r.yaml")), out);
  ASSERT_EQ(stages.size(), 2u);
  EXPECT_EQ(stages[0].name, "warm");
  EXPECT_EQ(stages[1].name, "binary");
  for (const auto& stage : stages) EXPECT_TRUE(std::isfinite(stage.loss) && stage.loss > 0) << stage.name;
  EXPECT_NE(out.str().find("dry run: stage 1/2 warm: loss "), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("dry run: stage 2/2 binary: loss "), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("(2 steps of 2 images + 1 test batch, "), std::string::npos) << out.str();
  EXPECT_FALSE(lowbit::util::file_exists(dir.file("runs")));
}

TEST(DryRun, ASmallerBatchOfTheRecipeIsKept) {
  TempDir dir;
  dir.write("r.yaml", "name: one\ndata: {dataset: fashion_mnist, root: /no/data, batch_size: 1}\n"
                      "model: {name: small_cnn, channels: [4, 8]}\nstages: [{epochs: 1, optimizer: {name: sgd, lr: 0.1}}]\n");
  std::ostringstream out;
  engine::dry_run(engine::parse_recipe(dir.file("r.yaml")), out, engine::DryRunOptions().steps(3));
  EXPECT_NE(out.str().find("(3 steps of 1 images + 1 test batch, "), std::string::npos) << out.str();
}

TEST(DryRun, ATermWithoutTapsFailsAtItsKey) {
  TempDir dir;
  dir.write("r.yaml", two_stage_recipe(dir, "[{loss: kl}, {loss: dgd}]"));
  std::ostringstream out;
  try {
    engine::dry_run(engine::parse_recipe(dir.file("r.yaml")), out);
    FAIL() << "no error";
  } catch (const engine::RecipeError& e) {
    EXPECT_EQ(e.key(), "distill.terms[1]") << e.what();
    EXPECT_NE(std::string(e.what()).find("select no tap"), std::string::npos) << e.what();
  }
}
