// Bit packing and the binary GEMM (kernels/binary_gemm.h): the packed bits of known values, and every
// CPU path this machine runs against the portable reference path and against the float matmul of the
// same +-1 values, exactly (integers), at shapes with partial words, partial tiles and one row (GEMV);
// on AVX-512 both the narrow path (B transposed, up to 384 KiB) and the 4 x 4 tiles (a larger B).
#include <lowbit/csrc/kernels/binary_gemm.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <string>
#include <tuple>
#include <vector>

namespace binary_gemm_test {  // named: unity builds join test files

using lowbit::kernels::BinaryIsa;

// The paths this CPU runs: the reference, and each faster one up to the detected.
std::vector<BinaryIsa> runnable_paths() {
  std::vector<BinaryIsa> paths{BinaryIsa::Reference};
  if (lowbit::kernels::cpu_binary_isa() != BinaryIsa::Reference) paths.push_back(BinaryIsa::Popcnt);
  if (lowbit::kernels::cpu_binary_isa() == BinaryIsa::Avx512) paths.push_back(BinaryIsa::Avx512);
  return paths;
}

// +-1 with 0 counted as +1, as the packing reads it.
torch::Tensor plus_minus_one(const torch::Tensor& x) { return torch::where(x < 0, -1.0, 1.0).to(torch::kDouble); }

}  // namespace binary_gemm_test

using binary_gemm_test::plus_minus_one;
using binary_gemm_test::runnable_paths;
using lowbit::kernels::BinaryIsa;

TEST(BinaryGemm, PacksSignBitsAlongKWithTheLastWordPaddedByZeros) {
  auto x = torch::ones({2, 70});
  x[0][0] = -1;
  x[0][63] = -0.5;
  x[0][64] = -3;
  x[0][69] = -1e-30;
  x[1][5] = 0;  // +1
  x[1][6] = -0.0;  // +1: -0 is not below 0
  for (const auto dtype : {torch::kFloat, torch::kDouble, torch::kHalf, torch::kBFloat16}) {
    SCOPED_TRACE(c10::toString(dtype));
    const auto bits = lowbit::kernels::pack_sign_bits(x.to(dtype));
    ASSERT_EQ(bits.sizes(), (std::vector<int64_t>{2, 2}));
    ASSERT_EQ(bits.scalar_type(), torch::kLong);
    const auto* w = reinterpret_cast<const uint64_t*>(bits.const_data_ptr<int64_t>());
    EXPECT_EQ(w[0], (uint64_t{1} << 63) | 1u);
    EXPECT_EQ(w[1], dtype == torch::kHalf ? 1u : (1u | (1u << 5)));  // -1e-30 is -0 in float16
    EXPECT_EQ(w[2], 0u);
    EXPECT_EQ(w[3], 0u);
  }
}

// A shift per column packs the signs of x + shift, the sum rounded to x's dtype (RSign's order).
TEST(BinaryGemm, ShiftedPackingIsThePackingOfTheShiftedValues) {
  torch::manual_seed(3);
  for (const auto dtype : {torch::kFloat, torch::kDouble, torch::kHalf, torch::kBFloat16}) {
    for (const int64_t k : {5, 64, 200}) {
      const auto x = torch::randn({7, k}).to(dtype), shift = torch::randn({k}).to(dtype);
      EXPECT_TRUE(torch::equal(lowbit::kernels::pack_sign_bits(x, shift), lowbit::kernels::pack_sign_bits(x + shift)))
          << dtype << " K " << k;
    }
  }
  EXPECT_THROW((void)lowbit::kernels::pack_sign_bits(torch::randn({2, 5}), torch::randn({4})), c10::Error);
}

TEST(BinaryGemm, EveryPathEqualsTheReferenceAndTheFloatMatmulOfTheSigns) {
  torch::manual_seed(0);
  const std::vector<std::tuple<int64_t, int64_t, int64_t>> shapes = {
      {1, 1, 1}, {5, 7, 63}, {13, 9, 64}, {17, 33, 65}, {4, 4, 1000}, {1, 37, 4096}, {64, 70, 513}, {9, 600, 130},
      {6, 800, 4096}};
  for (const auto& [m, n, k] : shapes) {
    SCOPED_TRACE(std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k));
    const auto a = torch::randn({m, k}), b = torch::randn({n, k});
    const auto expected = torch::matmul(plus_minus_one(a), plus_minus_one(b).t()).to(torch::kInt);
    const auto a_bits = lowbit::kernels::pack_sign_bits(a), b_bits = lowbit::kernels::pack_sign_bits(b);
    for (const auto isa : runnable_paths()) {
      SCOPED_TRACE(lowbit::kernels::to_string(isa));
      const auto c = lowbit::kernels::cpu::binary_gemm(a_bits, b_bits, k, isa);
      EXPECT_EQ(c.scalar_type(), torch::kInt);
      EXPECT_TRUE(torch::equal(c, expected)) << (c - expected).abs().max();
    }
    EXPECT_TRUE(torch::equal(lowbit::kernels::binary_gemm(a_bits, b_bits, k), expected));  // the operator
  }
}

TEST(BinaryGemm, TernaryOperandsGiveTheDotProductsWithTheirZeros) {
  torch::manual_seed(1);
  // Values in {-1, 0, +1}, about a third of them 0 (TWN's threshold leaves many).
  const auto ternary = [](int64_t rows, int64_t k) { return torch::randint(-1, 2, {rows, k}).to(torch::kFloat); };
  const auto packed = lowbit::kernels::pack_ternary_bits(torch::tensor({{-1.f, 0.f, 2.f, -0.f, -3.f}}));
  ASSERT_EQ(packed.sizes(), (std::vector<int64_t>{1, 2, 1}));
  const auto* w = reinterpret_cast<const uint64_t*>(packed.const_data_ptr<int64_t>());
  EXPECT_EQ(w[0], 0b10001u);  // signs: -1 and -3
  EXPECT_EQ(w[1], 0b10101u);  // nonzeros: -1, 2, -3
  const std::vector<std::tuple<int64_t, int64_t, int64_t>> shapes = {{1, 1, 1}, {5, 7, 63}, {13, 9, 130}, {1, 37, 700}, {9, 30, 64}};
  for (const auto& [m, n, k] : shapes) {
    const auto ta = ternary(m, k), tb = ternary(n, k), ba = torch::randn({m, k}), bb = torch::randn({n, k});
    using lowbit::kernels::pack_sign_bits;
    using lowbit::kernels::pack_ternary_bits;
    const std::vector<std::tuple<std::string, torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor>> pairs = {
        {"ternary x binary", pack_ternary_bits(ta), pack_sign_bits(bb), ta.to(torch::kDouble), plus_minus_one(bb)},
        {"binary x ternary", pack_sign_bits(ba), pack_ternary_bits(tb), plus_minus_one(ba), tb.to(torch::kDouble)},
        {"ternary x ternary", pack_ternary_bits(ta), pack_ternary_bits(tb), ta.to(torch::kDouble), tb.to(torch::kDouble)}};
    for (const auto& [what, a_bits, b_bits, a, b] : pairs) {
      SCOPED_TRACE(what + " " + std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k));
      const auto expected = torch::matmul(a, b.t()).to(torch::kInt);
      for (const auto isa : runnable_paths()) {
        SCOPED_TRACE(lowbit::kernels::to_string(isa));
        EXPECT_TRUE(torch::equal(lowbit::kernels::cpu::binary_gemm(a_bits, b_bits, k, isa), expected));
      }
      EXPECT_TRUE(torch::equal(lowbit::kernels::binary_gemm(a_bits, b_bits, k), expected));
    }
  }
}

TEST(BinaryGemm, BadOperandsNameTheExpectedLayout) {
  const auto a = lowbit::kernels::pack_sign_bits(torch::randn({3, 100}));
  const auto b = lowbit::kernels::pack_sign_bits(torch::randn({4, 200}));
  try {
    (void)lowbit::kernels::binary_gemm(a, b, 100);
    FAIL() << "operands of different widths accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("[rows, W] or [rows, 2, W] of one width W >= 2 words for K = 100"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW((void)lowbit::kernels::binary_gemm(a.to(torch::kInt), a, 100), c10::Error);
  EXPECT_THROW((void)lowbit::kernels::binary_gemm(a, a, 200), c10::Error);  // 2 words hold at most 128 values
  EXPECT_THROW((void)lowbit::kernels::pack_sign_bits(torch::randn({2, 3, 4})), c10::Error);
  EXPECT_THROW((void)lowbit::kernels::pack_sign_bits(torch::ones({2, 3}, torch::kInt)), c10::Error);
}

TEST(BinaryGemm, MetaTensorsGiveTheShapes) {
  const auto x = torch::empty({5, 130}, torch::TensorOptions().device(torch::kMeta));
  const auto bits = lowbit::kernels::pack_sign_bits(x);
  EXPECT_EQ(bits.sizes(), (std::vector<int64_t>{5, 3}));
  const auto c = lowbit::kernels::binary_gemm(bits, lowbit::kernels::pack_sign_bits(x.narrow(0, 0, 2)), 130);
  EXPECT_EQ(c.sizes(), (std::vector<int64_t>{5, 2}));
  EXPECT_EQ(c.scalar_type(), torch::kInt);
}
