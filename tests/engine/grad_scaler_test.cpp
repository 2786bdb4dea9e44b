#include <lowbit/csrc/engine/optim/grad_scaler.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace {

struct Fixture {
  torch::Tensor w = torch::ones({3}, torch::requires_grad());
  torch::optim::SGD sgd{{w}, torch::optim::SGDOptions(1.0)};
};

}  // namespace

TEST(GradScaler, ScalesLossAndUnscalesGradientsBeforeStepping) {
  Fixture f;
  lowbit::engine::GradScaler scaler(true, 8.0);
  scaler.scale((f.w * torch::tensor({1.0f, 2.0f, 3.0f})).sum()).backward();
  EXPECT_TRUE(torch::allclose(f.w.grad(), torch::tensor({8.0f, 16.0f, 24.0f})));  // scaled
  EXPECT_TRUE(scaler.step(f.sgd));
  EXPECT_TRUE(torch::allclose(f.w.detach(), torch::tensor({0.0f, -1.0f, -2.0f})));  // w - g/S
  scaler.update();
  EXPECT_DOUBLE_EQ(scaler.current_scale(), 8.0);
}

TEST(GradScaler, NonFiniteGradientSkipsStepAndBacksOff) {
  Fixture f;
  lowbit::engine::GradScaler scaler(true, 8.0);
  scaler.scale((f.w * torch::tensor({1.0f, INFINITY, 3.0f})).sum()).backward();
  EXPECT_FALSE(scaler.step(f.sgd));
  EXPECT_TRUE(torch::equal(f.w.detach(), torch::ones({3})));
  scaler.update();
  EXPECT_DOUBLE_EQ(scaler.current_scale(), 4.0);
}

TEST(GradScaler, GrowsAfterIntervalOfFiniteSteps) {
  Fixture f;
  lowbit::engine::GradScaler scaler(true, 2.0, 2.0, 0.5, 3);
  for (int i = 0; i < 3; ++i) {
    f.sgd.zero_grad();
    scaler.scale(f.w.sum()).backward();
    scaler.step(f.sgd);
    scaler.update();
  }
  EXPECT_DOUBLE_EQ(scaler.current_scale(), 4.0);
  lowbit::engine::GradScaler restored(true);
  restored.load_state(scaler.state());
  EXPECT_DOUBLE_EQ(restored.current_scale(), 4.0);
}

TEST(GradScaler, DisabledIsIdentity) {
  Fixture f;
  lowbit::engine::GradScaler scaler(false);
  scaler.scale(f.w.sum()).backward();
  EXPECT_TRUE(torch::equal(f.w.grad(), torch::ones({3})));
  EXPECT_TRUE(scaler.step(f.sgd));
  EXPECT_TRUE(torch::equal(f.w.detach(), torch::zeros({3})));
}
