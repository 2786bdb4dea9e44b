#include <lowbit/csrc/data/rand_augment.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <limits>

using namespace lowbit::data;

namespace {

// A uint8 RGB image with varied pixels, [3, h, w].
torch::Tensor augment_input(int64_t h, int64_t w) {
  return torch::arange(3 * h * w, torch::kLong).mul(7).remainder(253).to(torch::kByte).view({3, h, w});
}

}  // namespace

TEST(RandAugment, ParsesTimmConfigStrings) {
  const auto deit = parse_rand_augment("rand-m9-mstd0.5-inc1");
  EXPECT_EQ(deit.num_ops, 2);
  EXPECT_EQ(deit.magnitude, 9);
  EXPECT_EQ(deit.magnitude_std, 0.5);
  EXPECT_EQ(deit.magnitude_max, 10);
  EXPECT_EQ(deit.probability, 0.5);
  EXPECT_TRUE(deit.increasing);
  // timm's defaults when a section is absent: m = 10, mstd = 0, inc = 0; mstd > 100 draws U(0, m).
  const auto other = parse_rand_augment("rand-n3-p0.7-mstd101-mmax12");
  EXPECT_EQ(other.num_ops, 3);
  EXPECT_EQ(other.magnitude, 10);
  EXPECT_EQ(other.probability, 0.7);
  EXPECT_EQ(other.magnitude_std, std::numeric_limits<double>::infinity());
  EXPECT_EQ(other.magnitude_max, 12);
  EXPECT_FALSE(other.increasing);
  EXPECT_THROW(parse_rand_augment("rand-m9-q3"), c10::Error);
  EXPECT_THROW(parse_rand_augment("augmix-m9"), c10::Error);
  EXPECT_THROW(parse_rand_augment("rand-m9x"), c10::Error);
}

TEST(RandAugment, NamesFollowTimm) {
  EXPECT_EQ(augment_op_name(AugmentOp::Posterize, true), "PosterizeIncreasing");
  EXPECT_EQ(augment_op_name(AugmentOp::Posterize, false), "Posterize");
  EXPECT_EQ(augment_op_name(AugmentOp::TranslateYRel, true), "TranslateYRel");
}

TEST(RandAugment, DrawsFollowTimmDistributions) {
  // rand-m9-mstd0.5-inc1: ops uniform over 15, applied with p = 0.5, m ~ N(9, 0.5^2) clipped to
  // [0, 10] (mean 9 - 0.5 (phi(2) - 2 (1 - Phi(2))) = 8.99575, P(m = 10) = 1 - Phi(2) = 0.02275),
  // sign negative with probability 1/2.
  const RandAugmentOptions options;
  Rng rng(17);
  const int images = 30000;
  std::vector<int> op_counts(kNumAugmentOps, 0);
  int applied = 0, negated = 0, at_max = 0, total = 0;
  double magnitude_sum = 0;
  for (int i = 0; i < images; ++i) {
    const auto steps = rand_augment_steps(rng, options);
    ASSERT_EQ(steps.size(), 2u);
    for (const auto& step : steps) {
      ++total;
      ++op_counts[static_cast<int>(step.op)];
      applied += step.applied;
      negated += step.negate;
      at_max += step.magnitude == 10.0;
      magnitude_sum += step.magnitude;
      ASSERT_TRUE(step.magnitude >= 0 && step.magnitude <= 10) << step.magnitude;
    }
  }
  for (int op = 0; op < kNumAugmentOps; ++op) EXPECT_NEAR(op_counts[op] / double(total), 1.0 / 15, 0.006) << op;
  EXPECT_NEAR(applied / double(total), 0.5, 0.01);
  EXPECT_NEAR(negated / double(total), 0.5, 0.01);
  EXPECT_NEAR(at_max / double(total), 0.02275, 0.004);
  EXPECT_NEAR(magnitude_sum / total, 8.99575, 0.01);
}

TEST(RandAugment, AppliesItsStepsInOrderAndIsSeeded) {
  const auto image = augment_input(24, 32);
  const RandAugmentOptions options;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Rng draws(seed), rng(seed), again(seed);
    auto expected = image;
    for (const auto& step : rand_augment_steps(draws, options)) {
      if (step.applied) expected = apply_augment_op(expected, step.op, step.magnitude, step.negate, options);
    }
    const auto out = rand_augment(image, rng, options);
    EXPECT_EQ(out.sizes(), image.sizes());
    EXPECT_EQ(out.scalar_type(), torch::kByte);
    EXPECT_TRUE(torch::equal(out, expected)) << seed;
    EXPECT_TRUE(torch::equal(out, rand_augment(image, again, options))) << seed;
  }
}

TEST(RandAugment, MagnitudeZeroLeavesSignedOpsUnchanged) {
  // Level 0: no rotation, shear or translation; enhance factor 1; posterize keeps 4 bits.
  const auto image = augment_input(16, 20);
  const RandAugmentOptions options;
  for (auto op : {AugmentOp::Rotate, AugmentOp::ShearX, AugmentOp::ShearY, AugmentOp::TranslateXRel,
                  AugmentOp::TranslateYRel, AugmentOp::Color, AugmentOp::Contrast, AugmentOp::Brightness,
                  AugmentOp::Sharpness}) {
    for (bool negate : {false, true}) {
      EXPECT_TRUE(torch::equal(apply_augment_op(image, op, 0.0, negate, options), image))
          << augment_op_name(op, true) << " " << negate;
    }
  }
  EXPECT_TRUE(torch::equal(apply_augment_op(image, AugmentOp::Posterize, 0.0, false, options), image.bitwise_and(0xF0)));
}
