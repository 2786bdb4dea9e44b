// to_channels_last: a conv net's 4-D parameters in NHWC, the same tensors, the same outputs.
#include <lowbit/csrc/engine/task/channels_last.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace {

torch::nn::Sequential conv_net() {
  torch::manual_seed(0);
  return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)), torch::nn::BatchNorm2d(8),
                               torch::nn::ReLU(), torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 4, 3).stride(2)),
                               torch::nn::AdaptiveAvgPool2d(1), torch::nn::Flatten(), torch::nn::Linear(4, 5));
}

}  // namespace

TEST(ChannelsLast, ConvWeightsBecomeNhwcInPlaceOthersStay) {
  auto net = conv_net();
  std::vector<const c10::TensorImpl*> before;
  for (const auto& p : net->parameters()) before.push_back(p.unsafeGetTensorImpl());
  lowbit::engine::to_channels_last(*net);
  const auto parameters = net->named_parameters();
  for (size_t i = 0; i < parameters.size(); ++i) {
    const auto& p = parameters[i].value();
    EXPECT_EQ(p.unsafeGetTensorImpl(), before[i]) << parameters[i].key();  // an optimizer's handles stay valid
    EXPECT_TRUE(p.requires_grad()) << parameters[i].key();
    if (p.dim() == 4) {
      EXPECT_TRUE(p.is_contiguous(torch::MemoryFormat::ChannelsLast)) << parameters[i].key();
      EXPECT_FALSE(p.is_contiguous()) << parameters[i].key();
    } else {
      EXPECT_TRUE(p.is_contiguous()) << parameters[i].key();
    }
  }
}

TEST(ChannelsLast, OutputsAndGradientsStayEqual) {
  auto reference = conv_net();
  auto converted = conv_net();
  lowbit::engine::to_channels_last(*converted);
  const auto x = torch::randn({2, 3, 9, 9});
  const auto expected = reference->forward(x);
  const auto actual = converted->forward(x.contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(torch::allclose(actual, expected, 1e-5, 1e-5));
  expected.sum().backward();
  actual.sum().backward();
  const auto reference_parameters = reference->parameters();
  const auto converted_parameters = converted->parameters();
  for (size_t i = 0; i < reference_parameters.size(); ++i) {
    EXPECT_TRUE(torch::allclose(converted_parameters[i].grad(), reference_parameters[i].grad(), 1e-4, 1e-5)) << i;
  }
}

TEST(ChannelsLast, ExistingGradientsFollow) {
  auto net = conv_net();
  net->forward(torch::randn({2, 3, 9, 9})).sum().backward();
  lowbit::engine::to_channels_last(*net);
  const auto weight = net->parameters()[0];
  EXPECT_TRUE(weight.grad().is_contiguous(torch::MemoryFormat::ChannelsLast));
}
