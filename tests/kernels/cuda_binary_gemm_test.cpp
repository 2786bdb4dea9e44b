// The CUDA bit kernels (kernels/binary_gemm.h) against the CPU's: packing bit for bit, and every
// GEMM path (popcount, b1 tensor cores) equal to the CPU's portable reference, which
// binary_gemm_test.cpp checks against the float product. Skipped where no GPU is present.
#include <lowbit/config.h>
#include <lowbit/csrc/kernels/binary_gemm.h>

#include "support/require_gpu.h"

#include <gtest/gtest.h>

#include <torch/torch.h>
#ifdef LOWBIT_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include <array>
#include <string>
#include <vector>

namespace cuda_binary_gemm_test {

namespace kernels = lowbit::kernels;

// Normal values with a fifth of them exactly 0 (the ternary operands' zeros; +1 in a sign plane).
torch::Tensor values_with_zeros(int64_t rows, int64_t k) {
  auto x = torch::randn({rows, k});
  return x.masked_fill_(torch::rand({rows, k}) < 0.2, 0.0);
}

// Packed rows `extra` zero words wider than they need (binary_conv.h pads each tap's run so).
torch::Tensor widened(const torch::Tensor& bits, int64_t extra) {
  auto sizes = bits.sizes().vec();
  sizes.back() = extra;
  return torch::cat({bits, torch::zeros(sizes, bits.options())}, -1);
}

}  // namespace cuda_binary_gemm_test

TEST(CudaBinaryGemm, PackingEqualsTheCpuBitForBit) {
  REQUIRE_GPU();
  using namespace cuda_binary_gemm_test;
  torch::manual_seed(0);
  for (int64_t k : {1, 31, 64, 65, 130, 1000}) {
    const auto x = values_with_zeros(37, k);
    const auto shift = torch::randn({k}) * 0.5;
    for (auto dtype : {torch::kFloat, torch::kDouble, torch::kHalf, torch::kBFloat16}) {
      SCOPED_TRACE("K " + std::to_string(k) + ", " + std::string(c10::toString(dtype)));
      const auto xd = x.to(dtype), sd = shift.to(dtype);
      EXPECT_TRUE(torch::equal(kernels::pack_sign_bits(xd.cuda()).cpu(), kernels::pack_sign_bits(xd)));
      EXPECT_TRUE(torch::equal(kernels::pack_sign_bits(xd.cuda(), sd.cuda()).cpu(), kernels::pack_sign_bits(xd, sd)));
      EXPECT_TRUE(torch::equal(kernels::pack_ternary_bits(xd.cuda()).cpu(), kernels::pack_ternary_bits(xd)));
    }
  }
}

TEST(CudaBinaryGemm, EveryPathEqualsTheCpuReference) {
  REQUIRE_GPU();
#ifdef LOWBIT_WITH_CUDA
  using namespace cuda_binary_gemm_test;
  torch::manual_seed(1);
  // Edges of the 64- and 128-row tiles, of the 8- and 16-word steps, K off whole words.
  const std::vector<std::array<int64_t, 3>> shapes = {{1, 1, 1},      {5, 7, 64},       {33, 65, 257},
                                                      {130, 129, 1100}, {128, 256, 4096}, {300, 17, 2051}};
  for (const auto& [m, n, k] : shapes) {
    SCOPED_TRACE(std::to_string(m) + " x " + std::to_string(n) + " x " + std::to_string(k));
    const auto a = values_with_zeros(m, k), b = values_with_zeros(n, k);
    const auto as = kernels::pack_sign_bits(a), bs = kernels::pack_sign_bits(b);
    const auto at = kernels::pack_ternary_bits(a), bt = kernels::pack_ternary_bits(b);
    for (const auto& [a_bits, b_bits] : std::vector<std::array<torch::Tensor, 2>>{
             {as, bs}, {at, bs}, {as, bt}, {at, bt}, {widened(as, 3), widened(bs, 3)}}) {
      const auto reference = kernels::cpu::binary_gemm(a_bits, b_bits, k, kernels::BinaryIsa::Reference);
      const auto ga = a_bits.cuda(), gb = b_bits.cuda();
      EXPECT_TRUE(torch::equal(kernels::cuda::binary_gemm(ga, gb, k, kernels::CudaBinaryPath::Popcount).cpu(),
                               reference))
          << "popcount, planes " << a_bits.dim() - 1 << " x " << b_bits.dim() - 1;
      EXPECT_TRUE(torch::equal(kernels::binary_gemm(ga, gb, k).cpu(), reference))
          << "binary_gemm's own choice, planes " << a_bits.dim() - 1 << " x " << b_bits.dim() - 1;
      if (kernels::cuda::binary_path(ga, gb) == kernels::CudaBinaryPath::TensorCore) {
        EXPECT_TRUE(torch::equal(kernels::cuda::binary_gemm(ga, gb, k, kernels::CudaBinaryPath::TensorCore).cpu(),
                                 reference))
            << "tensor cores";
      }
    }
  }
#endif
}

TEST(CudaBinaryGemm, TheTensorCorePathTakesBinaryOperandsOnly) {
  REQUIRE_GPU();
#ifdef LOWBIT_WITH_CUDA
  using namespace cuda_binary_gemm_test;
  const auto a = values_with_zeros(16, 256).cuda();
  const auto binary = kernels::pack_sign_bits(a), ternary = kernels::pack_ternary_bits(a);
  EXPECT_EQ(kernels::cuda::binary_path(ternary, binary), kernels::CudaBinaryPath::Popcount);
  // On sm_80 and later binary x binary takes the tensor cores (EveryPathEqualsTheCpuReference
  // checks that path only where it is taken).
  const bool sm80 = at::cuda::getCurrentDeviceProperties()->major >= 8;
  EXPECT_EQ(kernels::cuda::binary_path(binary, binary),
            sm80 ? kernels::CudaBinaryPath::TensorCore : kernels::CudaBinaryPath::Popcount);
  try {
    (void)kernels::cuda::binary_gemm(ternary, binary, 256, kernels::CudaBinaryPath::TensorCore);
    ADD_FAILURE() << "a ternary operand went to the tensor cores";
  } catch (const c10::Error& e) {
    EXPECT_NE(e.msg().find("binary x binary operands on sm_80 or later, got 2 and 1 bit planes"), std::string::npos)
        << e.msg();
  }
#endif
}
