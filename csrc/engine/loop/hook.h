#pragma once
// Engine hooks (as mmengine's Hook): what happens around the training loop's steps without being
// the loop. The built-in ones (loop/hooks.h) set the learning rate, call the modules' training
// hooks (AdaBin's EDE schedule), draw the progress line, write the metric logs and save
// checkpoints; a C++ user adds their own to the Runner. Calls, per stage:
//
//   after_load (resumed stage)
//   per epoch:  before_epoch
//               per batch: before_step, <step>, after_step
//               after_train_epoch, <evaluation>, after_eval, after_epoch
//   before_save whenever a checkpoint is written (add extras, which after_load gets back)
//
// Hooks run in the order they were added. State a hook keeps across a resume belongs in the
// checkpoint's extras (before_save / after_load).

#include <lowbit/csrc/engine/checkpoint/checkpoint.h>
#include <lowbit/csrc/engine/metrics/metric.h>
#include <lowbit/csrc/engine/optim/optim_step.h>
#include <lowbit/csrc/engine/optim/optimizer.h>
#include <lowbit/csrc/engine/task/task.h>

#include <memory>
#include <string>
#include <vector>

namespace lowbit::engine {

// What hooks see of the run.
struct TrainState {
  std::string stage_name;
  int64_t epochs = 0;             // of the stage
  int64_t batches_per_epoch = 0;
  Position position;              // before a step: the next batch; after it: the batch done
  Model* model = nullptr;
  Task* task = nullptr;
  BuiltOptimizer* optimizer = nullptr;
  OptimStep* optim_step = nullptr;

  double lr() const { return optimizer->optimizer->param_groups()[0].options().get_lr(); }
};

class Hook {
 public:
  virtual ~Hook() = default;
  virtual void before_epoch(TrainState& state) {}
  virtual void before_step(TrainState& state) {}
  virtual void after_step(TrainState& state, const Batch& batch, const StepOutput& step) {}
  virtual void after_train_epoch(TrainState& state) {}
  virtual void after_eval(TrainState& state, const MetricValues& values, int64_t samples) {}
  virtual void after_epoch(TrainState& state) {}
  virtual void before_save(TrainState& state, Extras& extras) {}
  virtual void after_load(TrainState& state, const Extras& extras) {}
};

// Hooks called in order.
class HookList {
 public:
  void add(std::shared_ptr<Hook> hook) { hooks_.push_back(std::move(hook)); }
  void before_epoch(TrainState& s);
  void before_step(TrainState& s);
  void after_step(TrainState& s, const Batch& batch, const StepOutput& step);
  void after_train_epoch(TrainState& s);
  void after_eval(TrainState& s, const MetricValues& values, int64_t samples);
  void after_epoch(TrainState& s);
  void before_save(TrainState& s, Extras& extras);
  void after_load(TrainState& s, const Extras& extras);

 private:
  std::vector<std::shared_ptr<Hook>> hooks_;
};

}  // namespace lowbit::engine
