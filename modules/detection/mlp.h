#pragma once
// DETR's MLP (facebookresearch/detr models/detr.py), the box head: `num_layers` nn.Linear layers
// input -> hidden -> ... -> output with ReLU between them (none after the last). Children
// layers.0 .. layers.<n-1>, the official names. Full precision in Q-DETR (heads stay real).

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>

namespace lowbit::detection {

struct MLPOptions {
  MLPOptions(int64_t input_dim, int64_t hidden_dim, int64_t output_dim, int64_t num_layers)
      : input_dim_(input_dim), hidden_dim_(hidden_dim), output_dim_(output_dim), num_layers_(num_layers) {}
  TORCH_ARG(int64_t, input_dim);
  TORCH_ARG(int64_t, hidden_dim);
  TORCH_ARG(int64_t, output_dim);
  TORCH_ARG(int64_t, num_layers);
};

class MLPImpl : public torch::nn::Cloneable<MLPImpl> {
 public:
  explicit MLPImpl(MLPOptions options);
  void reset() override;
  torch::Tensor forward(torch::Tensor x);

  MLPOptions options;
  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(MLP);

}  // namespace lowbit::detection
