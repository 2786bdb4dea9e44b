// The binary ResNets fit 2,000 Fashion-MNIST images (tests/support/fashion_fit.h): AdaBin's
// (adabin weights, adabin_act inputs, Maxout, the EDE schedule run by the epoch hooks) and
// ReActNet's (RSign, XNOR-detached weights, RPReLU), each as a small 28×28 network.
#include <lowbit/modules/models/registry.h>
#include <lowbit/modules/quant/adabin.h>

#include "support/fashion_fit.h"

#include <gtest/gtest.h>


namespace {

const lowbit::Params kSmall = {{"small_input", true},
                               {"in_channels", int64_t{1}},
                               {"classes", int64_t{10}},
                               {"widths", std::vector<int64_t>{16, 32, 64}},
                               {"blocks", std::vector<int64_t>{1, 1, 1}}};

}  // namespace

TEST(MethodTraining, Adabin) {
  lowbit::models::QuantPolicy policy;
  policy.weight = {"adabin", {}};
  policy.input = {"adabin_act", {}};
  auto model = lowbit::models::make("adabin_resnet18", kSmall, policy);
  const int64_t epochs = 6;
  const auto result = lowbit::testing::fit_fashion_mnist(model, lowbit::testing::FitOptions().epochs_for_hooks(epochs));
  std::cout << "adabin: " << result << "\n";
  // The hooks ran the EDE schedule to its last epoch.
  int quantizers = 0;
  for (const auto& m : model->modules()) {
    if (auto* q = dynamic_cast<lowbit::quant::AdaBinImpl*>(m.get())) {
      ++quantizers;
      EXPECT_FLOAT_EQ(q->t.item<float>(), static_cast<float>(lowbit::quant::ede_schedule(epochs - 1, epochs).t));
    }
  }
  EXPECT_GT(quantizers, 0);
  EXPECT_LT(result.last_loss, 0.6 * result.first_loss);
  EXPECT_GT(result.test_accuracy, 0.65);  // chance is 0.10
}

TEST(MethodTraining, ReactnetResnet) {
  lowbit::models::QuantPolicy policy;
  policy.weight = {"xnor", {{"scale_grad", std::string("detached")}}};
  policy.input = {"rsign", {}};
  auto model = lowbit::models::make("reactnet_resnet18", kSmall, policy);
  const auto result = lowbit::testing::fit_fashion_mnist(model);
  std::cout << "reactnet: " << result << "\n";
  EXPECT_LT(result.last_loss, 0.6 * result.first_loss);
  EXPECT_GT(result.test_accuracy, 0.65);
}
