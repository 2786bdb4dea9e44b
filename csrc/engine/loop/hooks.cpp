#include <lowbit/csrc/engine/loop/hooks.h>

#include <lowbit/modules/hooks/training_hooks.h>

#include <torch/types.h>

namespace lowbit::engine {
namespace {

// The loss, then its parts when it has several: the values shown and logged.
std::vector<torch::Tensor> shown_losses(const StepOutput& step) {
  std::vector<torch::Tensor> shown{step.loss.detach().to(torch::kDouble)};
  if (step.losses.size() > 1) {
    for (const auto& entry : step.losses.entries()) shown.push_back(entry.second.detach().to(torch::kDouble));
  }
  return shown;
}

}  // namespace

void LrScheduleHook::before_step(TrainState& s) {
  const double epochs_done = s.position.epoch + static_cast<double>(s.position.batch) / s.batches_per_epoch;
  set_lr_factor(*s.optimizer, schedule_.factor(epochs_done));
}

void ModuleHooksHook::before_epoch(TrainState& s) { hooks::begin_epoch(*s.model, s.position.epoch, s.epochs); }

void ModuleHooksHook::after_step(TrainState& s, const Batch&, const StepOutput&) { hooks::end_step(*s.model); }

ProgressHook::ProgressHook(std::ostream& out, ProgressOptions options) : out_(out), progress_(out, std::move(options)) {}

void ProgressHook::before_epoch(TrainState& s) {
  progress_.start_epoch(s.position.epoch + 1, s.epochs, s.batches_per_epoch);
}

void ProgressHook::after_step(TrainState& s, const Batch& batch, const StepOutput& step) {
  progress_.step(s.position.batch, batch.size(), [&] {
    const auto values = torch::stack(shown_losses(step)).to(torch::kCPU);
    ProgressValues shown{values[0].item<double>(), s.lr(), {}};
    const auto names = step.losses.names();
    for (int64_t i = 1; i < values.size(0); ++i) shown.terms.emplace_back(names[i - 1], values[i].item<double>());
    return shown;
  });
}

void ProgressHook::after_train_epoch(TrainState&) { progress_.end_epoch(); }

void ProgressHook::after_eval(TrainState& s, const MetricValues& values, int64_t samples) {
  out_ << s.stage_name << " epoch " << s.position.epoch + 1 << "/" << s.epochs << "  "
       << test_report(s.task->describe(values), samples) << std::endl;
}

MetricsLogHook::MetricsLogHook(MetricsLog& log, int64_t log_every, std::unique_ptr<Metric> train_metrics)
    : log_(log), log_every_(log_every), train_metrics_(std::move(train_metrics)) {}

void MetricsLogHook::start_window() {
  sums_ = torch::Tensor();
  samples_ = 0;
  train_metrics_->reset();
  window_start_ = std::chrono::steady_clock::now();
}

void MetricsLogHook::before_epoch(TrainState&) { start_window(); }

void MetricsLogHook::after_step(TrainState& s, const Batch& batch, const StepOutput& step) {
  const auto weighted = torch::stack(shown_losses(step)) * static_cast<double>(batch.size());
  sums_ = sums_.defined() ? sums_ + weighted : weighted;
  samples_ += batch.size();
  parts_ = step.losses.size() > 1 ? step.losses.names() : std::vector<std::string>{};
  train_metrics_->update(batch, step.outputs);
  if (s.position.batch % log_every_ == 0 || s.position.batch == s.batches_per_epoch) write_window(s);
}

void MetricsLogHook::write_window(TrainState& s) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start_).count();
  const auto sums = sums_.to(torch::kCPU);
  const double n = static_cast<double>(samples_);
  MetricsRecord record{"train", s.position.epoch, s.position.step, {{"loss", sums[0].item<double>() / n}}};
  for (size_t i = 0; i < parts_.size(); ++i) {
    record.values.emplace_back("loss_" + parts_[i], sums[static_cast<int64_t>(i) + 1].item<double>() / n);
  }
  for (auto& value : train_metrics_->compute()) record.values.push_back(std::move(value));
  record.values.insert(record.values.end(), {{"lr", s.lr()}, {"images_per_s", n / seconds}});
  log_.write(record);
  start_window();
}

void MetricsLogHook::after_eval(TrainState& s, const MetricValues& values, int64_t) {
  log_.write({"eval", s.position.epoch, s.position.step, values});
}

CheckpointHook::CheckpointHook(std::string path, int64_t every, HookList& hooks)
    : path_(std::move(path)), every_(every), hooks_(hooks) {}

void CheckpointHook::after_step(TrainState& s, const Batch&, const StepOutput&) {
  if (every_ > 0 && s.position.step % every_ == 0) save(s, s.position);
}

void CheckpointHook::after_epoch(TrainState& s) {
  save(s, Position{s.position.stage, s.position.epoch + 1, 0, s.position.step});
}

void CheckpointHook::save(TrainState& s, const Position& position) {
  Extras extras{{"scaler", s.optim_step->scaler().state()}};
  hooks_.before_save(s, extras);
  save_checkpoint(path_, *s.model, *s.optimizer->optimizer, position, extras, s.task);
}

}  // namespace lowbit::engine
