// The fused activation quantizers (kernels/activation_quantizers.h, behind ops::dorefa_activation
// and ops::adabin_activation) against the ATen compositions they replaced, written out here: values
// and masks exactly, gradients to 1e-6 relative.
#include <lowbit/csrc/ops/adabin.h>
#include <lowbit/csrc/ops/dorefa.h>
#include <lowbit/csrc/ops/sign.h>

#include <gtest/gtest.h>

#include <string>

#include <torch/torch.h>

namespace {

struct ActivationRun {
  torch::Tensor y, gx, galpha, gbeta;
};

template <typename Fn>
ActivationRun run_activation(Fn&& fn, const torch::Tensor& x0, const torch::Tensor& upstream, torch::Dtype dtype) {
  auto x = x0.to(dtype).clone().requires_grad_(true);
  auto alpha = torch::tensor(0.8, dtype).requires_grad_(true), beta = torch::tensor(0.1, dtype).requires_grad_(true);
  const auto y = fn(x, alpha, beta);
  (y * upstream.to(dtype)).sum().backward();
  return {y.detach(), x.grad(), alpha.grad(), beta.grad()};
}

void expect_relative(const torch::Tensor& a, const torch::Tensor& b, const char* what) {
  SCOPED_TRACE(what);
  ASSERT_TRUE(a.defined() && b.defined());
  const double error = (a.to(torch::kDouble) - b).abs().max().item<double>();
  EXPECT_LE(error, 1e-6 * std::max(1.0, b.abs().max().item<double>()));
}

TEST(FusedActivationQuantizers, DorefaEqualsClampThenRound) {
  torch::manual_seed(0);
  const auto x = torch::randn({4, 8, 17, 13}) * 0.8 + 0.5;  // both sides of [0, 1]
  const auto upstream = torch::randn_like(x);
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    for (const int64_t bits : {1, 2, 4}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + " " + std::to_string(bits) + " bits");
      const auto fused = run_activation([&](auto x, auto, auto) { return lowbit::ops::dorefa_activation(x, bits); }, x, upstream, dtype);
      const auto composed = run_activation([&](auto x, auto, auto) { return lowbit::ops::dorefa_quantize(torch::clamp(x, 0, 1), bits); },
                                x, upstream, dtype);
      EXPECT_TRUE(torch::equal(fused.y, composed.y));
      // The composition's (g / levels) levels is g within a rounding; the mask is the same.
      expect_relative(fused.gx, composed.gx.to(torch::kDouble), "dL/dx");
      EXPECT_TRUE(torch::equal(fused.gx == 0, composed.gx == 0));
      EXPECT_EQ(fused.y.scalar_type(), dtype);
    }
  }
}

TEST(FusedActivationQuantizers, AdaBinBothFormsWithTheScalarGradients) {
  torch::manual_seed(1);
  const auto x = torch::randn({8, 16, 9, 9});
  const auto upstream = torch::randn_like(x);
  for (const bool code : {true, false}) {
    const auto composition = [&](auto x, auto alpha, auto beta) {
      const auto s = lowbit::ops::sign((x - beta) / alpha, lowbit::ops::Ste::ApproxSign);
      return code ? alpha * (s + beta) : alpha * s + beta;
    };
    const auto fused_fn = [&](auto x, auto alpha, auto beta) { return lowbit::ops::adabin_activation(x, alpha, beta, code); };
    const auto exact = run_activation(composition, x, upstream, torch::kDouble);
    for (const auto dtype : {torch::kFloat, torch::kDouble}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + (code ? " code" : " paper"));
      const auto fused = run_activation(fused_fn, x, upstream, dtype);
      const auto composed = run_activation(composition, x, upstream, dtype);
      EXPECT_TRUE(torch::equal(fused.y, composed.y));
      expect_relative(fused.gx, exact.gx, "dL/dx");
      expect_relative(fused.galpha, exact.galpha, "dL/dalpha");
      expect_relative(fused.gbeta, exact.gbeta, "dL/dbeta");
      EXPECT_EQ(fused.galpha.scalar_type(), dtype);
      EXPECT_EQ(fused.galpha.dim(), 0);
    }
  }
}

}  // namespace
