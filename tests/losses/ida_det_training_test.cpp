// IDa-Det's entropy distillation in a training loop, kept small and fast (the Faster R-CNN itself
// is distilled in tests/engine/detection_training_test.cpp): the "detector" is the binary
// small_cnn of the baseline test and its "FPN level" the 32-channel 14 x 14 map of its second
// stage; a real-valued small_cnn, trained first, is the teacher. The "RPN proposals" of both
// models are the box around the garment (pixels above the background) and a random box per image,
// all confident; selection, masks, adapter and sigma are the real thing (modules/losses/entropy.h).
#include <lowbit/modules/losses/entropy.h>
#include <lowbit/modules/models/registry.h>

#include "support/fashion_fit.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

namespace {

// Runs `net` on `x`; `feature` receives the output of layer `tap`.
torch::Tensor forward_with_feature(torch::nn::Sequential& net, torch::Tensor x, size_t tap, torch::Tensor& feature) {
  size_t index = 0;
  for (auto& layer : *net) {
    x = layer.forward(x);
    if (index++ == tap) feature = x;
  }
  return x;
}

// Per image [2, 5] (x1, y1, x2, y2, score) in pixels of the 28 x 28 images: the garment's box
// and a random one.
std::vector<torch::Tensor> proposals(const torch::Tensor& images) {
  const auto foreground = images.select(1, 0).gt(-0.5);  // background is (0 - 0.286) / 0.353 = -0.81
  const auto rows = foreground.any(2).to(torch::kInt), cols = foreground.any(1).to(torch::kInt);  // [B, 28]
  const auto first = [](const torch::Tensor& any) { return any.argmax(1); };
  const auto end = [](const torch::Tensor& any) { return 28 - any.flip(1).argmax(1); };
  const int64_t batch = images.size(0);
  const auto garment = torch::stack({first(cols), first(rows), end(cols), end(rows)}, 1).to(torch::kFloat);
  const auto corners = torch::rand({batch, 2}) * 18, sizes = torch::rand({batch, 2}) * 8 + 6;
  const auto random = torch::cat({corners, (corners + sizes).clamp_max(28)}, 1);
  const auto with_score = [&](const torch::Tensor& b, double score) { return torch::cat({b, torch::full({batch, 1}, score)}, 1); };
  return torch::stack({with_score(garment, 0.95), with_score(random, 0.9)}, 1).unbind(0);
}

// The selection runs a few small ops per image and box; distilling the first 16 images of each
// batch keeps the test within its time budget.
constexpr int64_t kDistilled = 16;

struct DistilledImpl : torch::nn::Module {
  DistilledImpl(torch::nn::Sequential net, lowbit::losses::EntropyDistillation distill)
      : student(register_module("student", net)), entropy(register_module("entropy", distill)) {}
  torch::nn::Sequential student;
  lowbit::losses::EntropyDistillation entropy;
};
TORCH_MODULE(Distilled);

}  // namespace

TEST(MethodTraining, IdaDetEntropyDistillation) {
  const auto started = std::chrono::steady_clock::now();
  const lowbit::Params channels = {{"channels", std::vector<int64_t>{16, 32, 64}}};
  constexpr size_t kTap = 6;  // the Hardtanh of the second stage: [B, 32, 14, 14]

  auto teacher = lowbit::models::make("small_cnn", channels, {});
  const auto teacher_fit = lowbit::testing::fit_fashion_mnist(teacher, lowbit::testing::FitOptions().steps(150));
  teacher->eval();
  for (auto& p : teacher->parameters()) p.requires_grad_(false);

  lowbit::models::QuantPolicy policy;
  policy.weight = {"xnor", {{"scale_grad", std::string("detached")}}};
  policy.input = {"sign", {{"ste", std::string("approx")}}};
  Distilled model(lowbit::models::make("small_cnn", channels, policy),
                  lowbit::losses::EntropyDistillation(lowbit::losses::EntropyDistillationOptions().levels(1).channels(32)));
  const double sigma_before = model->entropy->sigma.item<double>();
  double first_distill = 0, last_distill = 0;
  int64_t step = 0;
  constexpr int64_t kSteps = 300;
  const auto loss = [&](const torch::Tensor& images, const torch::Tensor& labels) {
    torch::Tensor student_map, teacher_map;
    const auto logits = forward_with_feature(model->student, images, kTap, student_map);
    {
      torch::NoGradGuard no_grad;
      forward_with_feature(teacher, images, kTap, teacher_map);
    }
    const auto part = [](const torch::Tensor& t) { return t.slice(0, 0, kDistilled); };
    const auto sizes = torch::tensor({28.0, 28.0}).expand({kDistilled, 2});
    const auto distill = model->entropy(std::vector<torch::Tensor>{part(student_map)}, std::vector<torch::Tensor>{part(teacher_map)},
                                        proposals(part(images)), proposals(part(images)), sizes);
    if (step < 20) first_distill += distill.item<double>() / 20;
    if (step >= kSteps - 20) last_distill += distill.item<double>() / 20;
    ++step;
    return torch::nn::functional::cross_entropy(logits, labels) + distill;
  };
  const auto result = lowbit::testing::fit_fashion_mnist(
      *model, [&](const torch::Tensor& x) { return model->student->forward(x); },
      lowbit::testing::FitOptions().steps(kSteps), loss);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  EXPECT_LT(result.last_loss, 0.6 * result.first_loss);
  EXPECT_GT(result.test_accuracy, 0.65);  // chance is 0.10
  EXPECT_LT(last_distill, 0.8 * first_distill);
  EXPECT_GT(std::abs(model->entropy->sigma.item<double>() - sigma_before), 1e-4);  // sigma trains
  std::cout << "teacher test accuracy " << teacher_fit.test_accuracy << "; student loss " << result.first_loss << " -> "
            << result.last_loss << ", distillation term " << first_distill << " -> " << last_distill << ", sigma "
            << model->entropy->sigma.item<double>() << ", test accuracy " << result.test_accuracy << " (" << seconds
            << " s with the teacher)\n";
}
