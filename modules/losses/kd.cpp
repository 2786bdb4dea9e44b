#include <lowbit/modules/losses/kd.h>

#include <torch/nn/functional/loss.h>
#include <torch/torch.h>

namespace lowbit::losses {
namespace {

void check_logits(const char* loss, const torch::Tensor& student, const torch::Tensor& teacher) {
  TORCH_CHECK(student.dim() == 2, loss, ": expected student logits [batch, classes], got shape ", student.sizes());
  TORCH_CHECK(student.sizes() == teacher.sizes(), loss, ": student logits ", student.sizes(), " and teacher logits ",
              teacher.sizes(), " differ in shape");
}

void check_temperature(const char* loss, double temperature) {
  TORCH_CHECK_VALUE(temperature > 0, loss, ": temperature must be > 0, got ", temperature);
}

// T² Σ_n KL(softmax(z_T/T) ‖ softmax(z_S/T)), summed over images and classes.
torch::Tensor summed_kl(const char* loss, const torch::Tensor& student, const torch::Tensor& teacher,
                        double temperature) {
  check_logits(loss, student, teacher);
  check_temperature(loss, temperature);
  const auto log_p = torch::log_softmax(student / temperature, 1);
  const auto log_q = torch::log_softmax(teacher.detach() / temperature, 1);
  // log_target: q·(log q − log p) without 0·log 0 = NaN where a teacher probability underflows.
  return torch::kl_div(log_p, log_q, at::Reduction::Sum, /*log_target=*/true) * (temperature * temperature);
}

}  // namespace

torch::Tensor kl_distillation(const torch::Tensor& student, const torch::Tensor& teacher, double temperature) {
  return summed_kl("kl", student, teacher, temperature) / static_cast<double>(student.size(0));
}

torch::Tensor deit_soft_distillation(const torch::Tensor& student, const torch::Tensor& teacher, double temperature) {
  return summed_kl("deit_soft", student, teacher, temperature) / static_cast<double>(student.numel());
}

torch::Tensor distribution_loss(const torch::Tensor& student, const torch::Tensor& teacher, double temperature) {
  check_logits("distribution", student, teacher);
  check_temperature("distribution", temperature);
  const auto q = torch::softmax(teacher.detach() / temperature, 1);
  return -(q * torch::log_softmax(student / temperature, 1)).sum(1).mean() * (temperature * temperature);
}

torch::Tensor hard_distillation(const torch::Tensor& student, const torch::Tensor& teacher) {
  check_logits("hard", student, teacher);
  return torch::nn::functional::cross_entropy(student, teacher.detach().argmax(1));
}

torch::Tensor label_cross_entropy(const torch::Tensor& student, const torch::Tensor& labels, double label_smoothing) {
  TORCH_CHECK(student.dim() == 2, "ce: expected logits [batch, classes], got shape ", student.sizes());
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == student.size(0), "ce: expected ", student.size(0),
              " labels for logits ", student.sizes(), ", got shape ", labels.sizes());
  TORCH_CHECK_VALUE(label_smoothing >= 0 && label_smoothing < 1, "ce: label_smoothing must be in [0, 1), got ",
                    label_smoothing);
  return torch::nn::functional::cross_entropy(
      student, labels, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(label_smoothing));
}

torch::Tensor soft_target_cross_entropy(const torch::Tensor& student, const torch::Tensor& targets) {
  TORCH_CHECK(student.dim() == 2, "ce: expected logits [batch, classes], got shape ", student.sizes());
  TORCH_CHECK(targets.sizes() == student.sizes(), "ce: soft targets ", targets.sizes(), " and logits ", student.sizes(),
              " differ in shape");
  return (-targets * torch::log_softmax(student, 1)).sum(1).mean();
}

torch::Tensor classification_cross_entropy(const torch::Tensor& student, const torch::Tensor& labels,
                                           const torch::Tensor& soft_targets, double label_smoothing) {
  if (!soft_targets.defined()) return label_cross_entropy(student, labels, label_smoothing);
  TORCH_CHECK_VALUE(label_smoothing == 0, "ce: label_smoothing ", label_smoothing,
                    " on mixup's soft targets, which are smoothed already (data.mixup.label_smoothing); set it to 0");
  return soft_target_cross_entropy(student, soft_targets);
}

}  // namespace lowbit::losses
