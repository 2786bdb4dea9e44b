// ReActNet-A (modules/models/reactnet_a.cpp): the paper's operation counts, and the forward of the
// official BasicBlock (mobilenet/2_step2/reactnet.py) written out with torch ops, its widening
// block as two pointwise convolutions concatenated.
#include <lowbit/csrc/engine/loop/stage_switch.h>
#include <lowbit/csrc/engine/summary.h>
#include <lowbit/modules/models/registry.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <string>

namespace {

lowbit::models::QuantPolicy reactnet_policy() {
  lowbit::models::QuantPolicy p;
  p.weight = {"xnor", {{"scale_grad", std::string("detached")}}};
  p.input = {"rsign", {}};
  return p;
}

// Every parameter and buffer of the model set to random values of a plausible range.
void randomise(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.named_parameters()) p.value().copy_(torch::randn_like(p.value()) * 0.3);
  for (auto& b : model.named_buffers()) {
    if (b.key().find("running_var") != std::string::npos) b.value().copy_(torch::rand_like(b.value()) + 0.5);
    if (b.key().find("running_mean") != std::string::npos) b.value().copy_(torch::randn_like(b.value()) * 0.2);
  }
}

}  // namespace

TEST(ReActNetA, CountsThePapersOperations) {
  auto model = lowbit::models::make("reactnet_a", {}, reactnet_policy());
  const auto s = lowbit::engine::summarize(model, torch::zeros({1, 3, 224, 224}));
  // ReActNet (Liu et al. 2020) Table 4: ReActNet-A 4.82e9 BOPs, 0.12e8 FLOPs, 0.87e8 OPs.
  EXPECT_EQ(s.total.binary_macs, 4816896000);
  EXPECT_EQ(s.total.other_macs, 3 * 32 * 9 * 112 * 112 + 1024 * 1000);  // the stem and fc
  EXPECT_NEAR(s.ops(), 0.87e8, 0.005e8);
  int64_t units = 0;
  for (const auto& layer : s.layers) units += layer.detail && layer.weight_bits == 1 && layer.input_bits == 1;
  EXPECT_EQ(units, 26);  // a 3×3 and a pointwise binary convolution in each of the 13 blocks
}

// The official forward (eval mode: HardBinaryConv's conv(x, sign(W)) * mean|W|) from lowbit's
// tensors, the widening block's C -> 2C convolution and batch norm split into the official two.
TEST(ReActNetA, EqualsTheOfficialBlocks) {
  torch::manual_seed(0);
  const std::vector<int64_t> widths = {8, 16, 32, 32, 64};
  auto model = lowbit::models::make("reactnet_a", {{"widths", widths}, {"classes", int64_t{5}}}, reactnet_policy());
  randomise(*model);
  model->eval();
  const auto params = model->named_parameters();
  const auto buffers = model->named_buffers();
  const auto t = [&](const std::string& name) { return params.contains(name) ? params[name] : buffers[name]; };
  const auto bn = [&](const torch::Tensor& x, const std::string& p, int64_t first, int64_t count) {
    const auto part = [&](const std::string& n) { return t(p + n).narrow(0, first, count); };
    return torch::batch_norm(x, part("weight"), part("bias"), part("running_mean"), part("running_var"), false, 0.1,
                             1e-5, false);
  };
  const auto binary_conv = [&](const torch::Tensor& x, const std::string& p, int64_t first, int64_t count,
                               int64_t stride) {
    const auto w = t(p + "weight").narrow(0, first, count);
    const auto y = torch::conv2d(x, w.sign(), {}, stride, w.size(-1) / 2);
    return y * w.abs().mean({1, 2, 3}).view({1, -1, 1, 1});
  };
  const auto rprelu = [&](const torch::Tensor& x, const std::string& p) {
    return torch::prelu(x + t(p + "gamma"), t(p + "beta")) + t(p + "zeta");
  };

  const auto x = torch::randn({2, 3, 32, 32});
  torch::Tensor y = bn(torch::conv2d(x, t("conv1.weight"), {}, 2, 1), "bn1.", 0, widths[0]);
  for (size_t i = 1; i < widths.size(); ++i) {
    const std::string b = "block" + std::to_string(i) + ".";
    const int64_t in = widths[i - 1], out = widths[i], stride = out != in && i > 1 ? 2 : 1;
    auto out1 = bn(binary_conv((y + t(b + "0.conv.input_quantizer.bias")).sign(), b + "0.conv.", 0, in, stride),
                   b + "0.bn.", 0, in);
    out1 = rprelu(out1 + (stride == 2 ? torch::avg_pool2d(y, 2, 2) : y), b + "0.activation.");
    const auto a = (out1 + t(b + "1.conv.input_quantizer.bias")).sign();
    std::vector<torch::Tensor> halves;  // binary_pw, or binary_pw_down1 / down2 with bn2_1 / bn2_2
    for (int64_t first = 0; first < out; first += in) {
      halves.push_back(bn(binary_conv(a, b + "1.conv.", first, in, 1), b + "1.bn.", first, in) + out1);
    }
    y = rprelu(torch::cat(halves, 1), b + "1.activation.");
  }
  const auto official = torch::linear(y.mean({2, 3}), t("fc.weight"), t("fc.bias"));
  const auto ours = model->forward(x);
  EXPECT_TRUE(torch::allclose(ours, official, 1e-4, 1e-4)) << (ours - official).abs().max();
}

TEST(ReActNetA, TrainingReachesEveryParameter) {
  torch::manual_seed(1);
  auto model = lowbit::models::make(
      "reactnet_a",
      {{"widths", std::vector<int64_t>{8, 16, 32}}, {"in_channels", int64_t{1}}, {"classes", int64_t{10}}},
      reactnet_policy());
  model->train();
  const auto logits = model->forward(torch::randn({4, 1, 28, 28}));
  ASSERT_EQ(logits.sizes(), torch::IntArrayRef({4, 10}));
  torch::nn::functional::cross_entropy(logits, torch::tensor({0, 3, 5, 9})).backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}

TEST(ReActNetA, WidthsThatNeitherKeepNorDoubleAreNamed) {
  try {
    lowbit::models::make("reactnet_a", {{"widths", std::vector<int64_t>{8, 24}}}, reactnet_policy());
    ADD_FAILURE() << "8 -> 24 was accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(e.msg().find("each block keeps or doubles the width before it"), std::string::npos) << e.msg();
  }
}

// The spec's "step 2 from step 1" (methods/baselines.md, ReActNet): lowbit's stage switch carries
// step 1's real-valued unit weights into step 2's binary convolutions (the official strict=False
// load skips them, recipes/reactnet/imagenet_reactnet_a.yaml says why lowbit does not), with
// RSign thresholds, RPReLU and batch norms.
TEST(ReActNetA, StepTwoStartsFromStepOnesWeights) {
  torch::manual_seed(2);
  const lowbit::Params small = {{"widths", std::vector<int64_t>{8, 16, 32}}};
  auto step1_policy = reactnet_policy();
  step1_policy.weight = {"identity", {}};
  auto step1 = lowbit::models::make("reactnet_a", small, step1_policy);
  randomise(*step1);
  auto step2 = lowbit::models::make("reactnet_a", small, reactnet_policy());
  lowbit::engine::copy_matching(*step1, *step2);
  const auto before = step1->named_parameters();
  int64_t units = 0;
  for (const auto& p : step2->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), before[p.key()])) << p.key();
    if (p.key().find(".conv.weight") != std::string::npos) {
      ++units;
      EXPECT_GT(p.value().abs().max().item<double>(), 1e-3) << p.key() << " kept its U(0, 1) * 1e-3 initialisation";
    }
  }
  EXPECT_EQ(units, 4);  // two blocks of two units
  const auto statistics = step1->named_buffers();
  for (const auto& b : step2->named_buffers()) {
    if (b.key().find("running_") == std::string::npos) continue;
    EXPECT_TRUE(torch::equal(b.value(), statistics[b.key()])) << b.key();
  }
}
