#pragma once
// DETR's FrozenBatchNorm2d (facebookresearch/detr models/backbone.py): batch normalisation with
// fixed statistics and affine parameters,
//   y = x * scale + shift,   scale = weight / sqrt(running_var + eps),   shift = bias - running_mean * scale,
// per channel (dim 1), eps = 1e-5 (DETR adds it; torchvision's older copy had none). All four are
// buffers, not parameters, so no optimizer trains them and no gradient reaches them; the names
// weight, bias, running_mean, running_var are the official ones, so DETR and torchvision state
// dicts load by name (a BatchNorm2d's num_batches_tracked has no counterpart: the official
// module drops it when loading; map it to "" with the loader's name map).

#include <torch/arg.h>
#include <torch/nn/cloneable.h>

namespace lowbit::detection {

struct FrozenBatchNorm2dOptions {
  FrozenBatchNorm2dOptions(int64_t channels) : channels_(channels) {}  // NOLINT: implicit, as torch's options
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(double, eps) = 1e-5;
};

class FrozenBatchNorm2dImpl : public torch::nn::Cloneable<FrozenBatchNorm2dImpl> {
 public:
  explicit FrozenBatchNorm2dImpl(FrozenBatchNorm2dOptions options);
  void reset() override;  // weight 1, bias 0, running_mean 0, running_var 1
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  FrozenBatchNorm2dOptions options;
  torch::Tensor weight, bias, running_mean, running_var;
};
TORCH_MODULE(FrozenBatchNorm2d);

}  // namespace lowbit::detection
