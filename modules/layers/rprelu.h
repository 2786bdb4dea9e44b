#pragma once
// ReActNet's RPReLU (Liu et al. ECCV 2020): y = PReLU_beta(x + gamma_c) + zeta_c, per channel
// (dim 1). The official code adds its shifts (two LearnableBias modules, the paper writes
// x - gamma); gamma and zeta start at 0, the PReLU slope beta at 0.25 (nn.PReLU's default).
// gamma, zeta: [1, C, 1, 1] as the official LearnableBias; beta: [C] as nn.PReLU's weight.
// Computed by the fused op csrc/ops/rprelu.h (which says what it keeps for the backward);
// forward_sum(x, residual) is RPReLU(x + residual) with the addition fused too, written over x
// (which the caller no longer reads, as BinaryResidualUnit's batch-norm output).

#include <torch/nn/cloneable.h>
#include <torch/arg.h>

namespace lowbit::layers {

struct RPReLUOptions {
  RPReLUOptions(int64_t channels) : channels_(channels) {}  // NOLINT: implicit, as torch's options
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(double, init_slope) = 0.25;
};

class RPReLUImpl : public torch::nn::Cloneable<RPReLUImpl> {
 public:
  explicit RPReLUImpl(RPReLUOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor forward_sum(const torch::Tensor& x, const torch::Tensor& residual);
  void pretty_print(std::ostream& stream) const override;

  RPReLUOptions options;
  torch::Tensor gamma, beta, zeta;
};
TORCH_MODULE(RPReLU);

}  // namespace lowbit::layers
