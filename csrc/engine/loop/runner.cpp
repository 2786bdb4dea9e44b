#include <lowbit/csrc/engine/loop/runner.h>

#include <lowbit/csrc/engine/logging/metrics_log.h>
#include <lowbit/csrc/engine/loop/hooks.h>
#include <lowbit/csrc/engine/loop/stage_switch.h>
#include <lowbit/csrc/engine/loop/train_loop.h>
#include <lowbit/csrc/engine/task/channels_last.h>
#include <lowbit/csrc/util/files.h>

#include <torch/cuda.h>
#include <torch/utils.h>

#include <chrono>
#include <optional>

namespace lowbit::engine {

struct Runner::Run {
  std::string checkpoint;
  std::unique_ptr<DataSource> train, test;
  Position start;
  std::unique_ptr<MetricsLog> log;
  std::shared_ptr<Task> task;
  std::unique_ptr<EvalLoop> eval;
  int64_t epochs_before = 0;  // data epochs of earlier stages
  int64_t step = 0;           // optimizer steps so far
  TrainResult result;
};

Runner::Runner(RunnerOptions options) : options_(std::move(options)) {
  TORCH_CHECK_VALUE(!options_.stages.empty(), "Runner: no stages");
  TORCH_CHECK_VALUE(options_.model && options_.task && options_.data, "Runner: model, task and data are required");
  TORCH_CHECK_VALUE(options_.out != nullptr, "Runner: out is null");
  TORCH_CHECK_VALUE(options_.log_every > 0, "Runner: log_every must be positive, got ", options_.log_every);
  TORCH_CHECK_VALUE(!writes() || util::is_directory(options_.run_dir), "Runner: run_dir '", options_.run_dir,
                    "' is not a directory");
}

TrainResult Runner::run() {
  const auto started = std::chrono::steady_clock::now();
  Run run;
  hooks::ReplicasScope replicas(options_.group.get());
  run.checkpoint = util::join_path(options_.run_dir, "checkpoint.pt");
  run.train = options_.data->open(data::Split::Train);
  run.test = options_.data->open(data::Split::Test);
  run.start = options_.resume ? read_position(run.checkpoint) : Position{};
  run.step = run.start.step;
  if (writes()) {
    run.log = std::make_unique<MetricsLog>(options_.run_dir,
                                           options_.resume ? std::optional<int64_t>(run.start.step) : std::nullopt);
  }
  torch::manual_seed(options_.seed);
  run.task = options_.task();
  run.task->to(options_.device);
  const auto teacher = run.task->distiller() ? run.task->distiller()->teacher() : nullptr;
  if (teacher) teacher->to(options_.device);
  if (teacher && options_.channels_last) to_channels_last(*teacher);
  const auto metrics = options_.eval_metrics.empty() ? run.task->default_metrics() : options_.eval_metrics;
  run.eval = std::make_unique<EvalLoop>(*run.test, make_metrics(metrics), options_.device, options_.group.get());
  std::shared_ptr<Model> previous;
  for (size_t s = 0; s < options_.stages.size(); ++s) {
    if (static_cast<int64_t>(s) < run.start.stage) {
      run.epochs_before += options_.stages[s].epochs;
      continue;
    }
    // A fresh run starts from the model's initial weights; a resumed one from its checkpoint.
    auto model = options_.model(s, s == 0 && !options_.resume);
    if (previous) copy_matching(*previous, *model);
    model->to(options_.device);
    if (options_.channels_last) to_channels_last(*model);
    run_stage(run, s, model);
    run.epochs_before += options_.stages[s].epochs;
    previous = model;
  }
  run.result.task = run.task;
  run.result.teacher = teacher;
  run.result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return run.result;
}

void Runner::run_stage(Run& run, size_t s, const std::shared_ptr<Model>& model) {
  const auto& stage = options_.stages[s];
  // The task's parameters (loss terms) train with the model's, after them.
  auto parameters = model->named_parameters();
  for (const auto& p : run.task->named_parameters()) parameters.insert(p.key(), p.value());
  auto optimizer = make_optimizer(stage.optimizer, parameters);
  auto clipped = model->parameters();
  for (const auto& p : run.task->parameters()) clipped.push_back(p);
  OptimStep optim_step(*optimizer.optimizer, clipped, stage.grad_clip, options_.amp == Amp::Float16);
  TrainState state{stage.name, stage.epochs, run.train->batches_per_epoch(),
                   Position{static_cast<int64_t>(s), 0, 0, run.step}, model.get(), run.task.get(), &optimizer,
                   &optim_step};
  HookList hooks;
  add_hooks(hooks, run, stage);
  if (options_.resume && static_cast<int64_t>(s) == run.start.stage) resume_stage(run, state, hooks);
  const bool trains = state.position.epoch < stage.epochs;
  const auto parallel = data_parallel(parameters, *model);
  TrainLoopOptions loop_options;
  loop_options.device = options_.device;
  loop_options.amp = options_.amp;
  loop_options.channels_last = options_.channels_last;
  loop_options.epochs_before = run.epochs_before;
  loop_options.eval_every = options_.eval_every;
  loop_options.epochs = options_.stage_epochs;
  if (parallel) loop_options.shard = {options_.group->rank(), options_.group->world_size(), true};
  loop_options.data_parallel = parallel.get();
  TrainLoop loop(state, *run.train, *run.eval, hooks, loop_options);
  const auto last = loop.run();
  if (trains) run.result.final_eval = last;
  run.step = state.position.step;
  run.result.steps = run.step;
  run.result.model = model;
}

// Rank 0 of a data-parallel run alone shows progress, logs and checkpoints (the ranks' states agree).
void Runner::add_hooks(HookList& hooks, Run& run, const StageOptions& stage) const {
  ScheduleSpan span{stage.optimizer.lr, stage.epochs, stage.schedule.warmup_epochs};
  hooks.add(std::make_shared<LrScheduleHook>(Schedule(stage.schedule, span)));
  hooks.add(std::make_shared<ModuleHooksHook>());
  if (writes()) {
    hooks.add(std::make_shared<ProgressHook>(
        *options_.out, ProgressOptions().style(progress_style_for(*options_.out)).line_every(options_.log_every)));
    hooks.add(std::make_shared<MetricsLogHook>(*run.log, options_.log_every, make_metrics(run.task->train_metrics())));
  }
  for (const auto& hook : options_.hooks) hooks.add(hook);
  // Last, so that a checkpoint holds what every other hook did at that step.
  if (writes()) hooks.add(std::make_shared<CheckpointHook>(run.checkpoint, options_.checkpoint_every, hooks));
}

// `parameters` (the model's and the task's) all-reduced, the model's buffers broadcast.
std::unique_ptr<dist::DataParallel> Runner::data_parallel(const torch::OrderedDict<std::string, torch::Tensor>& parameters,
                                                          const Model& model) const {
  if (!options_.group) return nullptr;
  return std::make_unique<dist::DataParallel>(*options_.group, parameters, model.buffers(), options_.data_parallel);
}

void Runner::resume_stage(Run& run, TrainState& state, HookList& hooks) const {
  Extras extras;
  state.position = load_checkpoint(run.checkpoint, *state.model, state.optimizer->optimizer.get(), &extras, state.task);
  if (extras.count("scaler")) state.optim_step->scaler().load_state(extras.at("scaler"));
  hooks.after_load(state, extras);
  if (!writes()) return;
  *options_.out << "resumed " << run.checkpoint << " at stage " << state.position.stage + 1 << ", epoch "
                << state.position.epoch + 1 << ", batch " << state.position.batch << "\n";
}

}  // namespace lowbit::engine
