#include <lowbit/csrc/ops/lsq.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace {

using lowbit::ops::LsqRange;

struct Reference {
  torch::Tensor value, grad_x, grad_step, grad_offset;
};

// The LSQ/LSQ+ formulas of csrc/ops/lsq.h written with plain ATen ops; step/offset broadcast.
Reference reference(const torch::Tensor& x, const torch::Tensor& step, const torch::Tensor& offset, LsqRange r,
                    const torch::Tensor& upstream, double g, const std::vector<int64_t>& reduce) {
  const double qn = r.qn, qp = r.qp;
  const auto u = (x - offset) / step;
  const auto inside = (u >= -qn) & (u <= qp);
  const auto value = torch::round(u.clamp(-qn, qp)) * step + offset;
  const auto ds = torch::where(inside, torch::round(u) - u, torch::where(u < -qn, torch::full_like(u, -qn),
                                                                          torch::full_like(u, qp)));
  return {value, upstream * inside, g * (upstream * ds).sum(reduce), g * (upstream * (~inside)).sum(reduce)};
}

}  // namespace

TEST(LsqRange, SignedAndUnsignedLevels) {
  EXPECT_EQ(lowbit::ops::lsq_range(2, true).qn, 2);
  EXPECT_EQ(lowbit::ops::lsq_range(2, true).qp, 1);
  EXPECT_EQ(lowbit::ops::lsq_range(4, false).qn, 0);
  EXPECT_EQ(lowbit::ops::lsq_range(4, false).qp, 15);
  EXPECT_EQ(lowbit::ops::lsq_range(32, false).qp, 4294967295LL);
  EXPECT_THROW(lowbit::ops::lsq_range(0, true), c10::ValueError);
  EXPECT_THROW(lowbit::ops::lsq_range(33, true), c10::ValueError);
}

TEST(Lsq, SignedTwoBitValuesOnGrid) {
  // s = 0.5, levels {-2, -1, 0, 1} * s; round half to even (0.25/0.5 = 0.5 -> 0).
  const auto x = torch::tensor({-3.0, -0.76, 0.25, 0.3, 0.74, 2.0}, torch::kDouble);
  const auto y = lowbit::ops::lsq_quantize(x, torch::tensor({0.5}, torch::kDouble), {}, {2, 1}, 1.0);
  EXPECT_TRUE(torch::equal(y, torch::tensor({-1.0, -1.0, 0.0, 0.5, 0.5, 0.5}, torch::kDouble)));
}

TEST(Lsq, GradientsFollowEsserFormula) {
  // s = 0.5, signed 2-bit (Q_N = 2, Q_P = 1), g = 0.1.
  auto x = torch::tensor({-3.0, -0.6, 0.3, 2.0}, torch::kDouble).requires_grad_(true);
  auto s = torch::tensor({0.5}, torch::kDouble).requires_grad_(true);
  const auto upstream = torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kDouble);
  (lowbit::ops::lsq_quantize(x, s, {}, {2, 1}, 0.1) * upstream).sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({0.0, 2.0, 3.0, 0.0}, torch::kDouble)));
  // u = [-6, -1.2, 0.6, 4]: terms -Q_N, round(u)-u = 0.2, 0.4, Q_P.
  const double expected = 0.1 * (1.0 * -2 + 2.0 * 0.2 + 3.0 * 0.4 + 4.0 * 1);
  EXPECT_NEAR(s.grad().item<double>(), expected, 1e-12);
}

TEST(Lsq, OffsetGradientOnlyOutsideRange) {
  // Unsigned 2-bit (0..3), s = 1, beta = 0.5: u = x - 0.5.
  auto x = torch::tensor({0.0, 1.2, 2.9, 5.0}, torch::kDouble).requires_grad_(true);
  auto s = torch::tensor({1.0}, torch::kDouble).requires_grad_(true);
  auto b = torch::tensor({0.5}, torch::kDouble).requires_grad_(true);
  const auto y = lowbit::ops::lsq_quantize(x, s, b, {0, 3}, 1.0);
  EXPECT_TRUE(torch::allclose(y, torch::tensor({0.5, 1.5, 2.5, 3.5}, torch::kDouble)));
  (y * torch::tensor({1.0, 10.0, 100.0, 1000.0}, torch::kDouble)).sum().backward();
  EXPECT_NEAR(b.grad().item<double>(), 1.0 + 1000.0, 1e-12);  // u = -0.5 (below), 4.5 (above)
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({0.0, 10.0, 100.0, 0.0}, torch::kDouble)));
}

TEST(Lsq, KernelMatchesReferencePerTensorAndPerChannel) {
  torch::manual_seed(1);
  for (auto dtype : {torch::kFloat, torch::kDouble}) {
    for (int64_t channel_dim : {-1, 0, 1}) {  // -1 here: per tensor
      const auto x = (torch::randn({6, 5, 40}, dtype) * 2).requires_grad_(true);
      const int64_t channels = channel_dim < 0 ? 1 : x.size(channel_dim);
      auto step = (torch::rand({channels}, dtype) * 0.5 + 0.1).requires_grad_(true);
      auto offset = (torch::randn({channels}, dtype) * 0.1).requires_grad_(true);
      const auto upstream = torch::randn_like(x);
      const LsqRange range{4, 3};
      const double g = 0.01;
      (lowbit::ops::lsq_quantize(x, step, offset, range, g, std::max<int64_t>(channel_dim, 0)) * upstream)
          .sum()
          .backward();

      std::vector<int64_t> view(3, 1), reduce;
      if (channel_dim >= 0) view[channel_dim] = channels;
      for (int64_t d = 0; d < 3; ++d) {
        if (d != channel_dim) reduce.push_back(d);
      }
      const auto ref = reference(x.detach(), step.detach().view(view), offset.detach().view(view), range, upstream, g,
                                 reduce);
      const double tol = dtype == torch::kFloat ? 1e-4 : 1e-10;
      EXPECT_TRUE(torch::allclose(lowbit::ops::lsq_quantize(x, step, offset, range, g, std::max<int64_t>(channel_dim, 0)),
                                  ref.value, tol, tol));
      EXPECT_TRUE(torch::equal(x.grad(), ref.grad_x));
      EXPECT_TRUE(torch::allclose(step.grad(), ref.grad_step.reshape({channels}), tol, tol)) << channel_dim;
      EXPECT_TRUE(torch::allclose(offset.grad(), ref.grad_offset.reshape({channels}), tol, tol)) << channel_dim;
    }
  }
}

TEST(Lsq, LargeTensorReductionSpansSegments) {
  // More elements than one CPU segment (16384), so partial sums from several tasks add up.
  const auto x = torch::randn({100000}, torch::kDouble);
  auto step = torch::tensor({0.3}, torch::kDouble).requires_grad_(true);
  lowbit::ops::lsq_quantize(x, step, {}, {8, 7}, 1.0).sum().backward();
  const auto ref = reference(x, step.detach(), torch::zeros({1}, torch::kDouble), {8, 7}, torch::ones_like(x), 1.0, {0});
  EXPECT_NEAR(step.grad().item<double>(), ref.grad_step.item<double>(), 1e-8);
}

TEST(Lsq, PerChannelStepOfWrongSizeIsRejected) {
  try {
    lowbit::ops::lsq_quantize(torch::randn({4, 3}), torch::ones({5}), {}, {2, 1}, 1.0);
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(e.msg().find("per-channel state has 5 entries but the input has 4 along dim 0"), std::string::npos)
        << e.msg();
  }
}

TEST(Lsq, RoundsHalfToEvenLikeTorchAtEveryMagnitude) {
  // Step 1, 32-bit signed range: the quantizer is round(); the CPU kernel rounds without libm.
  for (auto dtype : {torch::kFloat, torch::kDouble}) {
    auto x = torch::cat({torch::arange(-20.5, 20.5, 0.25, dtype),
                         torch::tensor({4194303.5, 8388607.5, 8388609.0, 1e9 + 0.5, -2e9}, dtype)});
    const auto y = lowbit::ops::lsq_quantize(x, torch::ones({1}, dtype), {}, lowbit::ops::lsq_range(32, true), 1.0);
    EXPECT_TRUE(torch::equal(y, torch::round(x))) << dtype;
  }
}

TEST(Lsq, SignedOneBitIsTheSignCode) {
  const auto range = lowbit::ops::lsq_range(1, true);
  EXPECT_TRUE(range.sign);
  EXPECT_EQ(range.qn, 1);
  EXPECT_EQ(range.qp, 1);
  // s = 0.5: u = [-6, -0.8, 0, 0.4, 10]; levels sign(clamp(u, -1, 1)) * s, sign(0) = 0.
  auto x = torch::tensor({-3.0, -0.4, 0.0, 0.2, 5.0}, torch::kDouble).requires_grad_(true);
  auto s = torch::tensor({0.5}, torch::kDouble).requires_grad_(true);
  const auto y = lowbit::ops::lsq_quantize(x, s, {}, range, 1.0);
  EXPECT_TRUE(torch::equal(y, torch::tensor({-0.5, -0.5, 0.0, 0.5, 0.5}, torch::kDouble)));
  y.sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({0.0, 1.0, 1.0, 1.0, 0.0}, torch::kDouble)));
  // -Q_N below, sign(u) - u inside (-0.2, 0, 0.6), Q_P above.
  EXPECT_NEAR(s.grad().item<double>(), -1 - 0.2 + 0 + 0.6 + 1, 1e-12);
}

TEST(Lsq, SignCodeNeedsUnitRange) {
  EXPECT_THROW(lowbit::ops::lsq_quantize(torch::randn({3}), torch::ones({1}), {}, {2, 1, true}, 1.0), c10::Error);
}

TEST(Lsq, PerFeatureStateOnTheLastAxisSpansBlocks) {
  // Tokens [B, N, C] with one step per feature (inner = 1), more elements than one CPU block; 48
  // features do not divide the block, so a row of features starts in one block and ends in the next.
  torch::manual_seed(2);
  const auto x = torch::randn({40, 17, 48}, torch::kDouble).requires_grad_(true);
  auto step = (torch::rand({48}, torch::kDouble) * 0.3 + 0.1).requires_grad_(true);
  auto offset = (torch::randn({48}, torch::kDouble) * 0.1).requires_grad_(true);
  const auto upstream = torch::randn_like(x);
  const LsqRange range{8, 7};
  const auto y = lowbit::ops::lsq_quantize(x, step, offset, range, 0.1, -1);
  (y * upstream).sum().backward();
  const auto ref = reference(x.detach(), step.detach(), offset.detach(), range, upstream, 0.1, {0, 1});
  EXPECT_TRUE(torch::allclose(y, ref.value));
  EXPECT_TRUE(torch::equal(x.grad(), ref.grad_x));
  EXPECT_TRUE(torch::allclose(step.grad(), ref.grad_step, 1e-10, 1e-12));
  EXPECT_TRUE(torch::allclose(offset.grad(), ref.grad_offset, 1e-10, 1e-12));
}
