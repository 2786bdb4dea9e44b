// The batch norm fused into ReActNet's RPReLU (csrc/ops/batch_norm_rprelu.h) against the composition
// prelu(batch_norm(x) + residual + gamma, beta) + zeta: outputs, running statistics and every
// gradient (the input's from the normalised input it recovers from the output) within 1e-5 of the
// float64 composition's largest in float and 1e-10 in double, in training and eval, channels-last
// and without affine parameters; where the recovery is ill-conditioned, the composition itself.
// Also the per-channel moments it normalises with (kernels/channel_moments.h).
#include <lowbit/csrc/kernels/channel_moments.h>
#include <lowbit/csrc/ops/batch_norm_rprelu.h>
#include <lowbit/csrc/ops/rprelu.h>

#include "support/require_gpu.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

namespace batch_norm_rprelu_test {  // named: the unity build joins test files

using lowbit::ops::BatchNormState;

// The inputs of one call; every tensor but the running statistics gets a gradient.
struct Inputs {
  torch::Tensor x, residual, weight, bias, running_mean, running_var, gamma, beta, zeta;
};

Inputs inputs(const std::vector<int64_t>& shape, bool affine) {
  const int64_t c = shape[1];
  Inputs in;
  in.x = torch::randn(shape) * 2 + 0.5;
  in.residual = torch::randn(shape) * 3;  // a residual stream larger than the normalised branch
  if (affine) {
    in.weight = torch::rand({c}) + 0.2;
    in.weight[1] = -in.weight[1];  // a negative weight is recovered too
    in.bias = torch::randn({c}) * 0.3;
  }
  in.running_mean = torch::randn({c}) * 0.1;
  in.running_var = torch::rand({c}) + 0.5;
  in.gamma = torch::randn({1, c, 1, 1}) * 0.3;
  in.beta = torch::rand({c}) * 0.5 + lowbit::ops::kRecoverableSlope;
  in.zeta = torch::randn({1, c, 1, 1}) * 0.3;
  return in;
}

struct Run {
  torch::Tensor y, running_mean, running_var;
  std::vector<torch::Tensor> grads;  // x, residual, weight, bias, gamma, beta, zeta (undefined: none)
};

using Fn = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& residual, const BatchNormState& bn,
                                       const torch::Tensor& gamma, const torch::Tensor& beta,
                                       const torch::Tensor& zeta)>;

torch::Tensor composition(const torch::Tensor& x, const torch::Tensor& residual, const BatchNormState& bn,
                          const torch::Tensor& gamma, const torch::Tensor& beta, const torch::Tensor& zeta) {
  const auto normalised = torch::batch_norm(x, bn.weight, bn.bias, bn.running_mean, bn.running_var,
                                            bn.batch_statistics, bn.momentum, bn.eps, false);
  return torch::prelu(normalised + residual + gamma, beta) + zeta;
}

torch::Tensor fused(const torch::Tensor& x, const torch::Tensor& residual, const BatchNormState& bn,
                    const torch::Tensor& gamma, const torch::Tensor& beta, const torch::Tensor& zeta) {
  return lowbit::ops::batch_norm_rprelu(x, residual, bn, gamma, beta, zeta);
}

Run run(const Fn& fn, const Inputs& in, const torch::Tensor& upstream, torch::ScalarType dtype, bool training,
        torch::MemoryFormat format = torch::MemoryFormat::Contiguous) {
  const auto leaf = [&](const torch::Tensor& t) {
    return t.defined() ? t.to(dtype).contiguous(t.dim() == 4 ? format : torch::MemoryFormat::Contiguous)
                             .clone()
                             .requires_grad_(true)
                       : torch::Tensor();
  };
  std::vector<torch::Tensor> leaves = {leaf(in.x),     leaf(in.residual), leaf(in.weight), leaf(in.bias),
                                       leaf(in.gamma), leaf(in.beta),     leaf(in.zeta)};
  BatchNormState bn{leaves[2], leaves[3], in.running_mean.to(dtype).clone(), in.running_var.to(dtype).clone(),
                    training, 0.1, 1e-5};
  const auto y = fn(leaves[0], leaves[1], bn, leaves[4], leaves[5], leaves[6]);
  (y * upstream.to(dtype)).sum().backward();
  Run r{y.detach(), bn.running_mean, bn.running_var, {}};
  for (const auto& l : leaves) r.grads.push_back(l.defined() ? l.grad() : torch::Tensor());
  return r;
}

double max_error(const torch::Tensor& a, const torch::Tensor& exact) {
  return (a.to(torch::kDouble) - exact).abs().max().item<double>() / std::max(1.0, exact.abs().max().item<double>());
}

void expect_matches_composition(const Inputs& in, torch::ScalarType dtype, bool training,
                                torch::MemoryFormat format = torch::MemoryFormat::Contiguous) {
  const double tolerance = dtype == torch::kDouble ? 1e-10 : 1e-5;
  const auto upstream = torch::randn_like(in.x);
  const auto a = run(fused, in, upstream, dtype, training, format);
  const auto exact = run(composition, in, upstream, torch::kDouble, training);
  EXPECT_EQ(a.y.scalar_type(), dtype);
  EXPECT_EQ(a.y.is_contiguous(format), true);
  EXPECT_LE(max_error(a.y, exact.y), tolerance);
  EXPECT_LE(max_error(a.running_mean, exact.running_mean), tolerance);
  EXPECT_LE(max_error(a.running_var, exact.running_var), tolerance);
  const char* names[] = {"x", "residual", "weight", "bias", "gamma", "beta", "zeta"};
  for (size_t k = 0; k < a.grads.size(); ++k) {
    SCOPED_TRACE(names[k]);
    ASSERT_EQ(a.grads[k].defined(), exact.grads[k].defined());
    if (!a.grads[k].defined()) continue;
    EXPECT_EQ(a.grads[k].scalar_type(), dtype);
    EXPECT_EQ(a.grads[k].sizes(), exact.grads[k].sizes());
    EXPECT_LE(max_error(a.grads[k], exact.grads[k]), tolerance);
  }
}

TEST(BatchNormRPReLUOp, MatchesTheCompositionInTrainingAndEval) {
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    for (const bool training : {true, false}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + (training ? " training" : " eval"));
      torch::manual_seed(0);
      // 5x7 planes: runs of one channel start and end inside bytes of the bit tensor.
      expect_matches_composition(inputs({6, 24, 5, 7}, true), dtype, training);
    }
  }
}

TEST(BatchNormRPReLUOp, ChannelsLastAndWithoutAffineParameters) {
  torch::manual_seed(1);
  expect_matches_composition(inputs({4, 12, 5, 5}, true), torch::kFloat, true, torch::MemoryFormat::ChannelsLast);
  expect_matches_composition(inputs({4, 12, 5, 5}, false), torch::kFloat, true);
}

TEST(BatchNormRPReLUOp, WrittenOverItsInputAndWithoutGradients) {
  torch::manual_seed(2);
  const auto in = inputs({4, 16, 6, 6}, true);
  const auto upstream = torch::randn_like(in.x);
  const void* storage = nullptr;
  const auto in_place = [&](const torch::Tensor& x, const torch::Tensor& residual, const BatchNormState& bn,
                            const torch::Tensor& gamma, const torch::Tensor& beta, const torch::Tensor& zeta) {
    auto fresh = x * 1.0;  // a leaf that requires grad is not written over
    storage = fresh.data_ptr();
    return lowbit::ops::batch_norm_rprelu(fresh, residual, bn, gamma, beta, zeta, /*overwrite_input=*/true);
  };
  const auto a = run(in_place, in, upstream, torch::kFloat, true);
  const auto b = run(fused, in, upstream, torch::kFloat, true);
  EXPECT_EQ(a.y.data_ptr(), storage);
  EXPECT_TRUE(torch::equal(a.y, b.y));
  for (size_t k = 0; k < a.grads.size(); ++k) EXPECT_TRUE(torch::equal(a.grads[k], b.grads[k])) << k;
  // Without gradients: the same output, the running statistics updated once.
  BatchNormState bn{in.weight, in.bias, in.running_mean.clone(), in.running_var.clone(), true, 0.1, 1e-5};
  torch::Tensor y;
  {
    const torch::NoGradGuard no_grad;
    y = lowbit::ops::batch_norm_rprelu(in.x.clone(), in.residual, bn, in.gamma, in.beta, in.zeta, true);
  }
  EXPECT_TRUE(torch::equal(y, b.y));
  EXPECT_TRUE(torch::equal(bn.running_mean, b.running_mean));
  EXPECT_TRUE(torch::equal(bn.running_var, b.running_var));
}

// A batch-norm weight of 0 leaves the normalised input unrecoverable from the output (the fused
// backward would divide by 0): the op computes the composition, whose gradients stay finite.
TEST(BatchNormRPReLUOp, ABatchNormWeightNearZeroTakesTheComposition) {
  torch::manual_seed(3);
  auto in = inputs({4, 8, 6, 6}, true);
  in.weight[2] = 0.0;
  in.weight[5] = 1e-3;
  const auto upstream = torch::randn_like(in.x);
  const auto a = run(fused, in, upstream, torch::kFloat, true);
  const auto b = run(composition, in, upstream, torch::kFloat, true);
  EXPECT_TRUE(torch::equal(a.y, b.y));
  for (size_t k = 0; k < a.grads.size(); ++k) {
    EXPECT_TRUE(a.grads[k].isfinite().all().item<bool>()) << k;
    EXPECT_TRUE(torch::allclose(a.grads[k], b.grads[k])) << k;
  }
}

TEST(BatchNormRPReLUOp, WrongShapesAreNamed) {
  auto in = inputs({2, 4, 3, 3}, true);
  const BatchNormState bn{in.weight, in.bias, in.running_mean, in.running_var, true, 0.1, 1e-5};
  try {
    lowbit::ops::batch_norm_rprelu(in.x, torch::randn({2, 4, 3, 2}), bn, in.gamma, in.beta, in.zeta);
    FAIL() << "a residual of another shape was accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("residual's shape"), std::string::npos) << e.what();
  }
}

TEST(ChannelMoments, MatchFloat64VarMeanFarFromZero) {
  torch::manual_seed(4);
  for (const auto format : {torch::MemoryFormat::Contiguous, torch::MemoryFormat::ChannelsLast}) {
    // A mean 1000 standard deviations away: sums of x^2 without the shift would lose the variance.
    const auto x = (torch::randn({8, 20, 9, 11}) + 1000).contiguous(format);
    const auto moments = lowbit::kernels::channel_moments(x);
    const auto [var, mean] = torch::var_mean(x.to(torch::kDouble), {0, 2, 3}, /*correction=*/0);
    ASSERT_EQ(moments.sizes(), torch::IntArrayRef({2, 20}));
    EXPECT_TRUE(torch::allclose(moments[0], mean, 1e-12, 0));
    EXPECT_TRUE(torch::allclose(moments[1], var, 1e-9, 0)) << (moments[1] - var).abs().max();
  }
  const auto tokens = torch::randn({50, 6}) * 3;  // [N, C]: one value per channel in a row
  const auto [var, mean] = torch::var_mean(tokens.to(torch::kDouble), {0}, 0);
  EXPECT_TRUE(torch::allclose(lowbit::kernels::channel_moments(tokens), torch::stack({mean, var}), 1e-12, 1e-12));
}

TEST(BatchNormRPReLUOp, CudaMatchesCpu) {
  REQUIRE_GPU();
  torch::manual_seed(5);
  const auto in = inputs({4, 16, 7, 9}, true);
  const auto upstream = torch::randn_like(in.x);
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    for (const bool training : {true, false}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + (training ? " training" : " eval"));
      const auto cpu = run(fused, in, upstream, dtype, training);
      Inputs on_gpu = in;
      for (auto* t : {&on_gpu.x, &on_gpu.residual, &on_gpu.weight, &on_gpu.bias, &on_gpu.running_mean,
                      &on_gpu.running_var, &on_gpu.gamma, &on_gpu.beta, &on_gpu.zeta}) {
        *t = t->cuda();
      }
      const auto gpu = run(fused, on_gpu, upstream.cuda(), dtype, training);
      EXPECT_TRUE(torch::allclose(gpu.y.cpu(), cpu.y, 1e-5, 1e-5));
      EXPECT_TRUE(torch::allclose(gpu.running_var.cpu(), cpu.running_var, 1e-5, 1e-5));
      // float64 gradients to float64's precision: the per-element terms and k0, k1 in double.
      const double tol = dtype == torch::kDouble ? 1e-9 : 1e-4;
      for (size_t k = 0; k < cpu.grads.size(); ++k) {
        EXPECT_TRUE(torch::allclose(gpu.grads[k].cpu(), cpu.grads[k], tol, tol)) << k;
      }
    }
  }
}

}  // namespace batch_norm_rprelu_test
