// The RPN head (modules/detection/rpn_head.h): output shapes, the loss on a case computed by hand
// (values and the gradient of the box regression), and the proposals' selection.
#include <lowbit/modules/detection/rpn_head.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

namespace rpn_head_test {  // named: the unity build joins test files

using lowbit::detection::AnchorGeneratorOptions;
using lowbit::detection::ProposalOptions;
using lowbit::detection::RPNHead;
using lowbit::detection::RPNHeadOptions;
using lowbit::detection::RPNOutputs;

// One level of stride 16 with one 32x32 anchor per location (ratio 1, scale 2).
RPNHeadOptions one_anchor_per_location() {
  return RPNHeadOptions()
      .in_channels(8)
      .feat_channels(8)
      .anchors(AnchorGeneratorOptions().strides({16}).ratios({1.0}).scales({2.0}))
      .sampler(lowbit::detection::RandomSamplerOptions().num(4).pos_fraction(0.5))
      .loss_weight(5.0);
}

TEST(RPNHead, OneObjectnessAndFourDeltasPerAnchorOnEveryLevel) {
  RPNHead head(RPNHeadOptions().in_channels(16).feat_channels(16));
  std::vector<torch::Tensor> features;
  for (const int64_t size : {32, 16, 8, 4, 2}) features.push_back(torch::randn({2, 16, size, size}));
  const auto out = head->forward(features);
  ASSERT_EQ(out.objectness.size(), 5u);
  EXPECT_EQ(out.objectness[1].sizes(), torch::IntArrayRef({2, 3, 16, 16}));
  EXPECT_EQ(out.deltas[4].sizes(), torch::IntArrayRef({2, 12, 2, 2}));
  EXPECT_LE(head->cls->weight.abs().max().item<double>(), 0.1);  // N(0, 0.01)
  EXPECT_THROW(head->forward({features[0]}), c10::Error);
}

// Constant objectness z and deltas d everywhere; the ground truth is the anchor at location (1, 1),
// so one positive (IoU 1, target deltas 0) and three negatives are sampled, whichever they are.
TEST(RPNHead, LossIsTheSampledCrossEntropyAndL1OverTheSampleCount) {
  RPNHead head(one_anchor_per_location());
  const double z = 0.3;
  {
    const torch::NoGradGuard no_grad;
    head->cls->weight.zero_(), head->cls->bias.fill_(z);
    head->reg->weight.zero_(), head->reg->bias.copy_(torch::tensor({0.1f, -0.2f, 0.3f, 0.0f}));
  }
  const auto out = head->forward({torch::randn({1, 8, 4, 4})});
  const auto [cls, box] = head->loss(out, {{64, 64}}, {torch::tensor({0.0f, 0.0f, 32.0f, 32.0f}).view({1, 4})});
  const double sigma = 1 / (1 + std::exp(-z));
  EXPECT_NEAR(cls.item<double>(), 5.0 * (-std::log(sigma) - 3 * std::log(1 - sigma)) / 4, 1e-5);
  EXPECT_NEAR(box.item<double>(), 5.0 * 0.6 / 4, 1e-6);
  box.backward();
  const auto expected = torch::tensor({1.0f, -1.0f, 1.0f, 0.0f}) * (5.0f / 4);
  EXPECT_TRUE(torch::allclose(head->reg->bias.grad(), expected)) << head->reg->bias.grad();
}

TEST(RPNHead, ProposalsAreTheBestAnchorsDecodedClampedAndSuppressed) {
  RPNHead head(one_anchor_per_location().train_proposals(ProposalOptions().nms_pre(6).nms_post(4).max_num(3)));
  // Objectness logits rising along the memory order of a 4x4 map; zero deltas.
  RPNOutputs out;
  out.objectness = {torch::arange(16, torch::kFloat).view({1, 1, 4, 4})};
  out.deltas = {torch::zeros({1, 4, 4, 4})};
  const auto proposals = head->proposals(out, {{50, 60}});
  ASSERT_EQ(proposals.size(), 1u);
  const auto& p = proposals[0];
  ASSERT_EQ(p.sizes(), torch::IntArrayRef({3, 5}));
  // The three best anchors: locations 15, 14, 13 = (row 3, columns 3, 2, 1), 32x32 around
  // (16 column, 48), clamped to the 60 x 50 image; adjacent ones overlap by 1/3 < 0.7.
  const auto expected = torch::tensor({32.f, 32.f, 60.f, 50.f, 16.f, 32.f, 48.f, 50.f, 0.f, 32.f, 32.f, 50.f}).view({3, 4});
  EXPECT_TRUE(torch::allclose(p.slice(1, 0, 4), expected)) << p;
  EXPECT_TRUE(torch::allclose(p.select(1, 4), torch::sigmoid(torch::tensor({15.f, 14.f, 13.f}))));
  EXPECT_FALSE(p.requires_grad());
  // Two equal anchors at one location: NMS keeps one (ratios 1 and 1 give identical anchors).
  RPNHead twin(one_anchor_per_location().anchors(AnchorGeneratorOptions().strides({16}).ratios({1.0, 1.0}).scales({2.0})));
  RPNOutputs both;
  both.objectness = {torch::arange(32, torch::kFloat).view({1, 2, 4, 4})};
  both.deltas = {torch::zeros({1, 8, 4, 4})};
  const auto kept = twin->proposals(both, {{64, 64}})[0];
  EXPECT_EQ(kept.size(0), 16);
}

}  // namespace rpn_head_test
