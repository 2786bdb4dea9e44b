#include <lowbit/modules/detection/frozen_batch_norm.h>

#include <torch/torch.h>

namespace lowbit::detection {

FrozenBatchNorm2dImpl::FrozenBatchNorm2dImpl(FrozenBatchNorm2dOptions options_) : options(options_) {
  TORCH_CHECK_VALUE(options.channels() > 0, "FrozenBatchNorm2d: channels must be positive, got ", options.channels());
  reset();
}

void FrozenBatchNorm2dImpl::reset() {
  const int64_t c = options.channels();
  weight = register_buffer("weight", torch::ones({c}));
  bias = register_buffer("bias", torch::zeros({c}));
  running_mean = register_buffer("running_mean", torch::zeros({c}));
  running_var = register_buffer("running_var", torch::ones({c}));
}

torch::Tensor FrozenBatchNorm2dImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.channels(), "FrozenBatchNorm2d(", options.channels(),
              "): expected input [B, ", options.channels(), ", H, W], got shape ", x.sizes());
  const auto scale = weight * (running_var + options.eps()).rsqrt();
  const auto shift = bias - running_mean * scale;
  // shift + x * scale in one pass
  return torch::addcmul(shift.view({1, -1, 1, 1}), x, scale.view({1, -1, 1, 1}));
}

void FrozenBatchNorm2dImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::detection::FrozenBatchNorm2d(" << options.channels() << ", eps=" << options.eps() << ")";
}

}  // namespace lowbit::detection
