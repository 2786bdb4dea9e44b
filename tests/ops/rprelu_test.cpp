// The fused RPReLU (csrc/ops/rprelu.h) against the composition it replaces,
// prelu(x + residual + gamma, beta) + zeta: outputs and input gradients exactly, the parameters'
// gradients within 1e-6 of the float64 composition's largest, dtypes and memory formats kept,
// whether it recovers t from its output or keeps t (a slope near 0).
#include <lowbit/csrc/kernels/rprelu.h>
#include <lowbit/csrc/ops/rprelu.h>

#include "support/require_gpu.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <string>
#include <vector>

namespace {

struct Parameters {
  torch::Tensor gamma, beta, zeta;
};

Parameters parameters(int64_t channels, torch::ScalarType dtype, double min_slope) {
  return {torch::randn({1, channels, 1, 1}, dtype) * 0.3,
          torch::rand({channels}, dtype) * 0.5 + min_slope,
          torch::randn({1, channels, 1, 1}, dtype) * 0.3};
}

struct RPReLURun {
  torch::Tensor y, gx, gr, gamma, beta, zeta;
};

// fn(x, residual, gamma, beta, zeta) with every input requiring its gradient; upstream g.
template <typename Fn>
RPReLURun run(Fn&& fn, const torch::Tensor& x0, const torch::Tensor& r0, const Parameters& p0,
              const torch::Tensor& upstream, torch::ScalarType dtype) {
  // clone keeps a channels-last input channels-last.
  const auto leaf = [&](const torch::Tensor& t) { return t.to(dtype).clone().requires_grad_(true); };
  auto x = leaf(x0), r = leaf(r0), gamma = leaf(p0.gamma), beta = leaf(p0.beta), zeta = leaf(p0.zeta);
  const auto y = fn(x, r, gamma, beta, zeta);
  (y * upstream.to(dtype)).sum().backward();
  return {y.detach(), x.grad(), r.grad(), gamma.grad(), beta.grad(), zeta.grad()};
}

torch::Tensor composition(const torch::Tensor& x, const torch::Tensor& r, const torch::Tensor& gamma,
                          const torch::Tensor& beta, const torch::Tensor& zeta) {
  return torch::prelu(x + r + gamma, beta) + zeta;
}

torch::Tensor fused(const torch::Tensor& x, const torch::Tensor& r, const torch::Tensor& gamma,
                    const torch::Tensor& beta, const torch::Tensor& zeta) {
  return lowbit::ops::rprelu(x, r, gamma, beta, zeta);
}

double max_error(const torch::Tensor& a, const torch::Tensor& exact) {
  return (a.to(torch::kDouble) - exact).abs().max().item<double>() / std::max(1.0, exact.abs().max().item<double>());
}

void expect_matches_composition(const torch::Tensor& x, const torch::Tensor& r, const Parameters& p,
                                torch::ScalarType dtype) {
  const auto upstream = torch::randn_like(x);
  const auto a = run(fused, x, r, p, upstream, dtype);
  const auto b = run(composition, x, r, p, upstream, dtype);
  const auto exact = run(composition, x, r, p, upstream, torch::kDouble);
  EXPECT_TRUE(torch::equal(a.y, b.y));
  EXPECT_TRUE(torch::equal(a.gx, b.gx));
  EXPECT_TRUE(torch::equal(a.gr, b.gr));
  EXPECT_LE(max_error(a.gamma, exact.gamma), 1e-6);
  EXPECT_LE(max_error(a.beta, exact.beta), 1e-6);
  EXPECT_LE(max_error(a.zeta, exact.zeta), 1e-6);
  EXPECT_EQ(a.y.scalar_type(), dtype);
  EXPECT_EQ(a.gx.scalar_type(), dtype);
  EXPECT_EQ(a.beta.scalar_type(), dtype);
  EXPECT_EQ(a.gamma.sizes(), p.gamma.sizes());
  EXPECT_EQ(a.beta.sizes(), p.beta.sizes());
  EXPECT_EQ(a.y.is_contiguous(torch::MemoryFormat::ChannelsLast), b.y.is_contiguous(torch::MemoryFormat::ChannelsLast));
}

TEST(RPReLUOp, EqualsTheCompositionInFloatAndDouble) {
  torch::manual_seed(0);
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    SCOPED_TRACE(c10::toString(dtype));
    // 5x7 planes: runs of one channel start and end inside bytes of the bit tensor.
    const auto x = torch::randn({6, 24, 5, 7}), r = torch::randn({6, 24, 5, 7});
    expect_matches_composition(x, r, parameters(24, torch::kFloat, lowbit::ops::kRecoverableSlope), dtype);
  }
}

TEST(RPReLUOp, ASlopeNearZeroKeepsTheInputAndStillMatches) {
  torch::manual_seed(1);
  auto p = parameters(16, torch::kFloat, 0.0);
  p.beta[3] = 0.0;  // y no longer determines t in channel 3
  p.beta[5] = 1e-3;
  expect_matches_composition(torch::randn({4, 16, 9, 9}), torch::randn({4, 16, 9, 9}), p, torch::kFloat);
}

TEST(RPReLUOp, ANegativeSlopeIsRecoveredToo) {
  torch::manual_seed(2);
  auto p = parameters(8, torch::kFloat, lowbit::ops::kRecoverableSlope);
  p.beta = -p.beta;
  expect_matches_composition(torch::randn({4, 8, 6, 6}), torch::randn({4, 8, 6, 6}), p, torch::kFloat);
}

TEST(RPReLUOp, ChannelsLastStaysChannelsLast) {
  torch::manual_seed(3);
  const auto x = torch::randn({3, 12, 5, 5}).contiguous(torch::MemoryFormat::ChannelsLast);
  const auto r = torch::randn({3, 12, 5, 5}).contiguous(torch::MemoryFormat::ChannelsLast);
  expect_matches_composition(x, r, parameters(12, torch::kFloat, lowbit::ops::kRecoverableSlope), torch::kFloat);
}

TEST(RPReLUOp, WrittenOverItsInputItGivesTheSameValuesAndGradients) {
  torch::manual_seed(7);
  const auto x = torch::randn({4, 16, 6, 6}), r = torch::randn({4, 16, 6, 6});
  const auto p = parameters(16, torch::kFloat, lowbit::ops::kRecoverableSlope);
  const auto upstream = torch::randn_like(x);
  const void* storage = nullptr;
  const auto in_place = [&](const torch::Tensor& x, const torch::Tensor& r, const torch::Tensor& gamma,
                            const torch::Tensor& beta, const torch::Tensor& zeta) {
    auto fresh = x * 1.0;  // a leaf that requires grad cannot be overwritten
    storage = fresh.data_ptr();
    auto y = lowbit::ops::rprelu(fresh, r, gamma, beta, zeta, /*overwrite_input=*/true);
    EXPECT_EQ(y.data_ptr(), storage);
    return y;
  };
  const auto a = run(in_place, x, r, p, upstream, torch::kFloat);
  const auto b = run(composition, x, r, p, upstream, torch::kFloat);
  EXPECT_NE(storage, nullptr);
  EXPECT_TRUE(torch::equal(a.y, b.y));
  EXPECT_TRUE(torch::equal(a.gx, b.gx));
  EXPECT_TRUE(torch::equal(a.gr, b.gr));
  EXPECT_TRUE(torch::allclose(a.beta, b.beta, 1e-5, 1e-5));
}

TEST(RPReLUOp, WithoutResidualAndOnTokens) {
  torch::manual_seed(4);
  const auto x = torch::randn({40, 10});
  const auto p = parameters(10, torch::kFloat, lowbit::ops::kRecoverableSlope);
  const auto gamma = p.gamma.view({1, 10}), zeta = p.zeta.view({1, 10});
  const auto y = lowbit::ops::rprelu(x, {}, gamma, p.beta, zeta);
  EXPECT_TRUE(torch::equal(y, torch::prelu(x + gamma, p.beta) + zeta));
}

TEST(RPReLUOp, WrongShapesAreNamed) {
  const auto x = torch::randn({2, 4, 3, 3});
  const auto p = parameters(4, torch::kFloat, 0.25);
  try {
    lowbit::ops::rprelu(x, torch::randn({2, 4, 3, 2}), p.gamma, p.beta, p.zeta);
    FAIL() << "a residual of another shape was accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("residual's shape"), std::string::npos) << e.what();
  }
  try {
    lowbit::ops::rprelu(x, {}, p.gamma, torch::rand({5}), p.zeta);
    FAIL() << "a slope per 5 channels was accepted for 4";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("beta has 5 values"), std::string::npos) << e.what();
  }
}

TEST(RPReLUOp, HalfPrecisionFollowsFloat) {
  torch::manual_seed(5);
  const auto x = torch::randn({4, 8, 6, 6}), r = torch::randn({4, 8, 6, 6});
  const auto p = parameters(8, torch::kFloat, lowbit::ops::kRecoverableSlope);
  for (const auto dtype : {torch::kHalf, torch::kBFloat16}) {
    const auto upstream = torch::randn_like(x);
    const auto a = run(fused, x, r, p, upstream, dtype);
    const auto b = run(composition, x, r, p, upstream, torch::kFloat);
    EXPECT_EQ(a.y.scalar_type(), dtype);
    EXPECT_TRUE(torch::allclose(a.y.to(torch::kFloat), b.y, 2e-2, 2e-2));
    EXPECT_TRUE(torch::allclose(a.gx.to(torch::kFloat), b.gx, 2e-2, 2e-2));
    // The slopes' gradients sum 144 products each: within 2 % of the largest.
    EXPECT_LE((a.beta.to(torch::kFloat) - b.beta).abs().max().item<double>(), 2e-2 * b.beta.abs().max().item<double>());
  }
}

TEST(RPReLUOp, CudaMatchesCpu) {
  REQUIRE_GPU();
  torch::manual_seed(6);
  const auto x = torch::randn({4, 16, 7, 9}), r = torch::randn({4, 16, 7, 9}), g = torch::randn({4, 16, 7, 9});
  const auto p = parameters(16, torch::kFloat, lowbit::ops::kRecoverableSlope);
  for (const bool keep_input : {false, true}) {
    for (const auto dtype : {torch::kFloat, torch::kDouble, torch::kHalf, torch::kBFloat16}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + (keep_input ? " keeping t" : " keeping y"));
      const auto on = [&](const torch::Tensor& t, bool cuda) { return cuda ? t.to(dtype).cuda() : t.to(dtype); };
      std::vector<torch::Tensor> outputs[2], grads[2];
      for (const bool cuda : {false, true}) {
        const auto [y, bits, t] = lowbit::kernels::rprelu_forward(on(x, cuda), on(r, cuda), on(p.gamma, cuda),
                                                                   on(p.beta, cuda), on(p.zeta, cuda), keep_input);
        const auto [grad_t, sums] = lowbit::kernels::rprelu_backward(on(g, cuda), keep_input ? t : y, bits,
                                                                     on(p.beta, cuda), on(p.zeta, cuda), !keep_input);
        outputs[cuda] = {y.cpu(), bits.cpu()};
        grads[cuda] = {grad_t.cpu().to(torch::kFloat), sums.cpu()};
      }
      EXPECT_TRUE(torch::equal(outputs[1][0], outputs[0][0]));
      EXPECT_TRUE(torch::equal(outputs[1][1], outputs[0][1]));
      EXPECT_TRUE(torch::equal(grads[1][0], grads[0][0]));
      // Per-channel sums in double; float64 terms to float64's precision.
      const double tol = dtype == torch::kDouble ? 1e-10 : 1e-4;
      EXPECT_TRUE(torch::allclose(grads[1][1], grads[0][1], tol, tol));
    }
  }
}

}  // namespace
