#include <lowbit/csrc/ops/loss_scale.h>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <atomic>
#include <cmath>

namespace lowbit::ops {
namespace {

std::atomic<double>& current_scale() {
  static std::atomic<double> scale{1.0};
  return scale;
}

}  // namespace

double loss_scale() { return current_scale().load(std::memory_order_relaxed); }

at::Tensor finite_record(const at::Tensor& recorded, const at::Tensor& previous) {
  const auto fallback = previous.defined() && previous.sizes() == recorded.sizes() ? previous : at::zeros_like(recorded);
  return at::where(at::isfinite(recorded).all(), recorded, fallback.to(recorded.scalar_type()));
}

LossScaleGuard::LossScaleGuard(double scale) : previous_(loss_scale()) {
  TORCH_CHECK_VALUE(std::isfinite(scale) && scale > 0, "loss scale must be finite and > 0, got ", scale);
  current_scale().store(scale);
}

LossScaleGuard::~LossScaleGuard() { current_scale().store(previous_); }

}  // namespace lowbit::ops
