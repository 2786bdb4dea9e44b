#include <lowbit/modules/quant/lsq.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

using lowbit::quant::Lsq;
using lowbit::quant::LsqInit;
using lowbit::quant::LsqOptions;

TEST(LsqModule, MeanAbsInitFromFirstInput) {
  Lsq lsq(LsqOptions(4));  // Q_P = 7
  const auto x = torch::tensor({-1.0, 2.0, -3.0, 4.0});
  lsq(x);
  EXPECT_NEAR(lsq->step.item<double>(), 2 * 2.5 / std::sqrt(7.0), 1e-6);
  EXPECT_TRUE(lsq->initialized.item<bool>());
  lsq(x * 100);  // later inputs do not re-initialise
  EXPECT_NEAR(lsq->step.item<double>(), 2 * 2.5 / std::sqrt(7.0), 1e-6);
}

TEST(LsqModule, ThreeSigmaInitPerChannel) {
  Lsq lsq(LsqOptions(3).per_channel(true).channels(2).init(LsqInit::ThreeSigma));
  const auto w = torch::tensor({{1.0, 3.0}, {-2.0, -2.0}});
  lsq(w);
  // channel 0: mu 2, sigma 1 -> max(|-1|, |5|)/4; channel 1: mu -2, sigma 0 -> 2/4.
  EXPECT_TRUE(torch::allclose(lsq->step, torch::tensor({1.25, 0.5})));
}

TEST(LsqModule, MinMaxInitSetsOffset) {
  Lsq lsq(LsqOptions(2).is_signed(false).offset(true).init(LsqInit::MinMax));
  lsq(torch::tensor({-0.5, 0.1, 2.5}));
  EXPECT_NEAR(lsq->step.item<double>(), 1.0, 1e-6);   // (2.5 + 0.5) / 3
  EXPECT_NEAR(lsq->offset.item<double>(), -0.5, 1e-6);
}

TEST(LsqModule, StepGradientIsScaledByOneOverSqrtNQp) {
  Lsq lsq(LsqOptions(2));  // signed: Q_N 2, Q_P 1
  const auto x = torch::tensor({0.3, -0.6, 5.0, -5.0});
  lsq(x);
  {
    torch::NoGradGuard no_grad;
    lsq->step.fill_(0.5);
  }
  lsq(x).sum().backward();
  // u = [0.6, -1.2, 10, -10]: terms 0.4, 0.2, Q_P = 1, -Q_N = -2; g = 1/sqrt(4 * 1).
  EXPECT_NEAR(lsq->step.grad().item<double>(), 0.5 * (0.4 + 0.2 + 1 - 2), 1e-6);
}

TEST(LsqModule, PerChannelStepOfWrongShapeNamesBoth) {
  Lsq lsq(LsqOptions(4).per_channel(true).channels(64));
  try {
    lsq(torch::randn({128, 3}));
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(e.msg().find("lsq per-channel step has shape [64], expected [128] for input shape [128, 3]"),
              std::string::npos)
        << e.msg();
  }
}

TEST(LsqModule, ChannelsWithoutPerChannelIsRejected) {
  EXPECT_THROW(Lsq(LsqOptions(4).channels(8)), c10::ValueError);
}
