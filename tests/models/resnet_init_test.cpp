// The `reactnet` initialisation (resnet.cpp): a binary unit convolution (HardBinaryConv) starts
// at U(0, 1)·1e-3; a real-valued one (ReActNet's step 1, W32A1: nn.Conv2d in
// resnet/1_step1/birealnet.py) at PyTorch's default kaiming_uniform(a = sqrt(5)), i.e.
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
#include <lowbit/modules/layers/binary_residual_unit.h>
#include <lowbit/modules/models/registry.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

namespace {

std::vector<torch::Tensor> unit_weights(const std::string& weight_quantizer) {
  lowbit::models::QuantPolicy policy;
  policy.weight = {weight_quantizer, {}};
  policy.input = {"rsign", {}};
  auto net = lowbit::models::make("reactnet_resnet18", {}, policy);
  std::vector<torch::Tensor> weights;
  for (const auto& m : net->modules(/*include_self=*/false)) {
    auto* unit = dynamic_cast<lowbit::layers::BinaryResidualUnitImpl*>(m.get());
    if (unit) weights.push_back(unit->conv->weight);
  }
  return weights;
}

}  // namespace

TEST(ResNetInit, ReActNetBinaryUnitsStartSmallAndPositive) {
  torch::manual_seed(0);
  const auto weights = unit_weights("xnor");
  ASSERT_EQ(weights.size(), 16u);
  for (const auto& w : weights) {
    EXPECT_GE(w.min().item<double>(), 0.0);
    EXPECT_LE(w.max().item<double>(), 1e-3);
  }
}

TEST(ResNetInit, ReActNetRealValuedUnitsStartAtPyTorchsDefault) {
  torch::manual_seed(0);
  const auto weights = unit_weights("identity");
  ASSERT_EQ(weights.size(), 16u);
  for (const auto& w : weights) {
    const double bound = 1 / std::sqrt(static_cast<double>(w.size(1) * w.size(2) * w.size(3)));
    EXPECT_LE(w.abs().max().item<double>(), bound);
    EXPECT_GT(w.abs().max().item<double>(), 0.9 * bound);  // spread over the whole interval
    EXPECT_LT(w.min().item<double>(), 0.0);
    // U(-b, b) has standard deviation b / sqrt(3).
    EXPECT_NEAR(w.std().item<double>(), bound / std::sqrt(3.0), 0.05 * bound);
  }
}
