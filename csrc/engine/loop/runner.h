#pragma once
// The Runner trains a model through its stages in a run directory (as mmengine's Runner); what
// `lowbit train` runs (train.h makes one from a recipe), and the C++ API for a model, data or
// task of the user's own:
//
//   engine::RunnerOptions o;
//   o.stages = {stage};                                      // epochs, optimizer, schedule, clip
//   o.model = [](size_t stage, bool fresh) { return std::make_shared<MyModel>(); };
//   o.task = [] { return std::make_shared<engine::ClassificationTask>(); };
//   o.data = engine::make_dataset(spec);
//   o.run_dir = "runs/mine";
//   auto result = engine::Runner(o).run();
//
// Per stage: the stage's model (carrying over what it shares with the previous stage's,
// copy_matching), an optimizer over its parameters and the task's (loss terms), then the
// TrainLoop with the built-in hooks (loop/hooks.h) and the user's (before the checkpoint hook,
// so that a checkpoint holds what they did at its step). The run directory holds
//   checkpoint.pt   the latest checkpoint (atomic replace; model, optimizer, task state, RNG,
//                   position, loss scaler)
//   metrics.jsonl, metrics_<kind>.csv, events.out.tfevents.*   (logging/metrics_log.h)
// A run resumed from its checkpoint continues exactly where it stopped: batch order and
// augmentation depend only on (seed, epoch, batch), the schedule only on the step.

#include <lowbit/csrc/engine/datasets/dataset.h>
#include <lowbit/csrc/engine/dist/data_parallel.h>
#include <lowbit/csrc/engine/loop/eval_loop.h>
#include <lowbit/csrc/engine/loop/hook.h>
#include <lowbit/csrc/engine/optim/mixed_precision.h>
#include <lowbit/csrc/engine/optim/stage_options.h>
#include <lowbit/csrc/engine/task/task.h>

#include <functional>
#include <iostream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace lowbit::engine {

struct RunnerOptions {
  std::vector<StageOptions> stages;
  // The model of stage `stage`; `fresh`: the first stage of a run that is not resumed (where a
  // recipe's model.init applies). Called after the seed is set.
  std::function<std::shared_ptr<Model>(size_t stage, bool fresh)> model;
  // The task (with its distiller, if any); called once, after the seed is set and before the
  // first model, so that loss-term parameters start from the seed.
  std::function<std::shared_ptr<Task>()> task;
  std::shared_ptr<DataSet> data;
  std::vector<MetricSpec> eval_metrics;  // empty: the task's defaults
  uint64_t seed = 0;
  torch::Device device = torch::kCPU;
  Amp amp = Amp::Off;             // autocast, and loss scaling for fp16 (optim/mixed_precision.h)
  bool channels_last = false;     // model and images in NHWC memory format (cuDNN's tensor cores)
  int64_t log_every = 50;         // steps between train records
  int64_t checkpoint_every = 0;   // steps between mid-epoch checkpoints; 0: after each epoch only
  int64_t eval_every = 1;         // epochs between evaluations; a stage's last epoch always evaluates
  std::string run_dir;            // must exist when the run writes
  bool resume = false;            // continue from run_dir/checkpoint.pt
  // false: nothing is written or shown (no run directory, progress, log or checkpoint), e.g. a
  // dry run (dry_run.h), whose own hook reports.
  bool write = true;
  // > 0: each stage trains only its first `stage_epochs` epochs and evaluates after the last of
  // them; its schedule and module hooks still span all of its epochs (a dry run: 1).
  int64_t stage_epochs = 0;
  std::ostream* out = &std::cout;
  // Called after the built-in hooks, except the checkpoint's, which comes last.
  std::vector<std::shared_ptr<Hook>> hooks;
  // Data-parallel training (dist/, docs/distributed.md): this process's group, null for one
  // process. Every process trains its equal share of each batch; only rank 0 prints, logs and
  // writes checkpoints (run_dir need exist there only, but a resumed run reads its checkpoint on
  // every rank).
  std::shared_ptr<dist::ProcessGroup> group;
  dist::DataParallelOptions data_parallel;
};

struct TrainResult {
  EvalResult final_eval;
  double seconds = 0;
  int64_t steps = 0;
  std::shared_ptr<Model> model;    // the last stage's trained model
  std::shared_ptr<Task> task;
  std::shared_ptr<Model> teacher;  // the distiller's, if any
};

class Runner {
 public:
  explicit Runner(RunnerOptions options);
  TrainResult run();

 private:
  struct Run;  // the state of one run()
  void run_stage(Run& run, size_t stage, const std::shared_ptr<Model>& model);
  void add_hooks(HookList& hooks, Run& run, const StageOptions& stage) const;
  void resume_stage(Run& run, TrainState& state, HookList& hooks) const;
  bool writes() const { return options_.write && (!options_.group || options_.group->rank() == 0); }
  std::unique_ptr<dist::DataParallel> data_parallel(const torch::OrderedDict<std::string, torch::Tensor>& parameters,
                                                    const Model& model) const;

  RunnerOptions options_;
};

}  // namespace lowbit::engine
