#pragma once
// `lowbit train` on a recipe: checked first (validate), then run by a Runner (loop/runner.h)
// made from the recipe: its stages, its models built by name in the task's form, the task
// (with the distill: terms against the teacher), the data set and eval metrics, the train: keys.

#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/dist/environment.h>
#include <lowbit/csrc/engine/loop/runner.h>
#include <lowbit/csrc/engine/recipe/recipe.h>

#include <ostream>
#include <string>

namespace lowbit::engine {

// The recipe's device; throws RecipeError at `device` when it is CUDA and no GPU (or not the
// numbered one) is there, pointing to --set device=cpu.
torch::Device device_of(const Recipe& recipe);

// device_of (checked first, as validate() runs it before anything is written), and train.amp
// fp16 only on CUDA.
void check_device(const Recipe& recipe);

// `error` of a loss term (taps or outputs a model of stage `stage` lacks) as a RecipeError at the
// recipe's distill: key, e.g. "r.yaml:7: distill.terms[1]: taps '...' select no tap (stage 2)".
[[noreturn]] void fail_at_distill(const Recipe& recipe, const OptionError& error, size_t stage);

// Checks everything a run needs (device, data, models of every stage, teacher) without writing
// anything: the device, both splits of the data set opened, then check_models.
void validate(const Recipe& recipe, Weights weights = Weights::Files);

// The checks of validate() but the data's: the task, every stage's model, the student's starting
// weights and the teacher (read from their files with Weights::Files; not read with
// Weights::Random). With `distill:`, every stage's model and the teacher run once on two of
// `examples`' examples, so that a term whose taps or outputs are missing or mismatched fails here,
// at its key.
void check_models(const Recipe& recipe, Weights weights, const DataSet& examples);

// This process's place in the data-parallel run of `env` (dist/): its device (cuda:LOCAL_RANK when
// the recipe says cuda) and the process group, joined with the recipe's distributed: settings.
// Null when `env` is a single process. Throws dist::SetupError (exit status 2) when the group cannot
// form, RecipeError when data.batch_size does not split evenly over the processes.
std::shared_ptr<dist::ProcessGroup> join_group(const Recipe& recipe, const dist::Environment& env);

// The Runner's options for `recipe` in `run_dir` (which must exist). They refer to `recipe`, which
// must outlive them. The teacher is built here, before the Runner sets the seed (its random
// initialisation, overwritten by its checkpoint, draws from the generator before the student's,
// as it always has; the student's initialisation does not depend on whether there is one).
// With `group`, the process trains its share of a data-parallel run (join_group). With
// Weights::Random, neither model.init nor the teacher's checkpoint is read (a dry run).
RunnerOptions runner_options(const Recipe& recipe, const std::string& run_dir, bool resume, std::ostream& out,
                             std::shared_ptr<dist::ProcessGroup> group = nullptr, Weights weights = Weights::Files);

// Trains `recipe` in `run_dir`, from its checkpoint when `resume`; data-parallel with `group`.
TrainResult train(const Recipe& recipe, const std::string& run_dir, bool resume, std::ostream& out,
                  std::shared_ptr<dist::ProcessGroup> group = nullptr);

}  // namespace lowbit::engine
