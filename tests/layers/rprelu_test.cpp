#include <lowbit/modules/layers/rprelu.h>

#include "support/gradcheck.h"

#include <gtest/gtest.h>

#include <sstream>

using lowbit::layers::RPReLU;

TEST(RPReLU, ShiftsSlopesAndShiftsAgain) {
  RPReLU act(2);
  {
    torch::NoGradGuard no_grad;
    act->gamma.copy_(torch::tensor({1.0, -1.0}).view({1, 2, 1, 1}));
    act->zeta.copy_(torch::tensor({0.5, 0.0}).view({1, 2, 1, 1}));
  }
  const auto x = torch::tensor({{-3.0, 0.5}, {2.0, 3.0}});  // [N=2, C=2]
  // ch0: x+1 -> [-2, 3] -> prelu [-0.5, 3] -> +0.5; ch1: x-1 -> [-0.5, 2] -> [-0.125, 2].
  EXPECT_TRUE(torch::allclose(act(x), torch::tensor({{0.0, -0.125}, {3.5, 2.0}})));
}

TEST(RPReLU, GradientsMatchFiniteDifferences) {
  torch::manual_seed(0);
  RPReLU act(3);
  act->to(torch::kDouble);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : act->parameters()) p.add_(torch::randn_like(p) * 0.3);
  }
  const auto x = torch::randn({2, 3, 2, 2}, torch::kDouble);
  // Input gradient.
  const auto on_input = lowbit::testing::compare_gradients([&](const torch::Tensor& t) { return act(t); }, x);
  EXPECT_TRUE(torch::allclose(on_input.analytic, on_input.numeric, 1e-6, 1e-6));
  // Each parameter's gradient.
  for (const auto& p : act->named_parameters()) {
    auto param = p.value();
    const auto as_function = [&](const torch::Tensor& value) {
      torch::NoGradGuard no_grad;
      const auto saved = param.clone();
      param.copy_(value);
      auto y = act(x);
      param.copy_(saved);
      return y;
    };
    param.mutable_grad() = torch::Tensor();
    (act(x) * 1.0).sum().backward();
    EXPECT_TRUE(torch::allclose(param.grad(), lowbit::testing::numerical_gradient(as_function, param), 1e-6, 1e-6))
        << p.key();
  }
}

TEST(RPReLU, SaveLoadRoundTrip) {
  RPReLU act(3);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : act->parameters()) p.add_(torch::randn_like(p));
  }
  const auto x = torch::randn({2, 3, 4, 4});
  std::stringstream stream;
  torch::save(act, stream);
  RPReLU restored(3);
  torch::load(restored, stream);
  EXPECT_TRUE(torch::equal(restored(x), act(x)));
}

TEST(RPReLU, WrongChannelCountIsRejected) {
  RPReLU act(4);
  EXPECT_THROW(act(torch::randn({2, 3})), c10::Error);
}
