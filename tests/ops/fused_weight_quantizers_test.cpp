// The fused weight quantizers (kernels/weight_quantizers.h, behind ops::scaled_sign, ternarize,
// bilinear_sign and dorefa_weight) against the ATen compositions they replaced, written out here:
// signs and masks exactly, values within one rounding of the row statistic (1e-6 relative),
// gradients to 1e-6 relative of a float64 run of the composition; float32 and float64, the
// dtype kept throughout.
#include <lowbit/csrc/kernels/weight_quantizers.h>
#include <lowbit/csrc/ops/adabin.h>
#include <lowbit/csrc/ops/bilinear_sign.h>
#include <lowbit/csrc/ops/dorefa.h>
#include <lowbit/csrc/ops/ede_sign.h>
#include <lowbit/csrc/ops/loss_scale.h>
#include <lowbit/csrc/ops/scaled_sign.h>
#include <lowbit/csrc/ops/sign.h>
#include <lowbit/csrc/ops/ternarize.h>

#include "support/error_of.h"

#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <string>

#include <torch/torch.h>

namespace {

using Quantize = std::function<torch::Tensor(const torch::Tensor& w, const torch::Tensor& scale)>;

struct WeightRun {
  torch::Tensor y, gw, gs;  // output, dL/dw, dL/dscale (undefined without a scale)
};

WeightRun run_weight(const Quantize& q, const torch::Tensor& w0, const torch::Tensor& s0, const torch::Tensor& upstream) {
  auto w = w0.clone().requires_grad_(true);
  auto s = s0.defined() ? s0.clone().requires_grad_(true) : torch::Tensor();
  const auto y = q(w, s);
  (y * upstream).sum().backward();
  return {y.detach(), w.grad(), s.defined() ? s.grad() : torch::Tensor()};
}

// |a - b| <= tol * max(1, max|b|), elementwise in float64.
void expect_close_to(const torch::Tensor& a, const torch::Tensor& b, double tol, const char* what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(a.sizes(), b.sizes());
  const auto error = (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
  EXPECT_LE(error, tol * std::max(1.0, b.abs().max().item<double>()));
}

// Fused against the composition in the same dtype (values) and in float64 (gradients).
void expect_fused_matches(const Quantize& fused, const Quantize& composed, const torch::Tensor& w,
                          const torch::Tensor& scale = {}) {
  const auto upstream = torch::randn_like(w);
  const auto f = run_weight(fused, w, scale, upstream);
  const auto c = run_weight(composed, w, scale, upstream);
  const auto exact = run_weight(composed, w.to(torch::kDouble), scale.defined() ? scale.to(torch::kDouble) : scale,
                         upstream.to(torch::kDouble));
  EXPECT_TRUE(torch::equal(torch::sign(f.y), torch::sign(c.y))) << "signs and masks differ";
  expect_close_to(f.y, c.y, 1e-6, "values");
  expect_close_to(f.gw, exact.gw, 1e-6, "dL/dw");
  EXPECT_EQ(f.y.scalar_type(), w.scalar_type());
  EXPECT_EQ(f.gw.scalar_type(), w.scalar_type());
  if (scale.defined()) {
    expect_close_to(f.gs, exact.gs, 1e-6, "dL/dscale");
    EXPECT_EQ(f.gs.scalar_type(), scale.scalar_type());
    EXPECT_EQ(f.gs.sizes(), scale.sizes());
  }
}

std::vector<int64_t> non_channel_dims(const torch::Tensor& w) {
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < w.dim(); ++d) dims.push_back(d);
  return dims;
}

// ---- the compositions replaced (lowbit before the fused kernels) ----

class ComposedScaledSign : public torch::autograd::Function<ComposedScaledSign> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& w, int64_t mode) {
    const auto alpha = w.abs().mean(non_channel_dims(w), true);
    ctx->saved_data["mode"] = mode;
    ctx->save_for_backward({w, alpha});
    return alpha * torch::sign(w);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const auto &w = saved[0], &alpha = saved[1];
    const auto clipped = grad[0] * (w.abs() <= 1);
    switch (static_cast<lowbit::ops::ScaleGrad>(ctx->saved_data["mode"].toInt())) {
      case lowbit::ops::ScaleGrad::Detached: return {clipped, {}};
      case lowbit::ops::ScaleGrad::MagnitudeAware: return {clipped * alpha, {}};
      case lowbit::ops::ScaleGrad::Xnor: return {clipped * alpha + grad[0] / static_cast<double>(w[0].numel()), {}};
    }
    return {};
  }
};

torch::Tensor composed_ternary(const torch::Tensor& w, double delta, bool per_channel) {
  std::vector<int64_t> dims = per_channel ? non_channel_dims(w) : std::vector<int64_t>{};
  if (!per_channel) for (int64_t d = 0; d < w.dim(); ++d) dims.push_back(d);
  const auto magnitude = w.detach().abs();
  const auto threshold = delta * magnitude.mean(dims, true);
  const auto kept = (magnitude > threshold).to(magnitude.scalar_type());
  const auto alpha = (magnitude * kept).sum(dims, true) / kept.sum(dims, true).clamp_min(1);
  const auto values = alpha * torch::sign(w.detach()) * (magnitude > threshold);
  return values + (w - w.detach());  // identity STE
}

class ComposedBilinear : public torch::autograd::Function<ComposedBilinear> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& w, const torch::Tensor& scale,
                               double gamma, double kappa, bool scale_sign_grad) {
    ctx->saved_data["gamma"] = gamma;
    ctx->saved_data["kappa"] = kappa;
    ctx->saved_data["sign"] = scale_sign_grad;
    ctx->save_for_backward({w, scale});
    return torch::sign(w) * kappa * scale.abs().view({-1, 1, 1, 1});
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const auto &w = saved[0], &scale = saved[1], &g = grad[0];
    const double gamma = ctx->saved_data["gamma"].toDouble();
    const auto s = scale.view({-1, 1, 1, 1}), alpha = s.abs();
    const auto b = torch::sign(w) * ctx->saved_data["kappa"].toDouble();
    const auto r = w - b * alpha;
    auto grad_alpha = (g * w).sum({1, 2, 3}, true) - gamma * (r * b).sum({1, 2, 3}, true);
    if (ctx->saved_data["sign"].toBool()) grad_alpha = grad_alpha * torch::sign(s);
    return {gamma * r + alpha * g, grad_alpha.reshape(scale.sizes()), {}, {}, {}};
  }
};

torch::Tensor composed_dorefa_weight(const torch::Tensor& w, int64_t bits) {
  const auto t = torch::tanh(w);
  const double levels = std::ldexp(1.0, static_cast<int>(bits)) - 1;
  const auto z = (t / (2 * t.abs().max()) + 0.5) * levels;
  return 2 * ((z.detach().round() + (z - z.detach())) / levels) - 1;  // round straight through
}

torch::Tensor composed_adabin(const torch::Tensor& w, const torch::Tensor& k, const torch::Tensor& t) {
  const auto filters = w.flatten(1);
  const auto centre = filters.mean(1, true);
  const auto deviation = filters - centre;
  const auto distance = deviation.pow(2).mean(1, true).clamp_min(1e-24).sqrt();
  return (lowbit::ops::ede_sign(deviation / distance, k, t) * distance + centre).view_as(w);
}

TEST(FusedWeightQuantizers, XnorScaledSignEveryScaleGradient) {
  torch::manual_seed(0);
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    for (const auto mode : {lowbit::ops::ScaleGrad::Detached, lowbit::ops::ScaleGrad::MagnitudeAware,
                            lowbit::ops::ScaleGrad::Xnor}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + " mode " + std::to_string(static_cast<int>(mode)));
      // 1.5 x N(0, 1): some |w| > 1, where the clip cuts the gradient.
      const auto w = torch::randn({24, 16, 3, 3}, dtype) * 1.5;
      expect_fused_matches([&](auto w, auto) { return lowbit::ops::scaled_sign(w, mode); },
                           [&](auto w, auto) { return ComposedScaledSign::apply(w, static_cast<int64_t>(mode)); }, w);
    }
  }
  // A row longer than one chunk (16384 elements) and a linear weight.
  expect_fused_matches([](auto w, auto) { return lowbit::ops::scaled_sign(w, lowbit::ops::ScaleGrad::Xnor); },
                       [](auto w, auto) { return ComposedScaledSign::apply(w, 2); }, torch::randn({3, 40000}));
}

TEST(FusedWeightQuantizers, TernaryPerChannelAndPerTensor) {
  torch::manual_seed(1);
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    for (const bool per_channel : {true, false}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + (per_channel ? " per channel" : " per tensor"));
      for (const auto& shape : {std::vector<int64_t>{32, 8, 3, 3}, std::vector<int64_t>{5, 50000}}) {
        const auto w = torch::randn(shape, dtype) * 0.05;
        expect_fused_matches(
            [&](auto w, auto) { return lowbit::ops::ternarize(w, 0.7, per_channel, lowbit::ops::Ste::Identity); },
            [&](auto w, auto) { return composed_ternary(w, 0.7, per_channel); }, w);
      }
    }
  }
  // ternary_scale gives the kernel's threshold and alpha, shaped to broadcast.
  const auto w = torch::randn({6, 4, 3, 3});
  const auto scale = lowbit::ops::ternary_scale(w, 0.7, true);
  EXPECT_EQ(scale.alpha.sizes(), (std::vector<int64_t>{6, 1, 1, 1}));
  expect_close_to(scale.threshold, 0.7 * w.abs().mean({1, 2, 3}, true), 1e-6, "threshold");
}

TEST(FusedWeightQuantizers, BilinearSignScaleGradientWithAndWithoutItsSign) {
  torch::manual_seed(2);
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    for (const bool scale_sign_grad : {true, false}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + (scale_sign_grad ? " sign(s)" : " no sign"));
      const auto w = torch::randn({16, 8, 3, 3}, dtype) * 0.1;
      const auto scale = torch::randn({16, 1, 1, 1}, dtype);  // both signs
      const auto options = lowbit::ops::BilinearSignOptions().scale_sign_grad(scale_sign_grad);
      expect_fused_matches([&](auto w, auto s) { return lowbit::ops::bilinear_sign(w, s, 2e-4, options); },
                           [&](auto w, auto s) { return ComposedBilinear::apply(w, s, 2e-4, 0.02, scale_sign_grad); }, w,
                           scale);
    }
  }
}

// RBONN's recurrence (ops::recurrent_bilinear_sign) against W~ = W - c P by ATen (autograd through it)
// and the composed binarization: signs, dL/dW, dL/ds, dL/dc and the record dL/dW~ / S, under loss
// scales of 1, a power of two and 3 (the backward's gradients are S times the unscaled ones).
TEST(FusedWeightQuantizers, RecurrentBilinearSignShiftsRecordsAndSumsTheShiftGradient) {
  torch::manual_seed(7);
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    const auto w0 = torch::randn({16, 8, 3, 3}, dtype) * 0.1, scale0 = torch::randn({16, 1, 1, 1}, dtype);
    const auto c0 = torch::rand({16}, dtype) * 0.3, p = torch::randn_like(w0) * 0.1;
    const auto upstream = torch::randn_like(w0);
    auto run_composed = [&](torch::Dtype type, bool shifted) {
      auto w = w0.to(type).clone().requires_grad_(true), s = scale0.to(type).clone().requires_grad_(true);
      auto c = c0.to(type).clone().requires_grad_(true);
      const auto w_tilde = shifted ? w - c.view({-1, 1, 1, 1}) * p.to(type) : w;
      const auto y = ComposedBilinear::apply(w_tilde, s, 2e-4, 0.02, true);
      (y * upstream.to(type)).sum().backward();
      return std::vector<torch::Tensor>{y.detach(), w.grad(), s.grad(), shifted ? c.grad() : torch::Tensor()};
    };
    for (const bool shifted : {true, false}) {
      const auto composed = run_composed(dtype, shifted), exact = run_composed(torch::kDouble, shifted);
      for (const double loss_scale : {1.0, 65536.0, 3.0}) {
        SCOPED_TRACE(std::string(c10::toString(dtype)) + (shifted ? " shifted" : " first step") + " S " +
                     std::to_string(loss_scale));
        auto w = w0.clone().requires_grad_(true), s = scale0.clone().requires_grad_(true);
        auto c = c0.clone().requires_grad_(true);
        torch::Tensor recorded;
        lowbit::ops::Recurrence recurrence{shifted ? c : torch::Tensor(), shifted ? p : torch::Tensor(),
                                           [&](const torch::Tensor& g) { recorded = g; }};
        const auto gamma = torch::scalar_tensor(2e-4, torch::kDouble);
        const auto y = lowbit::ops::recurrent_bilinear_sign(w, s, gamma, {}, recurrence);
        {
          lowbit::ops::LossScaleGuard guard(loss_scale);
          (y * upstream * loss_scale).sum().backward();
        }
        EXPECT_TRUE(torch::equal(torch::sign(y), torch::sign(composed[0])));
        expect_close_to(y, composed[0], 1e-6, "values");
        expect_close_to(w.grad() / loss_scale, exact[1], 1e-6, "dL/dw");
        expect_close_to(s.grad() / loss_scale, exact[2], 1e-6, "dL/ds");
        ASSERT_TRUE(recorded.defined());
        expect_close_to(recorded, exact[1], 1e-6, "the record");
        EXPECT_EQ(recorded.scalar_type(), dtype);
        if (loss_scale == 1) EXPECT_TRUE(torch::equal(recorded, w.grad()));
        if (shifted) {
          expect_close_to(c.grad() / loss_scale, exact[3], 1e-6, "dL/dc");
          EXPECT_EQ(c.grad().sizes(), c.sizes());
        } else {
          EXPECT_FALSE(c.grad().defined());
        }
      }
    }
  }
}

// A shift whose c or P does not fit the weight fails naming which.
TEST(FusedWeightQuantizers, RecurrentShiftOfTheWrongShapeIsNamed) {
  const auto w = torch::randn({4, 3, 3, 3}), s = torch::randn({4, 1, 1, 1});
  const auto gamma = torch::scalar_tensor(1e-4, torch::kDouble);
  const auto bad_p = lowbit::testing::error_of([&] {
    lowbit::ops::recurrent_bilinear_sign(w, s, gamma, {}, {torch::rand({4}), torch::randn({4, 27}), {}});
  });
  EXPECT_NE(bad_p.find("the shift's P has shape [4, 27], expected the weight's [4, 3, 3, 3]"), std::string::npos)
      << bad_p;
  const auto bad_c = lowbit::testing::error_of([&] {
    lowbit::ops::recurrent_bilinear_sign(w, s, gamma, {}, {torch::rand({3}), torch::randn_like(w), {}});
  });
  EXPECT_NE(bad_c.find("the shift's c has 3 elements, expected one per row (4)"), std::string::npos) << bad_c;
  const auto half = lowbit::testing::error_of(
      [&] { lowbit::ops::recurrent_bilinear_sign(w, s, gamma, {}, {torch::rand({4}), {}, {}}); });
  EXPECT_NE(half.find("the recurrent shift takes both c and P, got only c"), std::string::npos) << half;
}

// The Meta kernel (tracing, fake tensors) gives the recurrent backward's outputs their shapes: dL/dc
// one per channel in c's dtype and the record shaped as the weight, both [0] when not asked for.
TEST(FusedWeightQuantizers, MetaKernelShapesTheRecurrentBackward) {
  const auto meta = torch::TensorOptions().device(torch::kMeta);
  const auto w = torch::empty({16, 8, 3, 3}, meta), alpha = torch::empty({16}, meta);
  const auto c = torch::empty({16}, meta.dtype(torch::kDouble));
  const auto [gw, ga, gc, record] = lowbit::kernels::bilinear_sign_backward(w, w, alpha, alpha, 0.02, c, w, 2.0);
  EXPECT_EQ(gw.sizes(), w.sizes());
  EXPECT_EQ(ga.sizes(), alpha.sizes());
  EXPECT_EQ(gc.sizes(), c.sizes());
  EXPECT_EQ(gc.scalar_type(), torch::kDouble);
  EXPECT_EQ(record.sizes(), w.sizes());
  const auto plain = lowbit::kernels::bilinear_sign_backward(w, w, alpha, alpha, 0.02);
  EXPECT_EQ(std::get<2>(plain).numel(), 0);
  EXPECT_EQ(std::get<3>(plain).numel(), 0);
  // dL/dalpha is [rows] whatever alpha's shape, as on the CPU.
  const auto cpu_w = torch::randn({16, 8, 3, 3}), cpu_alpha = torch::rand({16, 1, 1, 1});
  const auto on_cpu = lowbit::kernels::bilinear_sign_backward(cpu_w, cpu_w, cpu_alpha, cpu_alpha.flatten(), 0.02);
  const auto on_meta = lowbit::kernels::bilinear_sign_backward(w, w, alpha.view({16, 1, 1, 1}), alpha, 0.02);
  EXPECT_EQ(std::get<1>(on_cpu).sizes(), std::vector<int64_t>{16});
  EXPECT_EQ(std::get<1>(on_meta).sizes(), std::get<1>(on_cpu).sizes());
}

// A weight whose rows hold no element ([C, 0, k]) gets the row statistics of the ATen composition:
// means 0 / 0 (NaN), TWN's alpha 0 over max(1, 0) kept (CudaKernels.WeightRowsWithoutElementsMatchCpu:
// the CUDA kernels too).
TEST(FusedWeightQuantizers, RowsWithoutElementsGetTheCompositionsStatistics) {
  const auto w = torch::empty({4, 0, 3});
  const auto nan = torch::full({4}, std::numeric_limits<float>::quiet_NaN());
  const auto same = [](const torch::Tensor& a, const torch::Tensor& b) {
    return a.sizes() == b.sizes() && torch::allclose(a, b, 0, 0, /*equal_nan=*/true);
  };
  const auto [xnor_y, xnor_alpha] = lowbit::kernels::scaled_sign_forward(w);
  EXPECT_EQ(xnor_y.sizes(), w.sizes());
  EXPECT_TRUE(same(xnor_alpha, w.abs().mean({1, 2}))) << xnor_alpha;
  const auto [ternary_y, threshold, alpha] = lowbit::kernels::ternarize_forward(w, 0.7, true);
  EXPECT_TRUE(same(threshold, nan)) << threshold;
  EXPECT_TRUE(same(alpha, torch::zeros({4}))) << alpha;
  const auto [adabin_y, beta, spread] = lowbit::kernels::adabin_weight_forward(w);
  EXPECT_TRUE(same(beta, w.mean({1, 2}))) << beta;
  EXPECT_TRUE(same(spread, nan)) << spread;
}

TEST(FusedWeightQuantizers, DorefaWeightThroughTanhAndTheMax) {
  torch::manual_seed(3);
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    for (const int64_t bits : {2, 4}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + " " + std::to_string(bits) + " bits");
      expect_fused_matches([&](auto w, auto) { return lowbit::ops::dorefa_weight(w, bits); },
                           [&](auto w, auto) { return composed_dorefa_weight(w, bits); },
                           torch::randn({20, 9, 3, 3}, dtype) * 0.5);
    }
  }
  // Ties of the max: tanh saturates to 1 in float32 for these, and the max's gradient is shared
  // among them as torch's max shares it.
  auto w = torch::randn({4, 40}) * 0.5;
  w[0][0] = 20;
  w[1][3] = -25;
  w[2][5] = 1.2;  // the max of |t| is 1 (the saturated pair); this one is below it
  expect_fused_matches([](auto w, auto) { return lowbit::ops::dorefa_weight(w, 3); },
                       [](auto w, auto) { return composed_dorefa_weight(w, 3); }, w);
}

TEST(FusedWeightQuantizers, AdaBinThroughTheMeanAndStdAtEveryEdeStage) {
  torch::manual_seed(5);
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    // The EDE schedule's ends and middle: t = 0.001 (k = 1000), 0.1 (k = 10), 10 (k = 1).
    for (const auto& [k, t] : {std::pair{1000.0, 1e-3}, std::pair{10.0, 0.1}, std::pair{1.0, 10.0}}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + " t " + std::to_string(t));
      const auto kt = torch::tensor(k), tt = torch::tensor(t);
      const auto w = torch::randn({12, 6, 3, 3}, dtype) * 0.2 + 0.05;
      expect_fused_matches([&](auto w, auto) { return lowbit::ops::adabin_weight(w, kt, tt); },
                           [&](auto w, auto) { return composed_adabin(w, kt, tt); }, w);
    }
  }
  // A constant filter: the variance is clamped, its gradient does not flow.
  auto w = torch::randn({3, 20});
  w[1].fill_(0.3);
  expect_fused_matches([](auto w, auto) { return lowbit::ops::adabin_weight(w, torch::tensor(10.0), torch::tensor(0.1)); },
                       [](auto w, auto) { return composed_adabin(w, torch::tensor(10.0), torch::tensor(0.1)); }, w);
}

TEST(FusedWeightQuantizers, HalfWeightsComputeInFloatAndKeepTheirDtype) {
  torch::manual_seed(4);
  const auto w = (torch::randn({8, 4, 3, 3}) * 0.3).to(torch::kHalf);
  const auto y = lowbit::ops::scaled_sign(w, lowbit::ops::ScaleGrad::Detached);
  EXPECT_EQ(y.scalar_type(), torch::kHalf);
  const auto wf = w.to(torch::kFloat);
  EXPECT_TRUE(torch::allclose(y.to(torch::kFloat), wf.abs().mean({1, 2, 3}, true) * wf.sign(), 1e-3, 1e-3));
}

}  // namespace
