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

Batch Batch::rows(int64_t begin, int64_t end) const {
  const auto n = size();
  TORCH_CHECK(0 <= begin && begin <= end && end <= n, "Batch::rows: [", begin, ", ", end, ") is outside a batch of ", n);
  Batch out;
  out.images = images.slice(0, begin, end);
  if (labels.defined()) out.labels = labels.slice(0, begin, end);
  if (soft_labels.defined()) out.soft_labels = soft_labels.slice(0, begin, end);
  if (!targets.empty()) out.targets.assign(targets.begin() + begin, targets.begin() + end);
  for (const auto& [name, t] : meta) {
    out.meta.emplace(name, t.defined() && t.dim() > 0 && t.size(0) == n ? t.slice(0, begin, end) : t);
  }
  return out;
}

Batch Batch::to(const c10::Device& device, bool non_blocking) const {
  Batch out;
  out.images = moved(images, device, non_blocking);
  out.labels = moved(labels, device, non_blocking);
  out.soft_labels = moved(soft_labels, device, non_blocking);
  out.meta = moved(meta, device, non_blocking);
  out.targets.reserve(targets.size());
  for (const auto& t : targets) out.targets.push_back(moved(t, device, non_blocking));
  return out;
}

}  // namespace lowbit::engine
