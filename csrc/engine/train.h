#pragma once
// `lowbit train` on a recipe: checked first (validate), then run by a Runner (loop/runner.h)
// made from the recipe: its stages, its models built by name in the task's form, the task
// (with the distill: terms against the teacher), the data set and eval metrics, the train: keys.

#include <lowbit/csrc/engine/dist/environment.h>
#include <lowbit/csrc/engine/loop/runner.h>
#include <lowbit/csrc/engine/recipe/recipe.h>

#include <ostream>
#include <string>

namespace lowbit::engine {

// The recipe's device; throws RecipeError at `device` when it is CUDA and no GPU is there.
torch::Device device_of(const Recipe& recipe);

// Checks everything a run needs (models of every stage, teacher, data) without writing anything.
// With `distill:`, every stage's model and the teacher run once on two example images, so that a
// term whose taps or outputs are missing or mismatched fails here, at its recipe key.
void validate(const Recipe& recipe);

// This process's place in the data-parallel run of `env` (dist/): its device (cuda:LOCAL_RANK when
// the recipe says cuda) and the process group, joined with the recipe's distributed: settings.
// Null when `env` is a single process. Throws dist::SetupError (exit status 2) when the group cannot
// form, RecipeError when data.batch_size does not split evenly over the processes.
std::shared_ptr<dist::ProcessGroup> join_group(const Recipe& recipe, const dist::Environment& env);

// The Runner's options for `recipe` in `run_dir` (which must exist). They refer to `recipe`, which
// must outlive them. The teacher is built here, before the Runner sets the seed (its random
// initialisation, overwritten by its checkpoint, draws from the generator before the student's,
// as it always has; the student's initialisation does not depend on whether there is one).
// With `group`, the process trains its share of a data-parallel run (join_group).
RunnerOptions runner_options(const Recipe& recipe, const std::string& run_dir, bool resume, std::ostream& out,
                             std::shared_ptr<dist::ProcessGroup> group = nullptr);

// Trains `recipe` in `run_dir`, from its checkpoint when `resume`; data-parallel with `group`.
TrainResult train(const Recipe& recipe, const std::string& run_dir, bool resume, std::ostream& out,
                  std::shared_ptr<dist::ProcessGroup> group = nullptr);

}  // namespace lowbit::engine
