// The terms on logits (modules/losses/kd.h): ce, kl, distribution, hard. ce trains on the batch's
// soft labels when it has them (data.mixup: timm's SoftTargetCrossEntropy), else on its labels. The student's logits are
// its output `logits` (option), the teacher's its output "logits". Logits in float16 / bfloat16
// (autocast) are promoted to float32 first (at_least_float). kl's `reduction`: batchmean (the
// summed KL / B, default) or mean (/ (B·C): DeiT's soft distillation, deit_soft_distillation).
#include <lowbit/csrc/engine/objective/loss_term.h>
#include <lowbit/modules/losses/kd.h>

#include <torch/types.h>

namespace lowbit::engine {
namespace {

enum class LogitLoss { CrossEntropy, Kl, DeitSoft, Distribution, Hard };

class LogitTerm : public LossTerm {
 public:
  LogitTerm(LogitLoss loss, std::string logits, double temperature, double label_smoothing)
      : loss_(loss), logits_(std::move(logits)), temperature_(temperature), label_smoothing_(label_smoothing) {}

  torch::Tensor forward(const TermInputs& in) override {
    check(in.student.count(logits_) > 0, "logits", "the student has no output '" + logits_ + "'" + outputs_of(in.student));
    const auto z_s = at_least_float(in.student.at(logits_));
    if (loss_ == LogitLoss::CrossEntropy) {
      check(in.batch.labels.defined() || in.batch.soft_labels.defined(), "", "the batch has no labels");
      check(!in.batch.soft_labels.defined() || label_smoothing_ == 0, "label_smoothing",
            "must be 0 with data.mixup, whose soft targets carry their own smoothing (data.mixup.label_smoothing; "
            "train.label_smoothing also sets it)");
      return losses::classification_cross_entropy(z_s, in.batch.labels, in.batch.soft_labels, label_smoothing_);
    }
    check(in.teacher.count("logits") > 0, "", "the teacher produced no logits");
    const auto z_t = at_least_float(in.teacher.at("logits"));
    if (z_s.sizes() != z_t.sizes()) {
      fail("logits", "student shape " + c10::str(z_s.sizes()) + " and teacher shape " + c10::str(z_t.sizes()) + " differ");
    }
    switch (loss_) {
      case LogitLoss::Kl:
        return losses::kl_distillation(z_s, z_t, temperature_);
      case LogitLoss::DeitSoft:
        return losses::deit_soft_distillation(z_s, z_t, temperature_);
      case LogitLoss::Distribution:
        return losses::distribution_loss(z_s, z_t, temperature_);
      default:
        return losses::hard_distillation(z_s, z_t);
    }
  }

  bool reads_teacher() const override { return loss_ != LogitLoss::CrossEntropy; }

 private:
  static std::string outputs_of(const Outputs& outputs) {
    std::string names;
    for (const auto& entry : outputs) names += (names.empty() ? "" : ", ") + entry.first;
    return " (its outputs: " + (names.empty() ? std::string("none") : names) + ")";
  }

  LogitLoss loss_;
  std::string logits_;
  double temperature_, label_smoothing_;
};

LossTermFactory logit_term(LogitLoss loss, const char* name) {
  return [loss, name](ParamReader& p) -> std::shared_ptr<LossTerm> {
    p.check(!p.has("taps"), "taps",
            std::string("the ") + name + " loss reads logits, not taps (its option 'logits' names a student output "
            "to use instead of 'logits')");
    const auto logits = p.get<std::string>("logits", "logits");
    double temperature = 1, label_smoothing = 0;
    if (loss == LogitLoss::Kl || loss == LogitLoss::Distribution) {
      temperature = p.get<double>("temperature", temperature);
      p.check(temperature > 0, "temperature", "expected a positive number, got " + c10::str(temperature));
    }
    if (loss == LogitLoss::CrossEntropy) {
      label_smoothing = p.get<double>("label_smoothing", label_smoothing);
      p.check(label_smoothing >= 0 && label_smoothing < 1, "label_smoothing",
              "expected a number in [0, 1), got " + c10::str(label_smoothing));
    }
    const bool per_logit = loss == LogitLoss::Kl && p.choice("reduction", "batchmean", {"batchmean", "mean"}) == 1;
    return std::make_shared<LogitTerm>(per_logit ? LogitLoss::DeitSoft : loss, logits, temperature, label_smoothing);
  };
}

}  // namespace

LOWBIT_REGISTER_LOSS_TERM(ce, logit_term(LogitLoss::CrossEntropy, "ce"));
LOWBIT_REGISTER_LOSS_TERM(kl, logit_term(LogitLoss::Kl, "kl"));
LOWBIT_REGISTER_LOSS_TERM(distribution, logit_term(LogitLoss::Distribution, "distribution"));
LOWBIT_REGISTER_LOSS_TERM(hard, logit_term(LogitLoss::Hard, "hard"));

}  // namespace lowbit::engine
