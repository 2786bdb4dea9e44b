// Faster R-CNN's RoI head (modules/detection/roi_head.h): the level each RoI is pooled from, the
// loss on a case computed by hand (values and the box regression's gradient), the detections'
// score threshold, per-class NMS and cap.
#include <lowbit/modules/detection/roi_head.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

namespace roi_head_test {  // named: the unity build joins test files

using lowbit::detection::RoIHead;
using lowbit::detection::RoIHeadOptions;

// Four levels of strides 4..32 over a 512 x 512 image, level l filled with the value l + 1.
std::vector<torch::Tensor> constant_levels(int64_t channels) {
  std::vector<torch::Tensor> levels;
  for (int64_t l = 0; l < 4; ++l) levels.push_back(torch::full({1, channels, 512 >> (l + 2), 512 >> (l + 2)}, l + 1.0));
  return levels;
}

TEST(RoIHead, EachRoIIsPooledFromTheLevelOfItsScale) {
  RoIHead head(RoIHeadOptions(3).in_channels(2).fc_channels(16));
  // sqrt(area) 40, 112, 224, 448, 500: levels 0, 1, 2, 3 and 3 (clamped).
  const auto rois = torch::tensor({0., 100., 100., 140., 140., 0., 50., 50., 162., 162., 0., 10., 10., 234., 234.,
                                   0., 20., 20., 468., 468., 0., 0., 0., 500., 500.})
                        .view({5, 5})
                        .to(torch::kFloat);
  const auto pooled = head->pool(constant_levels(2), rois);
  ASSERT_EQ(pooled.sizes(), torch::IntArrayRef({5, 2, 7, 7}));
  const auto level_values = pooled.mean({1, 2, 3});
  EXPECT_TRUE(torch::allclose(level_values, torch::tensor({1.f, 2.f, 3.f, 4.f, 4.f}), 1e-5, 1e-5)) << level_values;
  const auto [logits, deltas] = head->forward(pooled);
  EXPECT_EQ(logits.sizes(), torch::IntArrayRef({5, 4}));
  EXPECT_EQ(deltas.sizes(), torch::IntArrayRef({5, 12}));
}

// Constant logits b and deltas d; the ground truth (label 2) and a proposal equal to it are the
// positives (target deltas 0), one of them sampled; three far proposals are the negatives.
TEST(RoIHead, LossIsTheSampledCrossEntropyAndTheClassDeltasL1) {
  RoIHead head(RoIHeadOptions(3).in_channels(2).fc_channels(16).loss_weight(5).sampler(
      lowbit::detection::RandomSamplerOptions().num(4).pos_fraction(0.25)));
  const auto b = torch::tensor({0.1f, 0.2f, 0.3f, 0.4f});
  {
    const torch::NoGradGuard no_grad;
    head->cls->weight.zero_(), head->cls->bias.copy_(b);
    head->reg->weight.zero_(), head->reg->bias.copy_(torch::linspace(-0.55, 0.55, 12));
  }
  const auto gt = torch::tensor({10.f, 10.f, 60.f, 70.f}).view({1, 4});
  const auto proposals = torch::tensor({10.f, 10.f, 60.f, 70.f, 0.9f, 200.f, 200.f, 260.f, 260.f, 0.8f,  //
                                        300.f, 10.f, 380.f, 90.f, 0.7f, 400.f, 400.f, 480.f, 500.f, 0.6f})
                             .view({4, 5});
  const auto [cls, box] = head->loss(constant_levels(2), {proposals}, {gt}, {torch::tensor({2L})});
  const auto log_p = torch::log_softmax(b, 0);
  EXPECT_NEAR(cls.item<double>(), 5.0 * -(log_p[2] + 3 * log_p[3]).item<double>() / 4, 1e-5);
  const auto class_deltas = head->reg->bias.detach().slice(0, 8, 12);
  EXPECT_NEAR(box.item<double>(), 5.0 * class_deltas.abs().sum().item<double>() / 4, 1e-5);
  box.backward();
  auto expected = torch::zeros({12});
  expected.slice(0, 8, 12).copy_(class_deltas.sign() * 5.0 / 4);
  EXPECT_TRUE(torch::allclose(head->reg->bias.grad(), expected)) << head->reg->bias.grad();
}

TEST(RoIHead, DetectionsAreThresholdedSuppressedPerClassAndCapped) {
  RoIHead head(RoIHeadOptions(3).in_channels(2).fc_channels(16));
  {
    const torch::NoGradGuard no_grad;
    // Scores 0.6, 0.3, 0.04 for classes 0, 1, 2 and 0.06 for the background.
    head->cls->weight.zero_(), head->cls->bias.copy_(torch::log(torch::tensor({0.6f, 0.3f, 0.04f, 0.06f})));
    head->reg->weight.zero_(), head->reg->bias.zero_();
  }
  // Proposals 0 and 1 overlap by 0.90, proposal 2 stands apart and crosses the image's right edge.
  const auto proposals = torch::tensor({10.f, 10.f, 110.f, 110.f, 0.9f, 15.f, 10.f, 115.f, 110.f, 0.8f,  //
                                        300.f, 300.f, 600.f, 400.f, 0.7f})
                             .view({3, 5});
  head->eval();
  const auto d = head->detect(constant_levels(2), {proposals}, {{480, 512}})[0];
  // Classes 0 and 1 (class 2 is under 0.05), proposals 0 and 2 each (1 is suppressed by 0).
  ASSERT_EQ(d.scores.size(0), 4);
  EXPECT_TRUE(torch::allclose(d.scores, torch::tensor({0.6f, 0.6f, 0.3f, 0.3f}), 1e-5, 1e-5)) << d.scores;
  EXPECT_TRUE(torch::equal(d.labels, torch::tensor({0L, 0L, 1L, 1L})));
  EXPECT_TRUE(torch::allclose(d.boxes[1], torch::tensor({300.f, 300.f, 512.f, 400.f}))) << d.boxes;
  head->options.max_per_image(3);
  EXPECT_EQ(head->detect(constant_levels(2), {proposals}, {{480, 512}})[0].scores.size(0), 3);
  head->options.score_thr(0.7);  // no class scores above it
  const auto none = head->detect(constant_levels(2), {proposals}, {{480, 512}})[0];
  EXPECT_EQ(none.boxes.sizes(), torch::IntArrayRef({0, 4}));
  EXPECT_EQ(none.labels.numel(), 0);
}

}  // namespace roi_head_test
