// The baseline the methods' training tests compare with: a binary small_cnn (XNOR weights,
// sign activations) fits 2,000 Fashion-MNIST images. Every method adds a MethodTraining test
// of its own on the same data (tests/support/fashion_fit.h); keep the group under 3 minutes.
#include <lowbit/modules/models/registry.h>

#include "support/fashion_fit.h"

#include <gtest/gtest.h>

TEST(MethodTraining, XnorSmallCnnBaseline) {
  lowbit::models::QuantPolicy policy;
  policy.weight = {"xnor", {{"scale_grad", std::string("detached")}}};
  policy.input = {"sign", {{"ste", std::string("approx")}}};
  auto model = lowbit::models::make("small_cnn", {{"channels", std::vector<int64_t>{16, 32, 64}}}, policy);
  const auto result = lowbit::testing::fit_fashion_mnist(model, lowbit::testing::FitOptions().steps(300));
  EXPECT_LT(result.last_loss, 0.6 * result.first_loss);
  EXPECT_GT(result.test_accuracy, 0.65);  // chance is 0.10
  std::cout << "xnor small_cnn: " << result << "\n";
}
