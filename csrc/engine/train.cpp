#include <lowbit/csrc/engine/train.h>

#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/recipe/recipe_error.h>

#include <torch/cuda.h>
#include <torch/utils.h>

namespace lowbit::engine {
namespace {

// Every stage's model and the teacher, once, on two example images, with the distiller: a term
// whose taps or outputs a model lacks, or has in another shape, fails before the run starts.
void dry_run_distillation(const Recipe& recipe, const Task& task) {
  const auto distiller = build_distiller(recipe, recipe.teacher ? build_teacher(recipe, task) : nullptr);
  const auto batch = build_dataset(recipe)->example(2);
  torch::NoGradGuard no_grad;
  for (size_t s = 0; s < recipe.stages.size(); ++s) {
    auto student = build_model(recipe, task, s);
    student->eval();
    try {
      distiller->forward(*student, batch);
    } catch (const OptionError& e) {
      const auto stage = recipe.stages.size() > 1 ? " (stage " + std::to_string(s + 1) + ")" : "";
      recipe.fail("distill", OptionError(e.key(), e.msg(), e.detail() + stage));
    }
  }
}

}  // namespace

torch::Device device_of(const Recipe& recipe) {
  torch::Device device(recipe.device);
  if (device.is_cuda() && !torch::cuda::is_available()) {
    recipe.fail("device", "'" + recipe.device + "' asked for, but no CUDA device is available");
  }
  return device;
}

void validate(const Recipe& recipe) {
  if (recipe.train.amp && !device_of(recipe).is_cuda()) recipe.fail("train.amp", "mixed precision needs device: cuda");
  const auto task = build_task(recipe);
  build_initial_model(recipe, *task);
  for (size_t s = 1; s < recipe.stages.size(); ++s) build_model(recipe, *task, s);
  if (recipe.distill) {
    dry_run_distillation(recipe, *task);
  } else if (recipe.teacher) {
    build_teacher(recipe, *task);
  }
  const auto data = build_dataset(recipe);
  for (const auto split : {data::Split::Train, data::Split::Test}) {
    try {
      data->open(split);
    } catch (const c10::Error& e) {
      recipe.fail("data", e);
    }
  }
}

RunnerOptions runner_options(const Recipe& recipe, const std::string& run_dir, bool resume, std::ostream& out) {
  RunnerOptions o;
  o.stages.assign(recipe.stages.begin(), recipe.stages.end());
  const std::shared_ptr<Task> prototype = build_task(recipe);
  std::shared_ptr<Model> teacher = recipe.distill && recipe.teacher ? build_teacher(recipe, *prototype) : nullptr;
  o.task = [&recipe, teacher] {
    auto task = build_task(recipe);
    if (recipe.distill) task->set_distiller(build_distiller(recipe, teacher));
    return task;
  };
  o.model = [&recipe, prototype](size_t stage, bool fresh) {
    return fresh ? build_initial_model(recipe, *prototype) : build_model(recipe, *prototype, stage);
  };
  o.data = build_dataset(recipe);
  o.eval_metrics = recipe.eval_metrics;
  o.seed = recipe.seed;
  o.device = device_of(recipe);
  o.amp = recipe.train.amp;
  o.log_every = recipe.train.log_every;
  o.checkpoint_every = recipe.train.checkpoint_every;
  o.eval_every = recipe.train.eval_every;
  o.run_dir = run_dir;
  o.resume = resume;
  o.out = &out;
  return o;
}

TrainResult train(const Recipe& recipe, const std::string& run_dir, bool resume, std::ostream& out) {
  return Runner(runner_options(recipe, run_dir, resume, out)).run();
}

}  // namespace lowbit::engine
