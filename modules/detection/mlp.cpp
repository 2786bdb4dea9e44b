#include <lowbit/modules/detection/mlp.h>

#include <torch/torch.h>

namespace lowbit::detection {

MLPImpl::MLPImpl(MLPOptions options_) : options(options_) { reset(); }

void MLPImpl::reset() {
  const auto& o = options;
  TORCH_CHECK_VALUE(o.num_layers() >= 1 && o.input_dim() > 0 && o.hidden_dim() > 0 && o.output_dim() > 0,
                    "MLP: sizes and num_layers must be positive");
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers(); ++i) {
    const int64_t in = i == 0 ? o.input_dim() : o.hidden_dim();
    const int64_t out = i + 1 == o.num_layers() ? o.output_dim() : o.hidden_dim();
    layers->push_back(torch::nn::Linear(in, out));
  }
}

torch::Tensor MLPImpl::forward(torch::Tensor x) {
  const auto n = layers->size();
  for (size_t i = 0; i < n; ++i) {
    x = layers[i]->as<torch::nn::LinearImpl>()->forward(x);
    if (i + 1 < n) x = torch::relu(x);
  }
  return x;
}

}  // namespace lowbit::detection
