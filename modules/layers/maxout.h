#pragma once
// AdaBin's Maxout nonlinearity (Tu et al. ECCV 2022; `Maxout` in huawei-noah/Efficient-Computing
// BinaryNetworks/AdaBin/imagenet/utils/binarylib.py), per channel c along dim 1:
//   y_c = p_c · ReLU(x_c) − n_c · ReLU(−x_c)
//   ∂y/∂x = p_c (x > 0), n_c (x < 0);  ∂y/∂p_c = Σ ReLU(x_c);  ∂y/∂n_c = −Σ ReLU(−x_c)
// p_c starts at 1 and n_c at 0.25, so a new Maxout is PReLU(0.25) with a learnable positive
// slope as well. The parameters keep their official names, `pos_scale` (p) and `neg_scale` (n),
// shape [C], so official state dicts load by name.

#include <torch/arg.h>
#include <torch/nn/cloneable.h>

namespace lowbit::layers {

struct MaxoutOptions {
  MaxoutOptions(int64_t channels) : channels_(channels) {}  // NOLINT: implicit, as torch's options
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(double, pos_init) = 1.0;
  TORCH_ARG(double, neg_init) = 0.25;
};

class MaxoutImpl : public torch::nn::Cloneable<MaxoutImpl> {
 public:
  explicit MaxoutImpl(MaxoutOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  MaxoutOptions options;
  torch::Tensor pos_scale, neg_scale;
};
TORCH_MODULE(Maxout);

}  // namespace lowbit::layers
