#pragma once
// Runs a recipe: its stages in order, each epoch's batches, evaluation after every epoch, and a
// checkpoint after every epoch (and every train.checkpoint_every steps) in the run directory:
//   <run>/recipe.yaml       the resolved recipe
//   <run>/checkpoint.pt     the latest checkpoint (atomic replace)
//   <run>/metrics.jsonl     one JSON record per log line and per evaluation
// A run resumed from its checkpoint continues exactly where it stopped: batch order and
// augmentation depend only on (seed, epoch, batch), the schedule only on the step.

#include <lowbit/csrc/engine/data_source.h>
#include <lowbit/csrc/engine/recipe.h>

#include <torch/nn/modules/container/sequential.h>

#include <ostream>
#include <string>

namespace lowbit::engine {

struct EvalResult {
  double loss = 0, top1 = 0, top5 = 0;
  int64_t samples = 0;
};

// The model of stage `stage` (the stage's quantizers where it names them). Throws RecipeError
// pointing at the model or quantizer key on a bad option.
torch::nn::Sequential build_model(const Recipe& recipe, size_t stage);

// Loads `source` (a lowbit checkpoint's model or a PyTorch state dict, renamed by its name_map,
// strict or not) into `model`: the one loader of the teacher and of `model.init`. Throws
// RecipeError at `<source.path>.checkpoint`, e.g.
//   r.yaml:7: model.init.checkpoint: /no/such.pt: checkpoint not found
void load_weights(const Recipe& recipe, const CheckpointSource& source, torch::nn::Module& model);

// The model of stage 1 with the student's starting weights (`model.init`) loaded when the recipe
// has them: what a fresh run trains first.
torch::nn::Sequential build_initial_model(const Recipe& recipe);

// Copies every parameter and buffer of `from` whose name and shape `to` shares, except inside
// submodules whose type differs between the two (a stage's new quantizer): the stage switch,
// which carries latent weights and unchanged quantizers' state (activations) and leaves the new
// quantizers' state fresh (e.g. ternary's `initialized`, which lsq's would otherwise set).
void copy_matching(const torch::nn::Module& from, torch::nn::Module& to);

// The recipe's teacher: built, loaded, in eval mode, without gradients. Throws RecipeError at the
// teacher's keys. With a `distill:` section the Trainer minimises its terms (csrc/engine/distill.h)
// against this teacher instead of the label cross-entropy.
torch::nn::Sequential build_teacher(const Recipe& recipe);

// Checks everything a run needs (models of every stage, data) without writing anything. With
// `distill:`, every stage's model and the teacher run once on two zero images, so that a term
// whose taps are missing or mismatched fails here, at its recipe key.
void validate(const Recipe& recipe);

// Loss, top-1 and top-5 of `model` over one pass of `test`.
EvalResult evaluate(torch::nn::Sequential& model, DataSource& test, const torch::Device& device);

struct TrainResult {
  EvalResult final_eval;
  double seconds = 0;
  int64_t steps = 0;
  torch::nn::Sequential model{nullptr};    // the last stage's trained model
  torch::nn::Sequential teacher{nullptr};  // the teacher it distilled from (null without distill:)
};

// Trains in `run_dir` (which must exist), from its checkpoint when `resume`.
TrainResult train(const Recipe& recipe, const std::string& run_dir, bool resume, std::ostream& out);

}  // namespace lowbit::engine
