#pragma once
// `lowbit train RECIPE --dry-run`: every stage of a parsed recipe built as `lowbit train` builds
// it (train.h runner_options), trained for a few steps and evaluated once by the real Runner
// (forward, the task's losses with the teacher and distillation terms, backward, optimizer step,
// schedules and module hooks) on random inputs of the recipe's shapes (datasets/random_data.h).
// It reads none of the user's files (data folders, model.init, the teacher's checkpoint: the
// models keep their random initialisation) and writes nothing. Prints one line per stage:
//   dry run: stage 1/2 step1_w32a1: loss 6.9316 (2 steps of 2 images + 1 test batch, 1.42 s)
// Throws RecipeError (exit status 2) where the recipe cannot train: at its key when a check finds
// it, else naming the recipe file and the stage.

#include <lowbit/csrc/engine/recipe/recipe.h>

#include <torch/arg.h>

#include <ostream>
#include <string>
#include <vector>

namespace lowbit::engine {

struct DryRunOptions {
  // Images per step; a recipe with a smaller data.batch_size keeps its own.
  TORCH_ARG(int64_t, batch_size) = 2;
  TORCH_ARG(int64_t, steps) = 2;  // per stage
  // > 0: square images of this side instead of the recipe's; for models that take any size
  // (detectors: DETR trains on 480-1333 px images), so that a dry run at 800 px needs no minutes.
  TORCH_ARG(int64_t, image_size) = 0;
};

struct DryRunStage {
  std::string name;
  double loss = 0;     // of the stage's last step
  double seconds = 0;  // its steps and evaluation
};

std::vector<DryRunStage> dry_run(const Recipe& recipe, std::ostream& out, const DryRunOptions& options = {});

}  // namespace lowbit::engine
