#include <lowbit/modules/layers/rprelu.h>

#include <lowbit/csrc/ops/rprelu.h>

#include <torch/torch.h>

namespace lowbit::layers {

RPReLUImpl::RPReLUImpl(RPReLUOptions options_) : options(options_) {
  TORCH_CHECK_VALUE(options.channels() >= 1, "RPReLU: channels must be >= 1, got ", options.channels());
  reset();
}

void RPReLUImpl::reset() {
  const int64_t c = options.channels();
  gamma = register_parameter("gamma", torch::zeros({1, c, 1, 1}));
  beta = register_parameter("beta", torch::full({c}, options.init_slope()));
  zeta = register_parameter("zeta", torch::zeros({1, c, 1, 1}));
}

torch::Tensor RPReLUImpl::forward(const torch::Tensor& x) { return forward_sum(x, {}); }

torch::Tensor RPReLUImpl::forward_sum(const torch::Tensor& x, const torch::Tensor& residual) {
  TORCH_CHECK(x.dim() >= 2 && x.size(1) == options.channels(), "RPReLU(", options.channels(),
              "): expected input with ", options.channels(), " channels along dim 1, got shape ", x.sizes());
  TORCH_CHECK(!residual.defined() || residual.sizes() == x.sizes(), "RPReLU(", options.channels(),
              "): the residual's shape ", residual.defined() ? residual.sizes() : at::IntArrayRef{},
              " differs from the input's ", x.sizes());
  return ops::rprelu(x, residual, gamma, beta, zeta);
}

void RPReLUImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::layers::RPReLU(" << options.channels() << ")";
}

}  // namespace lowbit::layers
