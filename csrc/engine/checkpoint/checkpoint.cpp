#include <lowbit/csrc/engine/checkpoint/checkpoint.h>

#include <lowbit/csrc/util/files.h>
#include <lowbit/csrc/util/input_error.h>

#include <torch/serialize.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>

#include <cstdio>
#include <mutex>
#include <optional>

namespace lowbit::engine {
namespace {

at::Tensor position_tensor(const Position& p) { return torch::tensor({p.stage, p.epoch, p.batch, p.step}, torch::kLong); }

Position position_from(torch::serialize::InputArchive& archive) {
  torch::Tensor t;
  archive.read("progress", t);
  return {t[0].item<int64_t>(), t[1].item<int64_t>(), t[2].item<int64_t>(), t[3].item<int64_t>()};
}

// Every tensor read onto `device`: LibTorch's Module::load moves a parameter to the device its saved
// tensor is read onto, and the optimizer's state is made there, so a model loads on its own device
// (a checkpoint of cuda:0 into rank 1's model on cuda:1, or of a GPU run into a CPU model); what no
// module keeps is read onto the CPU (nor does a machine without a GPU need one to read a GPU run's file).
torch::serialize::InputArchive open(const std::string& path, const torch::Device& device = torch::kCPU) {
  if (!util::file_exists(path)) throw InputError(path + ": checkpoint not found");
  torch::serialize::InputArchive archive;
  archive.load_from(path, device);
  return archive;
}

// The device of a module's first parameter or buffer (the CPU for one without any).
torch::Device device_of(const torch::nn::Module& module) {
  for (const auto& p : module.parameters()) return p.device();
  for (const auto& b : module.buffers()) return b.device();
  return torch::kCPU;
}

// The generator of `device` whose state a checkpoint keeps besides the CPU's: CUDA's draws dropout
// and drop-path masks on a GPU. None on the CPU.
std::optional<at::Generator> device_generator(const torch::Device& device) {
  if (!device.is_cuda()) return std::nullopt;
  return at::globalContext().defaultGenerator(device);
}

void set_generator_state(at::Generator generator, const torch::Tensor& state) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state.cpu());
}

[[noreturn]] void fail_loading(const std::string& path, const std::string& reason) {
  throw InputError(path + ": cannot load this checkpoint (" + reason.substr(0, reason.find('\n')) + ")");
}

// `read()` of the checkpoint at `path`, with LibTorch's errors (a truncated or corrupt file, an
// entry missing or of another shape; a damaged pickle can raise std::out_of_range too) as one
// line naming the file.
template <typename Read>
auto reading(const std::string& path, Read read) {
  try {
    return read();
  } catch (const InputError&) {
    throw;
  } catch (const c10::Error& e) {
    fail_loading(path, e.msg());
  } catch (const std::exception& e) {
    fail_loading(path, e.what());
  }
}

// Module::save writes a module's tensors under their names and each child as a nested archive.
void collect_tensors(torch::serialize::InputArchive& archive, const std::string& prefix, NamedTensors& out) {
  for (const auto& key : archive.keys()) {
    torch::Tensor tensor;
    torch::serialize::InputArchive child;
    if (archive.try_read(key, tensor)) {
      out.insert(prefix + key, tensor.detach());
    } else if (archive.try_read(key, child)) {
      collect_tensors(child, prefix + key + ".", out);
    }
  }
}

bool has_state(const torch::nn::Module* module) {
  return module && (!module->parameters().empty() || !module->buffers().empty());
}

}  // namespace

void save_checkpoint(const std::string& path, const torch::nn::Module& model, const torch::optim::Optimizer& optimizer,
                     const Position& progress, const Extras& extras, const torch::nn::Module* task) {
  torch::serialize::OutputArchive archive, model_archive, optimizer_archive;
  model.save(model_archive);
  optimizer.save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  if (has_state(task)) {
    torch::serialize::OutputArchive task_archive;
    task->save(task_archive);
    archive.write("task", task_archive);
  }
  archive.write("rng", at::detail::getDefaultCPUGenerator().get_state());
  if (const auto generator = device_generator(device_of(model))) archive.write("rng_device", generator->get_state());
  archive.write("progress", position_tensor(progress));
  for (const auto& [name, tensor] : extras) archive.write("extra." + name, tensor);
  const auto temporary = path + ".tmp";
  archive.save_to(temporary);
  TORCH_CHECK(std::rename(temporary.c_str(), path.c_str()) == 0, path, ": cannot rename the new checkpoint into place");
}

Position load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                         Extras* extras, torch::nn::Module* task) {
  return reading(path, [&] {
    const auto device = device_of(model);
    auto archive = open(path, device);
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    model.load(model_archive);
    if (optimizer) {
      torch::serialize::InputArchive optimizer_archive;
      archive.read("optimizer", optimizer_archive);
      optimizer->load(optimizer_archive);
    }
    if (has_state(task)) {
      torch::serialize::InputArchive task_archive;
      TORCH_CHECK(archive.try_read("task", task_archive),
                  "the checkpoint has no task state (the loss terms' parameters), which this run trains");
      task->load(task_archive);
    }
    if (extras) {
      for (const auto& key : archive.keys()) {
        torch::Tensor tensor;
        if (key.rfind("extra.", 0) == 0 && archive.try_read(key, tensor)) (*extras)[key.substr(6)] = tensor.cpu();
      }
    }
    torch::Tensor rng, rng_device;
    archive.read("rng", rng);
    set_generator_state(at::detail::getDefaultCPUGenerator(), rng);
    // A GPU run's file resumed on the GPU (a CPU model has no such generator; a CPU run's file none).
    const auto generator = device_generator(device);
    if (generator && archive.try_read("rng_device", rng_device)) set_generator_state(*generator, rng_device);
    return position_from(archive);
  });
}

NamedTensors read_checkpoint_model(const std::string& path) {
  return reading(path, [&] {
    auto archive = open(path);
    torch::serialize::InputArchive model_archive;
    TORCH_CHECK(archive.try_read("model", model_archive), "not a lowbit checkpoint (no model)");
    NamedTensors tensors;
    collect_tensors(model_archive, "", tensors);
    return tensors;
  });
}

Position read_position(const std::string& path) {
  return reading(path, [&] {
    auto archive = open(path);
    return position_from(archive);
  });
}

}  // namespace lowbit::engine
