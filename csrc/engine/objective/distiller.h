#pragma once
// A distilled objective: the weighted sum of loss terms (objective/loss_term.h) on a batch, the
// student's outputs and taps, and those of a frozen teacher. The recipe's `distill:` section is
// one; a C++ user builds it alike:
//
//   auto distiller = std::make_shared<engine::Distiller>(
//       std::vector<engine::DistillTermOptions>{engine::DistillTermOptions("distribution"),
//                                               engine::DistillTermOptions("dgd").weight(0.1)},
//       teacher);                                   // an engine::Model, frozen by the Distiller
//   auto step = distiller->forward(*student, batch);  // step.losses: ("distribution", w·L), ("dgd", ...)
//
// forward() runs the teacher in eval mode without gradient and the student as it is, each with a
// TapRecorder keeping only the taps the terms read, then every term. The losses are weighted, so
// that they sum to the objective and show which term drives it; a term of weight 0 reports 0.
// The terms are child modules named as the terms are, so that terms with parameters are
// trained and checkpointed with the task. A teacher is needed when a term reads one (not ce).
//
// Errors name the term ("distill term 'dgd': ...") and carry the key {"terms[i]", <option>} as an
// OptionError, which the recipe reader maps to distill.terms[i].<option>.

#include <lowbit/csrc/engine/objective/loss_term.h>

#include <torch/arg.h>

#include <memory>
#include <string>
#include <vector>

namespace lowbit::engine {

struct DistillTermOptions {
  DistillTermOptions(std::string loss) : loss_(std::move(loss)) {}  // NOLINT: implicit, as torch's options
  TORCH_ARG(std::string, loss);    // a registered loss term
  TORCH_ARG(std::string, name);    // as logged; "" = the loss. Letters, digits and '_'.
  TORCH_ARG(double, weight) = 1.0;  // >= 0
  TORCH_ARG(Params, options);      // the term's options (its `taps`, `temperature`, ...)
};

class Distiller : public torch::nn::Module {
 public:
  Distiller(const std::vector<DistillTermOptions>& terms, std::shared_ptr<Model> teacher = nullptr);

  // The weighted terms (in term order) and the student's outputs.
  StepOutput forward(Model& student, const Batch& batch);

  // Term names, in order.
  std::vector<std::string> names() const;
  const std::shared_ptr<Model>& teacher() const { return teacher_; }
  // Whether a term reads the teacher.
  bool needs_teacher() const;

 private:
  struct Term {
    std::string name;
    double weight;
    std::shared_ptr<LossTerm> term;
  };
  std::vector<std::string> patterns(bool student) const;

  std::vector<Term> terms_;
  std::shared_ptr<Model> teacher_;
};

}  // namespace lowbit::engine
