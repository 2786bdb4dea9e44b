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

namespace {

void check_rprelu_input(const RPReLUOptions& options, const torch::Tensor& x) {
  TORCH_CHECK(x.dim() >= 2 && x.size(1) == options.channels(), "RPReLU(", options.channels(),
              "): expected input with ", options.channels(), " channels along dim 1, got shape ", x.sizes());
}

}  // namespace

torch::Tensor RPReLUImpl::forward(const torch::Tensor& x) {
  check_rprelu_input(options, x);
  return ops::rprelu(x, {}, gamma, beta, zeta);
}

torch::Tensor RPReLUImpl::forward_sum(const torch::Tensor& x, const torch::Tensor& residual) {
  check_rprelu_input(options, x);
  TORCH_CHECK(residual.sizes() == x.sizes(), "RPReLU(", options.channels(), "): the residual's shape ",
              residual.sizes(), " differs from the input's ", x.sizes());
  return ops::rprelu(x, residual, gamma, beta, zeta, /*overwrite_input=*/true);
}

void RPReLUImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::layers::RPReLU(" << options.channels() << ")";
}

}  // namespace lowbit::layers
