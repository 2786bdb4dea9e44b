// The FPN (modules/detection/fpn.h): with identity convolutions its outputs are the inputs summed
// top-down through nearest upsampling, plus the max-pooled extra level; IDa-Det's variant has 3x3
// binarized laterals and a PReLU after every convolution.
#include <lowbit/modules/detection/fpn.h>
#include <lowbit/modules/quant/registry.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace fpn_test {  // named: the unity build joins test files

using lowbit::detection::FPN;
using lowbit::detection::FPNOptions;

// Makes conv an identity map of its (equal) channels, bias 0.
void make_identity(torch::nn::Module& conv) {
  const torch::NoGradGuard no_grad;
  auto w = conv.named_parameters()["weight"];
  w.zero_();
  const int64_t center = w.size(2) / 2;
  for (int64_t c = 0; c < w.size(0); ++c) w[c][c][center][center] = 1;
  conv.named_parameters()["bias"].zero_();
}

TEST(FPN, IdentityConvolutionsSumTheLevelsTopDown) {
  FPN fpn(FPNOptions({4, 4, 4}).out_channels(4).outs(4));
  for (auto& m : *fpn->laterals) make_identity(*m);
  for (auto& m : *fpn->outputs) make_identity(*m);
  const auto c0 = torch::randn({2, 4, 12, 10}), c1 = torch::randn({2, 4, 6, 5}), c2 = torch::randn({2, 4, 3, 3});
  const auto p = fpn->forward({c0, c1, c2});
  ASSERT_EQ(p.size(), 4u);
  namespace F = torch::nn::functional;
  const auto up = [](const torch::Tensor& x, const torch::Tensor& like) {
    return F::interpolate(x, F::InterpolateFuncOptions().size(std::vector<int64_t>{like.size(2), like.size(3)}).mode(torch::kNearest));
  };
  const auto l1 = c1 + up(c2, c1);
  EXPECT_TRUE(torch::allclose(p[2], c2));
  EXPECT_TRUE(torch::allclose(p[1], l1, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(p[0], c0 + up(l1, c0), 1e-5, 1e-5));
  EXPECT_EQ(p[3].sizes(), torch::IntArrayRef({2, 4, 2, 2}));
  EXPECT_TRUE(torch::equal(p[3], p[2].slice(2, 0, 3, 2).slice(3, 0, 3, 2)));
}

TEST(FPN, IdaDetsVariantHasBinarizedThreeByThreeLateralsAndPReLUs) {
  FPN fpn(FPNOptions({64, 128, 256, 512})
              .lateral_kernel(3)
              .activation(lowbit::layers::Activation::PReLU)
              .weight_quantizer(lowbit::quant::make("idadet", {{"channels", 256}}))
              .input_quantizer(lowbit::quant::make("sign", {{"ste", "approx"}})));
  const auto params = fpn->named_parameters();
  EXPECT_EQ(params["laterals.0.weight"].sizes(), torch::IntArrayRef({256, 64, 3, 3}));
  EXPECT_TRUE(params.contains("laterals.0.bias"));
  EXPECT_EQ(params["lateral_activations.3.weight"].sizes(), torch::IntArrayRef({256}));
  EXPECT_EQ(params["output_activations.0.weight"].sizes(), torch::IntArrayRef({256}));
  std::vector<torch::Tensor> inputs;
  for (int64_t l = 0; l < 4; ++l) inputs.push_back(torch::randn({1, 64 << l, 16 >> l, 16 >> l}));
  const auto p = fpn->forward(inputs);
  ASSERT_EQ(p.size(), 5u);
  EXPECT_EQ(p[4].sizes(), torch::IntArrayRef({1, 256, 1, 1}));
  p[0].sum().backward();
  EXPECT_TRUE(params["laterals.3.weight"].grad().defined());  // the top-down path reaches the coarsest lateral
  const auto clone = std::dynamic_pointer_cast<lowbit::detection::FPNImpl>(fpn->clone());
  EXPECT_TRUE(torch::allclose(clone->forward(inputs)[2], p[2]));
  EXPECT_THROW(fpn->forward({inputs[0]}), c10::Error);
}

}  // namespace fpn_test
