// CUDA kernels against their CPU references. Skipped where no GPU is present.
#include <lowbit/csrc/kernels/lsq.h>
#include <lowbit/csrc/kernels/ste_backward.h>
#include <lowbit/lowbit.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace {

// Why these tests cannot run here, or "" when they can.
std::string missing_gpu() {
  if (!lowbit::built_with_cuda()) return "lowbit built without CUDA kernels";
  if (!torch::cuda::is_available()) return "no CUDA device";
  return "";
}

#define REQUIRE_GPU()                                            \
  if (const auto why = missing_gpu(); !why.empty()) GTEST_SKIP() << why

}  // namespace

TEST(CudaKernels, SteBackwardMatchesCpu) {
  REQUIRE_GPU();
  const auto x = torch::randn({4097}) * 1.5;
  const auto g = torch::randn({4097});
  for (auto ste : {lowbit::ops::Ste::Identity, lowbit::ops::Ste::Clipped, lowbit::ops::Ste::ApproxSign}) {
    for (auto dtype : {torch::kFloat, torch::kDouble, torch::kHalf, torch::kBFloat16}) {
      const auto cpu = lowbit::kernels::ste_backward(g.to(dtype), x.to(dtype), ste);
      const auto gpu = lowbit::kernels::ste_backward(g.to(dtype).cuda(), x.to(dtype).cuda(), ste);
      EXPECT_TRUE(torch::allclose(gpu.cpu().to(torch::kFloat), cpu.to(torch::kFloat), 1e-3, 1e-3));
    }
  }
}

TEST(CudaKernels, LsqForwardBackwardMatchCpu) {
  REQUIRE_GPU();
  const auto x = torch::randn({8, 16, 33}) * 2;
  const auto g = torch::randn_like(x);
  // The round code (signed 4-bit) and the sign code (signed 1-bit), per tensor and per channel.
  for (const auto& args : {lowbit::kernels::LsqArgs{8, 7, 1}, lowbit::kernels::LsqArgs{1, 1, 1, true}}) {
    for (int64_t channels : {1, 16}) {
      const auto step = torch::rand({channels}) * 0.3 + 0.05;
      const auto offset = torch::randn({channels}) * 0.1;
      const auto cpu_y = lowbit::kernels::lsq_forward(x, step, offset, args);
      const auto gpu_y = lowbit::kernels::lsq_forward(x.cuda(), step.cuda(), offset.cuda(), args);
      EXPECT_TRUE(torch::allclose(gpu_y.cpu(), cpu_y, 1e-5, 1e-5));
      const auto [cx, cs, cb] = lowbit::kernels::lsq_backward(g, x, step, offset, args);
      const auto [gx, gs, gb] = lowbit::kernels::lsq_backward(g.cuda(), x.cuda(), step.cuda(), offset.cuda(), args);
      EXPECT_TRUE(torch::equal(gx.cpu(), cx));
      EXPECT_TRUE(torch::allclose(gs.cpu(), cs, 1e-3, 1e-3));
      EXPECT_TRUE(torch::allclose(gb.cpu(), cb, 1e-3, 1e-3));
    }
  }
}
