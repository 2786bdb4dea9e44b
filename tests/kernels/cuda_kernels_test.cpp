// CUDA kernels against their CPU references. Skipped where no GPU is present.
#include <lowbit/csrc/kernels/activation_quantizers.h>
#include <lowbit/csrc/kernels/lsq.h>
#include <lowbit/csrc/kernels/ste_backward.h>
#include <lowbit/csrc/kernels/weight_quantizers.h>
#include <lowbit/lowbit.h>

#include "support/require_gpu.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

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
  // The round code (signed 4-bit) and the sign code (signed 1-bit), per tensor and per channel;
  // float64 step and offset gradients to float64's precision (their terms are summed in double).
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    const auto x = torch::randn({8, 16, 33}, dtype) * 2;
    const auto g = torch::randn_like(x);
    const double tol = dtype == torch::kDouble ? 1e-10 : 1e-3;
    for (const auto& args : {lowbit::kernels::LsqArgs{8, 7, 1}, lowbit::kernels::LsqArgs{1, 1, 1, true}}) {
      for (int64_t channels : {1, 16}) {
        SCOPED_TRACE(std::string(c10::toString(dtype)) + " " + std::to_string(channels) + " channels");
        const auto step = torch::rand({channels}, dtype) * 0.3 + 0.05;
        const auto offset = torch::randn({channels}, dtype) * 0.1;
        const auto cpu_y = lowbit::kernels::lsq_forward(x, step, offset, args);
        const auto gpu_y = lowbit::kernels::lsq_forward(x.cuda(), step.cuda(), offset.cuda(), args);
        EXPECT_TRUE(torch::allclose(gpu_y.cpu(), cpu_y, 1e-5, 1e-5));
        const auto [cx, cs, cb] = lowbit::kernels::lsq_backward(g, x, step, offset, args);
        const auto [gx, gs, gb] = lowbit::kernels::lsq_backward(g.cuda(), x.cuda(), step.cuda(), offset.cuda(), args);
        EXPECT_TRUE(torch::equal(gx.cpu(), cx));
        EXPECT_TRUE(torch::allclose(gs.cpu(), cs, tol, tol));
        EXPECT_TRUE(torch::allclose(gb.cpu(), cb, tol, tol));
        // A step on the CPU (a 0-dim learnable scalar, say) is taken to the input's device.
        EXPECT_TRUE(torch::equal(lowbit::kernels::lsq_forward(x.cuda(), step, offset, args).cpu(), gpu_y.cpu()));
      }
    }
  }
  // An empty input: empty dL/dx and zero step and offset gradients, as on the CPU.
  const auto empty = torch::empty({0, 16, 33}).cuda();
  const auto [ex, es, eb] = lowbit::kernels::lsq_backward(empty, empty, torch::ones({16}).cuda(),
                                                          torch::zeros({16}).cuda(), lowbit::kernels::LsqArgs{8, 7, 1});
  EXPECT_EQ(ex.numel(), 0);
  EXPECT_TRUE(torch::equal(es.cpu(), torch::zeros({16})));
  EXPECT_TRUE(torch::equal(eb.cpu(), torch::zeros({16})));
}

namespace {

// |gpu - cpu| <= tol max(1, max|cpu|), on the CPU in float64.
void expect_device_close(const torch::Tensor& gpu, const torch::Tensor& cpu, double tol, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_TRUE(gpu.is_cuda());
  ASSERT_EQ(gpu.sizes(), cpu.sizes());
  EXPECT_EQ(gpu.scalar_type(), cpu.scalar_type());
  const auto a = gpu.cpu().to(torch::kDouble), b = cpu.to(torch::kDouble);
  EXPECT_LE((a - b).abs().max().item<double>(), tol * std::max(1.0, b.abs().max().item<double>()));
}

double tolerance(torch::Dtype dtype) { return dtype == torch::kDouble ? 1e-12 : 1e-5; }

}  // namespace

TEST(CudaKernels, WeightQuantizersMatchCpu) {
  REQUIRE_GPU();
  torch::manual_seed(0);
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    const std::string type = c10::toString(dtype);
    // 3 rows of 40000 columns (rows span chunks) and 64 short rows.
    for (const auto& shape : {std::vector<int64_t>{3, 40000}, std::vector<int64_t>{64, 16, 3, 3}}) {
      const auto w = torch::randn(shape, dtype) * 0.3, g = torch::randn(shape, dtype);
      const auto wc = w.cuda(), gc = g.cuda();
      const auto rows = shape[0];
      {
        const auto [y, alpha] = lowbit::kernels::scaled_sign_forward(w);
        const auto [yc, alphac] = lowbit::kernels::scaled_sign_forward(wc);
        expect_device_close(yc, y, tolerance(dtype), "scaled_sign y " + type);
        expect_device_close(alphac, alpha, tolerance(dtype), "scaled_sign alpha " + type);
        expect_device_close(lowbit::kernels::scaled_sign_backward(gc, wc, alphac, true, true),
                            lowbit::kernels::scaled_sign_backward(g, w, alpha, true, true), tolerance(dtype),
                            "scaled_sign backward " + type);
      }
      for (const bool per_row : {true, false}) {
        const auto [y, threshold, alpha] = lowbit::kernels::ternarize_forward(w, 0.7, per_row);
        const auto [yc, thresholdc, alphac] = lowbit::kernels::ternarize_forward(wc, 0.7, per_row);
        EXPECT_TRUE(torch::equal(yc.cpu().sign(), y.sign())) << "ternary masks " << type;
        expect_device_close(yc, y, tolerance(dtype), "ternarize " + type);
        expect_device_close(alphac, alpha, tolerance(dtype), "ternary alpha " + type);
      }
      {
        const auto alpha = torch::rand({rows}, dtype) + 0.1, gamma = torch::full({rows}, 1e-2, dtype);
        expect_device_close(lowbit::kernels::bilinear_sign_forward(wc, alpha.cuda(), 0.02),
                            lowbit::kernels::bilinear_sign_forward(w, alpha, 0.02), tolerance(dtype), "bilinear y " + type);
        const auto [gw, ga, gcu, r] = lowbit::kernels::bilinear_sign_backward(g, w, alpha, gamma, 0.02);
        const auto [gwc, gac, gcc, rc] =
            lowbit::kernels::bilinear_sign_backward(gc, wc, alpha.cuda(), gamma.cuda(), 0.02);
        expect_device_close(gwc, gw, tolerance(dtype), "bilinear dL/dw " + type);
        expect_device_close(gac, ga, tolerance(dtype), "bilinear dL/dalpha " + type);
        // RBONN's recurrent shift and record (S a power of two, then not).
        const auto c = torch::rand({rows}, dtype), p = torch::randn(shape, dtype) * 0.1;
        expect_device_close(lowbit::kernels::bilinear_sign_forward(wc, alpha.cuda(), 0.02, c.cuda(), p.cuda()),
                            lowbit::kernels::bilinear_sign_forward(w, alpha, 0.02, c, p), tolerance(dtype),
                            "recurrent bilinear y " + type);
        for (const double scale : {1024.0, 3.0}) {
          const auto cpu = lowbit::kernels::bilinear_sign_backward(g, w, alpha, gamma, 0.02, c, p, scale);
          const auto cuda = lowbit::kernels::bilinear_sign_backward(gc, wc, alpha.cuda(), gamma.cuda(), 0.02, c.cuda(),
                                                                    p.cuda(), scale);
          expect_device_close(std::get<0>(cuda), std::get<0>(cpu), tolerance(dtype), "recurrent dL/dw " + type);
          expect_device_close(std::get<1>(cuda), std::get<1>(cpu), tolerance(dtype), "recurrent dL/dalpha " + type);
          expect_device_close(std::get<2>(cuda), std::get<2>(cpu), tolerance(dtype), "recurrent dL/dc " + type);
          expect_device_close(std::get<3>(cuda), std::get<3>(cpu), tolerance(dtype), "recurrent record " + type);
        }
      }
      {
        const auto [y, t, max_ties] = lowbit::kernels::dorefa_weight_forward(w, 2);
        const auto [yc, tc, max_tiesc] = lowbit::kernels::dorefa_weight_forward(wc, 2);
        expect_device_close(yc, y, tolerance(dtype), "dorefa weight y " + type);
        expect_device_close(tc, t, tolerance(dtype), "dorefa weight t " + type);
        EXPECT_TRUE(torch::allclose(max_tiesc.cpu(), max_ties, 1e-6, 0)) << "dorefa max and ties " << type;
        expect_device_close(lowbit::kernels::dorefa_weight_backward(gc, t.cuda(), max_tiesc, 2),
                            lowbit::kernels::dorefa_weight_backward(g, t, max_ties, 2), tolerance(dtype),
                            "dorefa weight backward " + type);
      }
      {
        const auto k = torch::tensor(10.0), t = torch::tensor(0.1);
        const auto [y, beta, alpha] = lowbit::kernels::adabin_weight_forward(w);
        const auto [yc, betac, alphac] = lowbit::kernels::adabin_weight_forward(wc);
        expect_device_close(yc, y, tolerance(dtype), "adabin y " + type);
        expect_device_close(alphac, alpha, tolerance(dtype), "adabin alpha " + type);
        // The CPU's float tanh is a vectorised approximation (kernels/cpu/fast_tanh.h).
        expect_device_close(lowbit::kernels::adabin_weight_backward(gc, wc, betac, alphac, k, t),
                            lowbit::kernels::adabin_weight_backward(g, w, beta, alpha, k, t),
                            dtype == torch::kDouble ? 1e-10 : 1e-4, "adabin backward " + type);
      }
    }
  }
}

// Rows without elements: the same row statistics as the CPU (NaN means, TWN's alpha 0).
TEST(CudaKernels, WeightRowsWithoutElementsMatchCpu) {
  REQUIRE_GPU();
  const auto w = torch::empty({4, 0, 3});
  const auto same = [](const torch::Tensor& gpu, const torch::Tensor& cpu) {
    return gpu.is_cuda() && torch::allclose(gpu.cpu(), cpu, 0, 0, /*equal_nan=*/true);
  };
  EXPECT_TRUE(same(std::get<1>(lowbit::kernels::scaled_sign_forward(w.cuda())),
                   std::get<1>(lowbit::kernels::scaled_sign_forward(w))));
  const auto [cy, c_threshold, c_alpha] = lowbit::kernels::ternarize_forward(w, 0.7, true);
  const auto [gy, g_threshold, g_alpha] = lowbit::kernels::ternarize_forward(w.cuda(), 0.7, true);
  EXPECT_TRUE(same(g_threshold, c_threshold));
  EXPECT_TRUE(same(g_alpha, c_alpha));
  const auto [ay, c_beta, c_spread] = lowbit::kernels::adabin_weight_forward(w);
  const auto [by, g_beta, g_spread] = lowbit::kernels::adabin_weight_forward(w.cuda());
  EXPECT_TRUE(same(g_beta, c_beta));
  EXPECT_TRUE(same(g_spread, c_spread));
}

TEST(CudaKernels, ActivationQuantizersMatchCpu) {
  REQUIRE_GPU();
  torch::manual_seed(1);
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    const std::string type = c10::toString(dtype);
    const auto x = torch::randn({8, 16, 33}, dtype) * 0.8 + 0.4, g = torch::randn({8, 16, 33}, dtype);
    expect_device_close(lowbit::kernels::dorefa_activation_forward(x.cuda(), 2),
                        lowbit::kernels::dorefa_activation_forward(x, 2), tolerance(dtype), "dorefa act y " + type);
    expect_device_close(lowbit::kernels::dorefa_activation_backward(g.cuda(), x.cuda()),
                        lowbit::kernels::dorefa_activation_backward(g, x), tolerance(dtype), "dorefa act backward " + type);
    const auto alpha = torch::tensor(0.7, dtype), beta = torch::tensor(0.1, dtype);
    for (const bool code : {true, false}) {
      expect_device_close(lowbit::kernels::adabin_activation_forward(x.cuda(), alpha.cuda(), beta.cuda(), code),
                          lowbit::kernels::adabin_activation_forward(x, alpha, beta, code), tolerance(dtype),
                          "adabin act y " + type);
      const auto [gx, ga, gb] = lowbit::kernels::adabin_activation_backward(g, x, alpha, beta, code);
      const auto [gxc, gac, gbc] =
          lowbit::kernels::adabin_activation_backward(g.cuda(), x.cuda(), alpha.cuda(), beta.cuda(), code);
      expect_device_close(gxc, gx, tolerance(dtype), "adabin act dL/dx " + type);
      expect_device_close(gac, ga, tolerance(dtype), "adabin act dL/dalpha " + type);
      expect_device_close(gbc, gb, tolerance(dtype), "adabin act dL/dbeta " + type);
    }
  }
}
