// DeiT's soft distillation (kd.h deit_soft_distillation; losses.py, distillation_type 'soft'): the
// summed KL divided by B·C where kl_distillation divides by B. The term `kl` offers it as
// `reduction: mean`.
#include <lowbit/csrc/engine/objective/loss_term.h>
#include <lowbit/modules/losses/kd.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace losses = lowbit::losses;

namespace {

torch::Tensor student_logits() {
  return torch::tensor({0.5, -1.0, 2.0, 0.0, 1.5, 0.2, -0.7, 0.3}, torch::kDouble).view({2, 4}).requires_grad_();
}

torch::Tensor teacher_logits() {
  return torch::tensor({1.0, 0.0, -1.0, 0.5, 0.0, 2.0, 0.1, -0.4}, torch::kDouble).view({2, 4});
}

}  // namespace

// /tmp/refenv (torch 2.11): F.kl_div(F.log_softmax(s / 2, 1), F.log_softmax(t / 2, 1),
// reduction='sum', log_target=True) * 2 * 2 / s.numel(), and its gradient in s.
TEST(DeitSoftDistillation, IsDeitsValueAndGradient) {
  auto s = student_logits();
  const auto loss = losses::deit_soft_distillation(s, teacher_logits(), 2.0);
  EXPECT_NEAR(loss.item<double>(), 0.2583554594155082, 1e-15);
  loss.backward();
  const std::vector<double> deit = {-0.03357083029522138, -0.02804025014579825, 0.08775606936329527,
                                    -0.02614498892227566, 0.05926863580408681,  -0.06731087377555961,
                                    -0.012409854644664268, 0.02045209261613702};
  for (int64_t i = 0; i < 8; ++i) EXPECT_NEAR(s.grad().flatten()[i].item<double>(), deit[i], 1e-15) << i;
  // kl_distillation (batchmean) is C (= 4) times as large.
  EXPECT_NEAR(losses::kl_distillation(s, teacher_logits(), 2.0).item<double>(), 4 * 0.2583554594155082, 1e-14);
}

TEST(DeitSoftDistillation, IsTheKlTermWithReductionMean) {
  EXPECT_NO_THROW(lowbit::engine::make_loss_term("kl", {{"reduction", std::string("mean")}}, "distill term 'kl'"));
  try {
    lowbit::engine::make_loss_term("kl", {{"reduction", std::string("sum")}}, "distill term 'kl'");
    FAIL() << "reduction: sum was accepted";
  } catch (const lowbit::OptionError& e) {
    EXPECT_EQ(e.key(), std::vector<std::string>{"reduction"});
  }
  EXPECT_THROW(lowbit::engine::make_loss_term("distribution", {{"reduction", std::string("mean")}}, "t"),
               lowbit::OptionError);  // the option is kl's
}
