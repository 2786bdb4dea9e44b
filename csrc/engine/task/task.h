#pragma once
// A task: what a batch holds, the model form a network is trained in, how a training step's
// losses are formed, which metrics evaluate, and what evaluation prints. `classification`
// (task/classification.h) is built in; the recipe's `task:` key names one (default
// classification), and a C++ user registers their own:
//   LOWBIT_REGISTER_TASK(my_task, [](const TaskSettings& s) { return std::make_shared<MyTask>(s); });
//
// A Task is a module: the distillation it trains with (a child "distill", objective/distiller.h)
// holds the loss terms, whose parameters (IDa-Det's adapters and sigma) the optimizer trains
// beside the model's and checkpoints save.

#include <lowbit/csrc/engine/metrics/metric.h>
#include <lowbit/csrc/engine/objective/distiller.h>
#include <lowbit/csrc/engine/task/model.h>
#include <lowbit/modules/models/quant_policy.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace lowbit::engine {

class Task : public torch::nn::Module {
 public:
  // The network `name` (a registry's model) with `params` and `policy`, as this task trains it.
  // Errors name the option (OptionError) as models::make does.
  virtual std::shared_ptr<Model> make_model(const std::string& name, const Params& params,
                                            const models::QuantPolicy& policy) const = 0;
  // The losses of one training step: the distiller's weighted terms when there is one, else
  // the model's own losses; and the model's outputs.
  virtual StepOutput step(Model& model, const Batch& batch);
  // Metrics of an evaluation when the recipe names none, and of the training records.
  virtual std::vector<MetricSpec> default_metrics() const = 0;
  virtual std::vector<MetricSpec> train_metrics() const = 0;
  // An evaluation's values as `eval` prints them, e.g. "loss 0.3512  top1 87.21  top5 99.60".
  virtual std::string describe(const MetricValues& values) const;

  void set_distiller(std::shared_ptr<Distiller> distiller);
  const std::shared_ptr<Distiller>& distiller() const { return distiller_; }

 private:
  std::shared_ptr<Distiller> distiller_;
};

// "test <description> (N images)"; a multi-line description (the 12 COCO lines) goes below a
// "test (N images):" line, as pycocotools prints its summary. No trailing newline.
std::string test_report(const std::string& description, int64_t samples);

// What a task factory gets from the recipe.
struct TaskSettings {
  double label_smoothing = 0;  // train.label_smoothing
};

using TaskFactory = std::function<std::shared_ptr<Task>(const TaskSettings& settings)>;

bool register_task(const std::string& name, TaskFactory factory);
// Throws OptionError at "task" for an unknown name.
std::shared_ptr<Task> make_task(const std::string& name, const TaskSettings& settings);
std::vector<std::string> registered_tasks();

}  // namespace lowbit::engine

#define LOWBIT_REGISTER_TASK(name, factory) \
  static const bool lowbit_task_registered_##name = ::lowbit::engine::register_task(#name, factory)
