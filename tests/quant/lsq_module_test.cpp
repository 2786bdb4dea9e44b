#include <lowbit/modules/quant/lsq.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <sstream>

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
  // ... until a load writes an uninitialised state (a checkpoint saved before any forward).
  Lsq fresh(LsqOptions(4));
  torch::serialize::OutputArchive archive;
  fresh->save(archive);
  std::stringstream bytes;
  archive.save_to(bytes);
  torch::serialize::InputArchive loaded;
  loaded.load_from(bytes);
  lsq->load(loaded);
  lsq(x * 100);
  EXPECT_NEAR(lsq->step.item<double>(), 2 * 250 / std::sqrt(7.0), 1e-4);
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

// Q-ViT's LinearQ / Conv2dQ (Quant.py): per-output-channel steps, all initialised to
// 2 mean|W| / sqrt(Q_P) over the whole weight, g = 1/sqrt(numel(W) Q_P).
TEST(LsqModule, QvitWeightInitIsSharedAcrossChannels) {
  torch::manual_seed(0);
  const auto w = torch::randn({5, 8}) * torch::arange(1, 6).unsqueeze(1);  // channels of different scale
  Lsq lsq(LsqOptions(4).per_channel(true).channels(5).init_per_channel(false));
  const auto q = lsq(w);
  EXPECT_TRUE(torch::allclose(lsq->step, torch::full({5}, 2 * w.abs().mean().item<double>() / std::sqrt(7.0))));
  const auto codes = q / lsq->step.unsqueeze(1);
  EXPECT_TRUE(torch::allclose(codes, torch::round(codes), 0, 1e-5));
  EXPECT_GE(codes.min().item<double>(), -8 - 1e-5);
  EXPECT_LE(codes.max().item<double>(), 7 + 1e-5);
}

TEST(LsqModule, QvitWeightMatchesOfficialLinearQGraph) {
  torch::manual_seed(1);
  for (int64_t bits : {2, 3, 4, 8}) {
    const double qn = -std::pow(2.0, bits - 1), qp = std::pow(2.0, bits - 1) - 1;
    const auto w0 = torch::randn({4, 6}, torch::kDouble) * 0.1;
    const auto alpha0 = torch::rand({4}, torch::kDouble) * 0.05 + 0.01;
    const auto upstream = torch::randn({4, 6}, torch::kDouble);
    Lsq lsq(LsqOptions(bits).per_channel(true).channels(4).init_per_channel(false));
    lsq->to(torch::kDouble);
    {
      torch::NoGradGuard no_grad;
      lsq->step.copy_(alpha0);
      lsq->initialized.fill_(true);
    }
    auto w = w0.clone().requires_grad_(true);
    const auto y = lsq(w);
    (y * upstream).sum().backward();

    // Official: alpha = grad_scale(alpha, g).unsqueeze(1); round_pass((W / alpha).clamp(Qn, Qp)) * alpha.
    auto w_ref = w0.clone().requires_grad_(true);
    auto alpha = alpha0.clone().requires_grad_(true);
    const double g = 1.0 / std::sqrt(24.0 * qp);
    const auto a = ((alpha - alpha * g).detach() + alpha * g).unsqueeze(1);
    const auto u = (w_ref / a).clamp(qn, qp);
    const auto y_ref = ((u.round() - u).detach() + u) * a;
    (y_ref * upstream).sum().backward();
    EXPECT_TRUE(torch::allclose(y, y_ref, 1e-12, 1e-14)) << bits;
    EXPECT_TRUE(torch::allclose(w.grad(), w_ref.grad())) << bits;
    EXPECT_TRUE(torch::allclose(lsq->step.grad(), alpha.grad(), 1e-10, 1e-14)) << bits;
  }
}
