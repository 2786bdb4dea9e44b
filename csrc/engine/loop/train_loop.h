#pragma once
// The epochs of one stage, from the state's position to the stage's end: per batch, the task's
// losses (under float16 autocast with amp) and one OptimStep; after every eval_every-th epoch
// and the last an evaluation.
// Batches reach the device one ahead of the step (datasets/device_prefetch.h: pinned memory, a side
// stream on CUDA). Everything else (lr, logs, progress, checkpoints, module hooks) is a hook. Data-parallel, a
// step's batch is this process's share and the backward averages the gradients (dist/).

#include <lowbit/csrc/engine/datasets/dataset.h>
#include <lowbit/csrc/engine/dist/data_parallel.h>
#include <lowbit/csrc/engine/loop/eval_loop.h>
#include <lowbit/csrc/engine/loop/hook.h>
#include <lowbit/csrc/engine/optim/mixed_precision.h>

namespace lowbit::engine {

struct TrainLoopOptions {
  torch::Device device = torch::kCPU;
  Amp amp = Amp::Off;         // autocast of the forward pass (optim/mixed_precision.h)
  int64_t epochs_before = 0;  // data epochs of earlier stages, so that every epoch has its own order
  int64_t eval_every = 1;     // evaluate after epochs eval_every, 2 eval_every, ... and the last
  int64_t epochs = 0;         // > 0: stop after this many epochs (the last of them evaluates)
  bool channels_last = false;  // images in NHWC (the model's weights: task/channels_last.h)
  // Data-parallel: this process's equal share of every batch, and the gradient all-reduce.
  data::Shard shard;
  dist::DataParallel* data_parallel = nullptr;
};

class TrainLoop {
 public:
  TrainLoop(TrainState& state, DataSource& train, EvalLoop& eval, HookList& hooks, TrainLoopOptions options);
  // Returns the last evaluation (empty when the stage had no epoch left to train).
  EvalResult run();

 private:
  void train_epoch();
  void train_step(const Batch& batch);

  TrainState& state_;
  DataSource& train_;
  EvalLoop& eval_;
  HookList& hooks_;
  TrainLoopOptions options_;
};

}  // namespace lowbit::engine
