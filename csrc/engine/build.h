#pragma once
// What a recipe describes, built: the network and model of each stage, the teacher, the task
// with its distiller, the data set. Errors are RecipeErrors at the key they come from, e.g.
//   r.yaml:9: model.weight_quantizer.bits: lsq: bits must be in [1, 32], got 0
//   r.yaml:7: model.init.checkpoint: /no/such.pt: checkpoint not found

#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/task/task.h>

#include <torch/nn/modules/container/sequential.h>

#include <memory>

namespace lowbit::engine {

// The network of stage `stage` (the stage's quantizers where it names them), as the model
// registry builds it: what `lowbit summary` reports.
torch::nn::Sequential build_network(const Recipe& recipe, size_t stage);

// The model of stage `stage` in the form `task` trains (a Classifier for classification); without
// `task`, the recipe's.
std::shared_ptr<Model> build_model(const Recipe& recipe, const Task& task, size_t stage);
std::shared_ptr<Model> build_model(const Recipe& recipe, size_t stage);

// Loads `source` (a lowbit checkpoint's model or a PyTorch state dict, renamed by its name_map,
// strict or not) into `model`: the one loader of the teacher and of `model.init`.
void load_weights(const Recipe& recipe, const CheckpointSource& source, torch::nn::Module& model);

// Where the starting weights of the student (`model.init`) and of the teacher come from: the files
// the recipe names, or nowhere (`lowbit train --dry-run`, dry_run.h: the random initialisation,
// so that a dry run needs none of the user's files).
enum class Weights { Files, Random };

// The model of stage 1 with the student's starting weights (`model.init`) loaded when the recipe
// has them: what a fresh run trains first.
std::shared_ptr<Model> build_initial_model(const Recipe& recipe, const Task& task, Weights weights = Weights::Files);
std::shared_ptr<Model> build_initial_model(const Recipe& recipe);

// The recipe's teacher: built, loaded, in eval mode, without gradients.
std::shared_ptr<Model> build_teacher(const Recipe& recipe, const Task& task, Weights weights = Weights::Files);
std::shared_ptr<Model> build_teacher(const Recipe& recipe);

// The recipe's task, without its distiller.
std::shared_ptr<Task> build_task(const Recipe& recipe);

// The distiller of the recipe's distill: section against `teacher` (null without a teacher:).
std::shared_ptr<Distiller> build_distiller(const Recipe& recipe, std::shared_ptr<Model> teacher);

// The recipe's data set (options checked; nothing read yet).
std::shared_ptr<DataSet> build_dataset(const Recipe& recipe);

}  // namespace lowbit::engine
