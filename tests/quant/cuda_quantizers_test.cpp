// On a GPU (skipped without one; scripts/gpu-check runs them): every registered quantizer, and the
// quantized layers inside small models of each family, give on CUDA the outputs and gradients they
// give on the CPU, from the same initial state and data.
#include <lowbit/modules/models/registry.h>
#include <lowbit/modules/quant/registry.h>

#include "support/example_quantizers.h"
#include "support/require_gpu.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <string>

namespace {

// |a - b| <= tol max(1, max|b|), a moved to the CPU.
void expect_close(const torch::Tensor& a, const torch::Tensor& b, double tol, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_TRUE(a.defined() && b.defined());
  ASSERT_EQ(a.sizes(), b.sizes());
  const auto x = a.cpu().to(torch::kDouble), y = b.to(torch::kDouble);
  EXPECT_LE((x - y).abs().max().item<double>(), tol * std::max(1.0, y.abs().max().item<double>()));
}

// One training forward and backward of `module` on (x, upstream) on `device`: the output, the
// input's gradient and the parameters' gradients.
template <typename Module>
std::vector<torch::Tensor> forward_backward(Module& module, const torch::Tensor& x, const torch::Tensor& upstream,
                                            const torch::Device& device) {
  module->to(device);
  module->train();
  auto input = x.to(device).requires_grad_(true);
  const auto y = module->forward(input);
  (y * upstream.to(device)).sum().backward();
  std::vector<torch::Tensor> out = {y.detach(), input.grad()};
  for (const auto& p : module->parameters()) {
    if (p.grad().defined()) out.push_back(p.grad());
  }
  return out;
}

}  // namespace

TEST(CudaQuantizers, EveryRegisteredQuantizerMatchesTheCpu) {
  REQUIRE_GPU();
  const auto x = torch::randn({16, 16, 5, 5}) * 0.5;
  const auto upstream = torch::randn_like(x);
  for (const auto& name : lowbit::quant::registered_quantizers()) {
    const auto params = lowbit::testing::example_params(name);
    torch::manual_seed(0);
    auto cpu = lowbit::quant::make(name, params);
    torch::manual_seed(0);
    auto gpu = lowbit::quant::make(name, params);
    const auto expected = forward_backward(cpu, x, upstream, torch::kCPU);
    const auto got = forward_backward(gpu, x, upstream, torch::kCUDA);
    ASSERT_EQ(got.size(), expected.size()) << name;
    for (size_t i = 0; i < got.size(); ++i) {
      expect_close(got[i], expected[i], 1e-4, name + (i == 0 ? " output" : i == 1 ? " dL/dx" : " parameter gradient"));
    }
  }
}

TEST(CudaQuantizers, QuantizedModelsMatchTheCpu) {
  REQUIRE_GPU();
  struct Case {
    std::string model;
    lowbit::Params options;
    lowbit::models::QuantPolicy policy;
    std::vector<int64_t> input;
  };
  lowbit::models::QuantPolicy reactnet, qvit, bivit;
  reactnet.weight = {"xnor", {{"scale_grad", std::string("detached")}}};
  reactnet.input = {"rsign", {}};
  qvit.weight = {"lsq", {{"bits", int64_t{4}}, {"per_channel", true}}};
  qvit.input = {"qvit_act", {{"bits", int64_t{4}}}};
  bivit.weight = {"xnor", {}};
  bivit.input = {"sign", {{"ste", std::string("approx")}}};
  const std::vector<Case> cases = {
      {"reactnet_resnet18",
       {{"small_input", true}, {"in_channels", int64_t{1}}, {"classes", int64_t{10}},
        {"widths", std::vector<int64_t>{16, 32, 64}}, {"blocks", std::vector<int64_t>{1, 1, 1}}},
       reactnet,
       {8, 1, 28, 28}},
      {"vit", {{"attention_bits", int64_t{4}}}, qvit, {8, 1, 28, 28}},
      {"vit", {{"attention_bits", int64_t{1}}, {"irm", true}}, bivit, {8, 1, 28, 28}},
  };
  for (const auto& c : cases) {
    torch::manual_seed(1);
    const auto x = torch::randn(c.input);
    torch::manual_seed(0);
    auto cpu = lowbit::models::make(c.model, c.options, c.policy);
    torch::manual_seed(0);
    auto gpu = lowbit::models::make(c.model, c.options, c.policy);
    const auto upstream = torch::randn({c.input[0], 10});
    const auto expected = forward_backward(cpu, x, upstream, torch::kCPU);
    const auto got = forward_backward(gpu, x, upstream, torch::kCUDA);
    ASSERT_EQ(got.size(), expected.size()) << c.model;
    // Whole networks: sums in other orders flip the odd sign deep inside, so a looser bound.
    for (size_t i = 0; i < got.size(); ++i) expect_close(got[i], expected[i], 2e-2, c.model + " tensor " + std::to_string(i));
  }
}
