// ReActNet-style distillation on the methods' common data: a binary small_cnn (XNOR weights, sign
// activations) learns from a full-precision small_cnn through the distributional loss alone (no
// labels), and still classifies (compare MethodTraining.XnorSmallCnnBaseline).
#include <lowbit/csrc/engine/objective/distiller.h>
#include <lowbit/csrc/engine/task/classifier.h>
#include <lowbit/modules/models/registry.h>

#include "support/fashion_fit.h"

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>

TEST(MethodTraining, DistilledSmallCnn) {
  const auto started = std::chrono::steady_clock::now();
  torch::manual_seed(1);
  const lowbit::Params architecture{{"channels", std::vector<int64_t>{16, 32, 64}}};
  auto teacher = lowbit::models::make("small_cnn", architecture, {});
  const auto taught = lowbit::testing::fit_fashion_mnist(teacher, lowbit::testing::FitOptions().steps(200));

  lowbit::models::QuantPolicy policy;
  policy.weight = {"xnor", {{"scale_grad", std::string("detached")}}};
  policy.input = {"sign", {{"ste", std::string("approx")}}};
  auto student = lowbit::models::make("small_cnn", architecture, policy);
  lowbit::engine::Classifier student_model(student);
  lowbit::engine::Distiller distiller({lowbit::engine::DistillTermOptions("distribution")},
                                      std::make_shared<lowbit::engine::Classifier>(teacher));
  const auto result = lowbit::testing::fit_fashion_mnist(
      student, lowbit::testing::FitOptions().steps(300),
      [&](const torch::Tensor& images, const torch::Tensor& labels) {
        return distiller.forward(student_model, {images, labels}).losses.total();
      });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_LT(result.last_loss, 0.6 * result.first_loss);
  EXPECT_GT(result.test_accuracy, 0.65);  // chance is 0.10
  std::cout << "teacher accuracy " << taught.test_accuracy << "; student distribution loss " << result.first_loss
            << " -> " << result.last_loss << ", test accuracy " << result.test_accuracy << " (" << seconds << " s)\n";
}
