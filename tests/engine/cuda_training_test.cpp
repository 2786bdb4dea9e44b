// On a GPU (skipped without one; scripts/gpu-check runs it): every shipped Fashion-MNIST recipe
// trains about 100 steps through `lowbit train` on CUDA with mixed precision (train.amp, float16
// with loss scaling), one epoch per stage, and ends with finite weights and its test metrics.
#include <lowbit/csrc/engine/checkpoint/checkpoint.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/util/files.h>

#include "support/require_gpu.h"
#include "support/run_cli.h"
#include "support/shipped_recipes.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <string>

TEST(CudaTraining, HundredAmpStepsOfEveryFashionMnistRecipe) {
  REQUIRE_GPU();
  if (!lowbit::util::file_exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST (Debian dataset-fashion-mnist) is absent";
  }
  int64_t trained = 0;
  for (const auto& path : lowbit::testing::shipped_recipes()) {
    const auto recipe = lowbit::engine::parse_recipe(path);
    if (recipe.data.dataset != "fashion_mnist") continue;
    SCOPED_TRACE(path);
    lowbit::testing::TempDir dir;
    // One epoch per stage, 100 steps in all.
    const auto stages = static_cast<int64_t>(recipe.stages.size());
    const int64_t steps_per_stage = (100 + stages - 1) / stages;
    std::vector<std::string> args = {"train", path, "--set", "device=cuda", "--set", "train.amp=true", "--set",
                                     "output=" + dir.file("runs"), "--set",
                                     "data.limit_train=" + std::to_string(steps_per_stage * recipe.data.batch_size),
                                     "--set", "data.limit_test=1000"};
    for (int64_t s = 0; s < stages; ++s) args.insert(args.end(), {"--set", "stages[" + std::to_string(s) + "].epochs=1"});
    const auto result = lowbit::testing::run_cli(args);
    ASSERT_EQ(result.status, 0) << result.output;
    const auto run = lowbit::util::join_path(dir.file("runs"), recipe.name);
    const auto state = lowbit::engine::read_checkpoint_model(lowbit::util::join_path(run, "checkpoint.pt"));
    EXPECT_GT(state.size(), 0u);
    for (const auto& item : state) {
      if (item.value().is_floating_point()) EXPECT_TRUE(item.value().isfinite().all().item<bool>()) << item.key();
    }
    EXPECT_EQ(lowbit::engine::read_position(lowbit::util::join_path(run, "checkpoint.pt")).step,
              steps_per_stage * stages);
    ++trained;
  }
  EXPECT_GE(trained, 10);  // fashion_mnist/ (3) and the methods' (adabin 2, bivit, qvit, rbonn, rebnn, tervit)
}
