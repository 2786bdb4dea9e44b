#include <lowbit/csrc/engine/checkpoint/checkpoint.h>

#include <lowbit/csrc/util/files.h>
#include <lowbit/csrc/util/input_error.h>

#include <torch/serialize.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cstdio>
#include <mutex>

namespace lowbit::engine {
namespace {

at::Tensor position_tensor(const Position& p) { return torch::tensor({p.stage, p.epoch, p.batch, p.step}, torch::kLong); }

Position position_from(torch::serialize::InputArchive& archive) {
  torch::Tensor t;
  archive.read("progress", t);
  return {t[0].item<int64_t>(), t[1].item<int64_t>(), t[2].item<int64_t>(), t[3].item<int64_t>()};
}

torch::serialize::InputArchive open(const std::string& path) {
  if (!util::file_exists(path)) throw InputError(path + ": checkpoint not found");
  torch::serialize::InputArchive archive;
  archive.load_from(path);
  return archive;
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
  archive.write("progress", position_tensor(progress));
  for (const auto& [name, tensor] : extras) archive.write("extra." + name, tensor);
  const auto temporary = path + ".tmp";
  archive.save_to(temporary);
  TORCH_CHECK(std::rename(temporary.c_str(), path.c_str()) == 0, path, ": cannot rename the new checkpoint into place");
}

Position load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                         Extras* extras, torch::nn::Module* task) {
  return reading(path, [&] {
    auto archive = open(path);
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
        if (key.rfind("extra.", 0) == 0 && archive.try_read(key, tensor)) (*extras)[key.substr(6)] = tensor;
      }
    }
    torch::Tensor rng;
    archive.read("rng", rng);
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(rng);
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
