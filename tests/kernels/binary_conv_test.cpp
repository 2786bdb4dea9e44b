// The binary convolution on packed bits (kernels/binary_conv.h) against torch's float64 convolution
// of the same +-1 values with zero padding, exactly: channel counts below, at and past a word, 1x1
// and 3x3 kernels, strides 1 and 2, padding 0 and 1 (the border correction), odd image sizes.
#include <lowbit/csrc/kernels/binary_conv.h>
#include <lowbit/csrc/kernels/binary_gemm.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <string>

namespace binary_conv_test {  // named: unity builds join test files

torch::Tensor plus_minus_one(const torch::Tensor& x) { return torch::where(x < 0, -1.0, 1.0).to(torch::kDouble); }

}  // namespace binary_conv_test

TEST(BinaryConv, EqualsTheFloatConvolutionOfTheSignsWithZeroPadding) {
  torch::manual_seed(0);
  for (const int64_t in : {3, 64, 70, 128}) {
    for (const int64_t k : {1, 3}) {
      for (const int64_t stride : {1, 2}) {
        for (const int64_t pad : {0, 1}) {
          SCOPED_TRACE("C_in " + std::to_string(in) + " k " + std::to_string(k) + " stride " + std::to_string(stride) +
                       " pad " + std::to_string(pad));
          const auto x = torch::randn({2, in, 9, 7}), w = torch::randn({in == 64 ? 24 : 5, in, k, k});
          const auto expected =
              torch::conv2d(binary_conv_test::plus_minus_one(x), binary_conv_test::plus_minus_one(w), {}, stride, pad).permute({0, 2, 3, 1}).to(torch::kInt);
          const auto [bits, tap_sums] = lowbit::kernels::pack_conv_weight(w);
          const auto y = lowbit::kernels::binary_conv2d(lowbit::kernels::pack_pixels(x), bits, tap_sums,
                                                        {in, {k, k}, {stride, stride}, {pad, pad}});
          ASSERT_EQ(y.sizes(), expected.sizes());
          EXPECT_TRUE(torch::equal(y, expected)) << (y - expected).abs().max();
        }
      }
    }
  }
}

// binary_conv2d_epilogue (the narrow GEMM storing through the padding correction and the epilogue,
// on AVX-512 VPOPCNTDQ CPUs; elsewhere it is the two calls, so the test skips) against the two
// calls: exactly with a unit epilogue (the integer sums as floats), within float rounding with
// random constants and a residual; the output's packed signs it makes on the way equal pack_pixels
// of its output.
TEST(BinaryConv, FusedEpilogueEqualsTheSumsThroughTheEpilogue) {
  if (lowbit::kernels::cpu_binary_isa() != lowbit::kernels::BinaryIsa::Avx512) {
    GTEST_SKIP() << "no AVX-512 VPOPCNTDQ: the fused epilogue is the two calls it would be compared with";
  }
  torch::manual_seed(1);
  for (const int64_t in : {3, 64, 70}) {
    for (const int64_t k : {1, 3}) {
      for (const int64_t stride : {1, 2}) {
        for (const int64_t pad : {0, 1, 2}) {
          SCOPED_TRACE("C_in " + std::to_string(in) + " k " + std::to_string(k) + " stride " + std::to_string(stride) +
                       " pad " + std::to_string(pad));
          const int64_t out = 20;
          const auto x = torch::randn({2, in, 9, 7}), w = torch::randn({out, in, k, k});
          const auto [bits, tap_sums] = lowbit::kernels::pack_conv_weight(w);
          const lowbit::kernels::BinaryConvGeometry g{in, {k, k}, {stride, stride}, {pad, pad}};
          const auto pixels = lowbit::kernels::pack_pixels(x);
          const auto sums = lowbit::kernels::binary_conv2d(pixels, bits, tap_sums, g);
          const auto ones = torch::ones({out}), zeros = torch::zeros({out});
          const auto unit = lowbit::kernels::binary_conv2d_epilogue(pixels, bits, tap_sums, g,
                                                                    {ones, ones, zeros, zeros, ones, zeros}, {});
          EXPECT_TRUE(torch::equal(unit, sums.permute({0, 3, 1, 2}).to(torch::kFloat)));
          const lowbit::kernels::ConvEpilogue e{torch::rand({out}), torch::randn({out}), torch::randn({out}),
                                                torch::randn({out}), torch::rand({out}), torch::randn({out})};
          const auto residual = torch::randn(unit.sizes());
          torch::Tensor next_pixels;
          const auto next_shift = torch::randn({out});
          const auto fused =
              lowbit::kernels::binary_conv2d_epilogue(pixels, bits, tap_sums, g, e, residual, &next_pixels, next_shift);
          const auto two_calls = lowbit::kernels::binary_conv_epilogue(sums, e, residual);
          // The output's signs packed on the way: pack_pixels of the output, exactly.
          EXPECT_TRUE(torch::equal(next_pixels, lowbit::kernels::pack_pixels(fused, next_shift)));
          EXPECT_TRUE(fused.is_contiguous(torch::MemoryFormat::ChannelsLast));
          EXPECT_TRUE(torch::allclose(fused, two_calls, 1e-6, 1e-5)) << (fused - two_calls).abs().max();
        }
      }
    }
  }
}

TEST(BinaryConv, BadOperandsNameWhatWasExpected) {
  const auto x = lowbit::kernels::pack_pixels(torch::randn({1, 64, 5, 5}));
  const auto [bits, sums] = lowbit::kernels::pack_conv_weight(torch::randn({8, 64, 3, 3}));
  try {
    (void)lowbit::kernels::binary_conv2d(x, bits, sums, {130, {3, 3}, {1, 1}, {1, 1}});
    FAIL() << "130 input channels accepted for 64-channel pixels";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected packed pixels int64 [N, H, W, 3] for 130 input channels"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW((void)lowbit::kernels::binary_conv2d(x, bits, sums, {64, {5, 5}, {1, 1}, {1, 1}}), c10::Error);
  EXPECT_THROW((void)lowbit::kernels::binary_conv2d(lowbit::kernels::pack_pixels(torch::randn({1, 64, 2, 2})), bits,
                                                    sums, {64, {3, 3}, {1, 1}, {0, 0}}),
               c10::Error);
  EXPECT_THROW((void)lowbit::kernels::pack_conv_weight(torch::randn({8, 64, 3})), c10::Error);
}
