#pragma once
// The built-in engine hooks (loop/hook.h), which the Runner adds in this order (the user's hooks
// go between MetricsLogHook and CheckpointHook):
//   LrScheduleHook   before each step: every group's lr = base lr · schedule factor at
//                    t = epoch + batch / batches_per_epoch
//   ModuleHooksHook  the modules' training hooks (modules/hooks): begin_epoch before each epoch
//                    (also the epoch a resumed run starts in), end_step after each step
//   ProgressHook     the progress line (logging/progress.h) and, after each evaluation,
//                    "<stage> epoch e/E  test <task's description>"
//   MetricsLogHook   a "train" record every log_every steps and at an epoch's last step: mean
//                    loss (and each part, when the loss has several) over the steps since the
//                    last record, the task's training metrics, lr, images/s; an "eval" record
//                    after each evaluation (logging/metrics_log.h)
//   CheckpointHook   the run's checkpoint every `every` steps (0: never mid-epoch) and after each
//                    epoch, written atomically, with the loss scaler's state and the extras of
//                    every hook's before_save
// Values are read from the device only where shown: when the progress line is drawn and when a
// record is written.

#include <lowbit/csrc/engine/logging/metrics_log.h>
#include <lowbit/csrc/engine/logging/progress.h>
#include <lowbit/csrc/engine/loop/hook.h>
#include <lowbit/csrc/engine/optim/schedule.h>

#include <chrono>
#include <ostream>

namespace lowbit::engine {

class LrScheduleHook : public Hook {
 public:
  explicit LrScheduleHook(Schedule schedule) : schedule_(std::move(schedule)) {}
  void before_step(TrainState& s) override;

 private:
  Schedule schedule_;
};

class ModuleHooksHook : public Hook {
 public:
  void before_epoch(TrainState& s) override;
  void after_step(TrainState& s, const Batch& batch, const StepOutput& step) override;
};

class ProgressHook : public Hook {
 public:
  ProgressHook(std::ostream& out, ProgressOptions options);
  void before_epoch(TrainState& s) override;
  void after_step(TrainState& s, const Batch& batch, const StepOutput& step) override;
  void after_train_epoch(TrainState& s) override;
  void after_eval(TrainState& s, const MetricValues& values, int64_t samples) override;

 private:
  std::ostream& out_;
  Progress progress_;
};

class MetricsLogHook : public Hook {
 public:
  MetricsLogHook(MetricsLog& log, int64_t log_every, std::unique_ptr<Metric> train_metrics);
  void before_epoch(TrainState& s) override;
  void after_step(TrainState& s, const Batch& batch, const StepOutput& step) override;
  void after_eval(TrainState& s, const MetricValues& values, int64_t samples) override;

 private:
  void start_window();
  void write_window(TrainState& s);

  MetricsLog& log_;
  int64_t log_every_;
  std::unique_ptr<Metric> train_metrics_;
  std::vector<std::string> parts_;  // the loss's parts, when it has several
  torch::Tensor sums_;              // double [1 + parts]: Σ loss·n, Σ part·n over the window
  int64_t samples_ = 0;
  std::chrono::steady_clock::time_point window_start_;
};

class CheckpointHook : public Hook {
 public:
  // `hooks`: whose before_save add extras (the list this hook is in).
  CheckpointHook(std::string path, int64_t every, HookList& hooks);
  void after_step(TrainState& s, const Batch& batch, const StepOutput& step) override;
  void after_epoch(TrainState& s) override;

 private:
  void save(TrainState& s, const Position& position);

  std::string path_;
  int64_t every_;
  HookList& hooks_;
};

}  // namespace lowbit::engine
