#include <lowbit/csrc/engine/train.h>

#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/recipe/recipe_error.h>

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/cuda.h>
#include <torch/utils.h>

namespace lowbit::engine {
namespace {

// Every stage's model and the teacher, once, on two example images, with the distiller: a term
// whose taps or outputs a model lacks, or has in another shape, fails before the run starts.
void dry_run_distillation(const Recipe& recipe, const Task& task, Weights weights, const DataSet& examples) {
  const auto distiller = build_distiller(recipe, recipe.teacher ? build_teacher(recipe, task, weights) : nullptr);
  const auto batch = examples.example(2);
  torch::NoGradGuard no_grad;
  for (size_t s = 0; s < recipe.stages.size(); ++s) {
    auto student = build_model(recipe, task, s);
    student->eval();
    try {
      distiller->forward(*student, batch);
    } catch (const OptionError& e) {
      fail_at_distill(recipe, e, s);
    }
  }
}

}  // namespace

void fail_at_distill(const Recipe& recipe, const OptionError& error, size_t stage) {
  const auto where = recipe.stages.size() > 1 ? " (stage " + std::to_string(stage + 1) + ")" : "";
  recipe.fail("distill", OptionError(error.key(), error.msg(), error.detail() + where));
}

void check_device(const Recipe& recipe) {
  if (!device_of(recipe).is_cuda() && recipe.train.amp == Amp::Float16) {
    recipe.fail("train.amp", "float16 mixed precision needs device: cuda (bf16 runs on the CPU too)");
  }
}

torch::Device device_of(const Recipe& recipe) {
  torch::Device device(recipe.device);
  if (!device.is_cuda()) return device;
  const auto count = static_cast<int64_t>(torch::cuda::device_count());
  const std::string asked = "'" + recipe.device + "' asked for, but ";
  if (count == 0) recipe.fail("device", asked + "no CUDA device is available (--set device=cpu trains on the CPU)");
  if (device.has_index() && device.index() >= count) {
    recipe.fail("device", asked + "this machine has " + std::to_string(count) + " CUDA device" + (count == 1 ? "" : "s") +
                              ", cuda:0 to cuda:" + std::to_string(count - 1));
  }
  return device;
}

void check_models(const Recipe& recipe, Weights weights, const DataSet& examples) {
  check_device(recipe);
  const auto task = build_task(recipe);
  build_initial_model(recipe, *task, weights);
  for (size_t s = 1; s < recipe.stages.size(); ++s) build_model(recipe, *task, s);
  if (recipe.distill) {
    dry_run_distillation(recipe, *task, weights, examples);
  } else if (recipe.teacher) {
    build_teacher(recipe, *task, weights);
  }
}

void validate(const Recipe& recipe, Weights weights) {
  check_device(recipe);
  const auto data = build_dataset(recipe);
  for (const auto split : {data::Split::Train, data::Split::Test}) {  // before the models: seconds to build
    try {
      data->open(split);
    } catch (const c10::Error& e) {
      recipe.fail("data", e);
    }
  }
  check_models(recipe, weights, *data);
}

// Each process of a data-parallel run on its own GPU: `cuda` means cuda:LOCAL_RANK; `cuda:N` would
// put every process of the machine on GPU N.
torch::Device process_device(const Recipe& recipe, const dist::Environment& env) {
  const torch::Device asked(recipe.device);
  if (asked.is_cuda() && asked.has_index() && env.distributed() && env.local_world_size > 1) {
    recipe.fail("device", "'" + recipe.device + "' would put all " + std::to_string(env.local_world_size) +
                              " processes of this machine on one GPU: 'cuda' gives each its own, cuda:LOCAL_RANK");
  }
  const auto device = device_of(recipe);
  if (!device.is_cuda() || device.has_index() || !env.distributed()) return device;
  if (env.local_rank >= static_cast<int64_t>(torch::cuda::device_count())) {
    throw dist::SetupError("local rank " + std::to_string(env.local_rank) + " has no GPU of its own (" +
                           std::to_string(torch::cuda::device_count()) + " visible): start at most that many processes per machine");
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
}

std::shared_ptr<dist::ProcessGroup> join_group(const Recipe& recipe, const dist::Environment& env) {
  if (!env.distributed()) return nullptr;
  if (recipe.data.batch_size % env.world_size != 0) {
    recipe.fail("data.batch_size", std::to_string(recipe.data.batch_size) + " (the whole batch) does not split evenly over " +
                                       std::to_string(env.world_size) + " processes");
  }
  const auto device = process_device(recipe, env);
  if (device.is_cuda()) c10::impl::getDeviceGuardImpl(c10::kCUDA)->setDevice(device);  // NCCL's current device
  const auto& d = recipe.distributed;
  auto group = std::make_shared<dist::ProcessGroup>(
      env, device, dist::GroupOptions{d.backend, std::chrono::seconds(d.timeout_s)});
  group->sync_batch_norm = d.sync_bn;
  return group;
}

RunnerOptions runner_options(const Recipe& recipe, const std::string& run_dir, bool resume, std::ostream& out,
                             std::shared_ptr<dist::ProcessGroup> group, Weights weights) {
  RunnerOptions o;
  o.stages.assign(recipe.stages.begin(), recipe.stages.end());
  const std::shared_ptr<Task> prototype = build_task(recipe);
  std::shared_ptr<Model> teacher = recipe.distill && recipe.teacher ? build_teacher(recipe, *prototype, weights) : nullptr;
  o.task = [&recipe, teacher] {
    auto task = build_task(recipe);
    if (recipe.distill) task->set_distiller(build_distiller(recipe, teacher));
    return task;
  };
  o.model = [&recipe, prototype, weights](size_t stage, bool fresh) {
    return fresh ? build_initial_model(recipe, *prototype, weights) : build_model(recipe, *prototype, stage);
  };
  o.data = build_dataset(recipe);
  o.eval_metrics = recipe.eval_metrics;
  o.seed = recipe.seed;
  o.device = group ? process_device(recipe, group->environment()) : device_of(recipe);
  o.amp = recipe.train.amp;
  o.channels_last = recipe.train.channels_last;
  o.log_every = recipe.train.log_every;
  o.checkpoint_every = recipe.train.checkpoint_every;
  o.eval_every = recipe.train.eval_every;
  o.run_dir = run_dir;
  o.resume = resume;
  o.out = &out;
  const auto& d = recipe.distributed;
  o.group = std::move(group);
  o.data_parallel = {d.broadcast_buffers, d.find_unused_parameters, d.bucket_mb};
  return o;
}

TrainResult train(const Recipe& recipe, const std::string& run_dir, bool resume, std::ostream& out,
                  std::shared_ptr<dist::ProcessGroup> group) {
  // A peer's failure arrives as a PeerError: every communication goes through ProcessGroup::guarded.
  return Runner(runner_options(recipe, run_dir, resume, out, std::move(group))).run();
}

}  // namespace lowbit::engine
