// conv2d_of and linear_of (csrc/ops/kept_operands.h) against at::conv2d / at::linear on the same
// tensors: the same outputs and gradients, with the input kept as bit planes or on its LSQ grid.
#include <lowbit/csrc/kernels/binary_gemm.h>
#include <lowbit/csrc/ops/kept_operands.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <ATen/autocast_mode.h>

namespace {

using lowbit::ops::Conv2dArgs;
using lowbit::ops::Operand;

Operand signs(const torch::Tensor& x) { return {x, Operand::Kept::Signs}; }
Operand values(const torch::Tensor& w) { return {w, Operand::Kept::Values}; }

struct Run {
  torch::Tensor y, x, w, b;
};

// Output and the gradients of sum(y * r) for a fixed random r.
template <typename Fn>
Run run(Fn&& fn, const torch::Tensor& x0, const torch::Tensor& w0, const torch::Tensor& b0) {
  auto x = x0.clone().requires_grad_(true);
  auto w = w0.clone().requires_grad_(true);
  auto b = b0.defined() ? b0.clone().requires_grad_(true) : torch::Tensor();
  const auto y = fn(x, w, b);
  torch::manual_seed(7);
  (y * torch::randn_like(y)).sum().backward();
  return {y.detach(), x.grad(), w.grad(), b.defined() ? b.grad() : torch::Tensor()};
}

void expect_equal(const Run& a, const Run& b) {
  EXPECT_TRUE(torch::equal(a.y, b.y));
  EXPECT_TRUE(torch::equal(a.x, b.x));
  EXPECT_TRUE(torch::equal(a.w, b.w));
  ASSERT_EQ(a.b.defined(), b.b.defined());
  if (a.b.defined()) EXPECT_TRUE(torch::equal(a.b, b.b));
  EXPECT_EQ(a.x.scalar_type(), b.x.scalar_type());
}

TEST(KeptOperands, ConvolutionOfSignsEqualsConv2dWithItsGradients) {
  torch::manual_seed(0);
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    for (const bool with_bias : {true, false}) {
      for (const int64_t groups : {1, 2}) {
        SCOPED_TRACE(std::string(c10::toString(dtype)) + " bias " + std::to_string(with_bias) + " groups " +
                     std::to_string(groups));
        const auto x = torch::randint(-1, 2, {3, 4, 9, 7}).to(dtype);  // with zeros: sign(0) = 0
        const auto w = torch::randn({6, 4 / groups, 3, 3}, dtype);
        const auto b = with_bias ? torch::randn({6}, dtype) : torch::Tensor();
        const Conv2dArgs args{{2, 1}, {1, 1}, {1, 1}, groups};
        const auto packed = run([&](auto x, auto w, auto b) { return lowbit::ops::conv2d_of(signs(x), values(w), b, args); }, x, w, b);
        const auto plain = run([&](auto x, auto w, auto b) { return at::conv2d(x, w, b, {2, 1}, {1, 1}, {1, 1}, groups); }, x, w, b);
        expect_equal(packed, plain);
        EXPECT_EQ(packed.y.scalar_type(), dtype);
      }
    }
  }
}

// A W1A1 convolution (signs x scaled signs) computes its forward on the packed kernels where they
// apply (an AVX-512 VPOPCNTDQ CPU; elsewhere at::conv2d, and this compares at::conv2d with
// itself): the output within float rounding of at::conv2d's (whose sums of +-s round), the
// gradients identical (the backward is at::conv2d's on the same kept operands); with a 0 in the
// input (sign(0) = 0, which the packed code lacks) at::conv2d's output exactly.
TEST(KeptOperands, BinaryForwardOnPackedKernelsMatchesConv2d) {
  torch::manual_seed(4);
  const auto scaled_signs = [](const torch::Tensor& w) { return Operand{w, Operand::Kept::ScaledSigns}; };
  for (const bool with_bias : {true, false}) {
    for (const auto& [stride, padding] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {2, 1}, {1, 0}}) {
      SCOPED_TRACE("bias " + std::to_string(with_bias) + " stride " + std::to_string(stride) + " padding " +
                   std::to_string(padding));
      const auto x = torch::where(torch::randn({2, 70, 9, 8}) < 0, -1.f, 1.f);
      const auto w = torch::where(torch::randn({24, 70, 3, 3}) < 0, -1.f, 1.f) * torch::rand({24, 1, 1, 1});
      const auto b = with_bias ? torch::randn({24}) : torch::Tensor();
      const Conv2dArgs args{{stride, stride}, {padding, padding}, {1, 1}, 1};
      const auto conv_of = [&](auto x, auto w, auto b) {
        return lowbit::ops::conv2d_of(signs(x), scaled_signs(w), b, args);
      };
      const auto plain_conv = [&](auto x, auto w, auto b) { return at::conv2d(x, w, b, stride, padding); };
      const auto packed = run(conv_of, x, w, b);
      const auto plain = run(plain_conv, x, w, b);
      EXPECT_TRUE(torch::allclose(packed.y, plain.y, 1e-5, 1e-5)) << (packed.y - plain.y).abs().max();
      if (lowbit::kernels::cpu_binary_isa() == lowbit::kernels::BinaryIsa::Avx512) {
        // The packed path: the exact integer sums, times the scale, plus the bias, each rounded once.
        const auto alpha = w.abs().amax({1, 2, 3});
        const auto sums = at::conv2d(x.to(torch::kDouble), w.sign().to(torch::kDouble), {}, stride, padding).to(torch::kFloat);
        const auto scaled = sums * alpha.view({1, -1, 1, 1});
        EXPECT_TRUE(torch::equal(packed.y, with_bias ? scaled + b.view({1, -1, 1, 1}) : scaled));
      }
      EXPECT_TRUE(torch::equal(packed.x, plain.x));
      EXPECT_TRUE(torch::equal(packed.w, plain.w));
      if (with_bias) EXPECT_TRUE(torch::equal(packed.b, plain.b));
      auto with_zero = x.clone();
      with_zero[0][3][4][4] = 0;
      EXPECT_TRUE(torch::equal(run(conv_of, with_zero, w, b).y, run(plain_conv, with_zero, w, b).y));
    }
  }
  lowbit::ops::set_packed_binary_forward(false);
  const auto x = torch::where(torch::randn({2, 70, 9, 8}) < 0, -1.f, 1.f);
  const auto w = torch::where(torch::randn({24, 70, 3, 3}) < 0, -1.f, 1.f) * 0.37f;
  const Conv2dArgs args{{1, 1}, {1, 1}, {1, 1}, 1};
  const auto off = run([&](auto x, auto w, auto b) { return lowbit::ops::conv2d_of(signs(x), {w, Operand::Kept::ScaledSigns}, b, args); }, x, w, {});
  lowbit::ops::set_packed_binary_forward(true);
  EXPECT_TRUE(torch::equal(off.y, at::conv2d(x, w, {}, 1, 1)));  // off: at::conv2d exactly
}

TEST(KeptOperands, LinearOfSignsEqualsLinearWithItsGradients) {
  torch::manual_seed(1);
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    for (const auto& shape : std::vector<std::vector<int64_t>>{{5, 12}, {2, 7, 12}}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + " rank " + std::to_string(shape.size()));
      const auto x = torch::randint(-1, 2, shape).to(dtype);
      const auto w = torch::randn({10, 12}, dtype);
      const auto b = torch::randn({10}, dtype);
      const auto packed = run([](auto x, auto w, auto b) { return lowbit::ops::linear_of(signs(x), values(w), b); }, x, w, b);
      const auto plain = run([](auto x, auto w, auto b) { return at::linear(x, w, b); }, x, w, b);
      // The weight gradient sums over the rows in its own order: equal to rounding.
      const double tolerance = dtype == torch::kFloat ? 1e-6 : 1e-14;
      EXPECT_TRUE(torch::equal(packed.y, plain.y));
      EXPECT_TRUE(torch::allclose(packed.x, plain.x, tolerance, tolerance));
      EXPECT_TRUE(torch::allclose(packed.w, plain.w, tolerance, tolerance));
      EXPECT_TRUE(torch::allclose(packed.b, plain.b, tolerance, tolerance));
      EXPECT_EQ(packed.w.scalar_type(), dtype);
    }
  }
}

TEST(KeptOperands, UnderAutocastGradientsComeBackInTheInputsDtypes) {
  torch::manual_seed(2);
  const auto x = torch::randint(-1, 2, {2, 4, 6, 6}).to(torch::kFloat);
  const auto w = torch::randn({3, 4, 3, 3});
  const auto b = torch::randn({3});
  const auto in_bf16 = [&](auto&& fn) {
    at::autocast::set_autocast_enabled(at::kCPU, true);
    at::autocast::set_autocast_dtype(at::kCPU, at::kBFloat16);
    auto g = run(fn, x, w, b);
    at::autocast::set_autocast_enabled(at::kCPU, false);
    at::autocast::clear_cache();
    return g;
  };
  const Conv2dArgs args{{1, 1}, {1, 1}, {1, 1}, 1};
  const auto packed = in_bf16([&](auto x, auto w, auto b) { return lowbit::ops::conv2d_of(signs(x), values(w), b, args); });
  const auto plain = in_bf16([&](auto x, auto w, auto b) { return at::conv2d(x, w, b, {1, 1}, {1, 1}); });
  EXPECT_EQ(packed.y.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(packed.x.scalar_type(), torch::kFloat);
  EXPECT_EQ(packed.w.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::allclose(packed.y.to(torch::kFloat), plain.y.to(torch::kFloat)));
  EXPECT_TRUE(torch::allclose(packed.w, plain.w, 1e-2, 1e-2));
  EXPECT_TRUE(torch::allclose(packed.x, plain.x, 1e-2, 1e-2));
}

}  // namespace
