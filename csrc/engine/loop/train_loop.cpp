#include <lowbit/csrc/engine/loop/train_loop.h>

#include <lowbit/csrc/engine/datasets/device_prefetch.h>

#include <algorithm>

namespace lowbit::engine {

TrainLoop::TrainLoop(TrainState& state, DataSource& train, EvalLoop& eval, HookList& hooks, TrainLoopOptions options)
    : state_(state), train_(train), eval_(eval), hooks_(hooks), options_(options) {}

EvalResult TrainLoop::run() {
  EvalResult last;
  auto& p = state_.position;
  const auto end = options_.epochs > 0 ? std::min(state_.epochs, p.epoch + options_.epochs) : state_.epochs;
  for (; p.epoch < end; ++p.epoch, p.batch = 0) {
    train_epoch();
    hooks_.after_train_epoch(state_);
    if ((p.epoch + 1) % options_.eval_every == 0 || p.epoch + 1 == end) {
      last = eval_.run(*state_.model);
      hooks_.after_eval(state_, last.values, last.samples);
    }
    hooks_.after_epoch(state_);
  }
  return last;
}

void TrainLoop::train_epoch() {
  state_.model->train();
  hooks_.before_epoch(state_);
  auto reader = prefetch_to_device(
      train_.shard_epoch(options_.epochs_before + state_.position.epoch, state_.position.batch, options_.shard),
      options_.device, PrefetchOptions().channels_last(options_.channels_last));
  Batch batch;
  while (reader->next(batch)) train_step(batch);
}

void TrainLoop::train_step(const Batch& host_batch) {
  hooks_.before_step(state_);
  const auto batch = host_batch.to(options_.device);
  StepOutput step;
  if (options_.data_parallel) options_.data_parallel->before_forward();
  {
    const AutocastScope autocast(options_.amp, options_.device.type());
    step = state_.task->step(*state_.model, batch);
    step.loss = step.losses.total();
  }
  if (options_.data_parallel) {
    options_.data_parallel->before_backward(step.loss);
    options_.data_parallel->backward([&] { (*state_.optim_step)(step.loss); });
  } else {
    (*state_.optim_step)(step.loss);
  }
  ++state_.position.batch;
  ++state_.position.step;
  hooks_.after_step(state_, batch, step);
}

}  // namespace lowbit::engine
