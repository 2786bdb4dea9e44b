#include <lowbit/csrc/engine/datasets/batch.h>

#include <ATen/ATen.h>

namespace lowbit::engine {
namespace {

at::Tensor moved(const at::Tensor& t, const c10::Device& device, bool non_blocking) {
  return t.defined() ? t.to(device, non_blocking) : t;
}

TensorMap moved(const TensorMap& map, const c10::Device& device, bool non_blocking) {
  TensorMap out;
  for (const auto& [name, t] : map) out.emplace(name, moved(t, device, non_blocking));
  return out;
}

}  // namespace

Batch Batch::to(const c10::Device& device, bool non_blocking) const {
  Batch out{moved(images, device, non_blocking), moved(labels, device, non_blocking), {}, moved(meta, device, non_blocking)};
  out.targets.reserve(targets.size());
  for (const auto& t : targets) out.targets.push_back(moved(t, device, non_blocking));
  return out;
}

}  // namespace lowbit::engine
