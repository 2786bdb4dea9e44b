#pragma once
// The training objective of a distilled run: a weighted sum of loss terms on the student's
// logits, the frozen teacher's logits, the labels and the tensors both models publish as taps.
//
//   losses::Distiller distiller({losses::TermOptions("distribution"),
//                                losses::TermOptions("dgd").taps(R"(\.attn\.(q|k)$)"),
//                                losses::TermOptions("ce").weight(0.5)});
//   auto r = distiller.forward(student, teacher, images, labels);
//   r.total.backward();            // r.terms: ("distribution", w·L), ("dgd", ...), ("ce", ...)
//
// forward() runs the teacher in eval mode without gradient and the student as it is, each with
// a TapRecorder keeping only the taps the terms select, then compute() evaluates every term.
//
// Loss kinds (options in brackets; see kd.h, dgd.h, ranking.h for the formulas):
//   ce            label cross-entropy                   [label_smoothing = 0]
//   kl            T²·KL(softmax(z_T/T) ‖ softmax(z_S/T)) [temperature = 1]
//   distribution  ReActNet's soft cross-entropy         [temperature = 1]
//   hard          DeiT's CE to argmax z_T                []
//   dgd           Q-ViT's similarity-matrix distance, summed over the taps
//                 [normalization: row | frobenius, squared = false]; taps default '(^|\.)(q|k)$'
//   ranking       Bi-ViT-style ranking-aware attention loss, averaged over the taps
//                 [form: logistic | hinge | listnet, top_k = 16, scale = 0 (N), margin = 1];
//                 taps default '(^|\.)attn$'
// The logit kinds take [logits: <tap>], a tap of the student to use instead of its output (a
// DeiT student's distillation head); the teacher's logits are always its output.
//
// Taps: a term's `taps` regex (searched) selects tap names in both records; a name is matched
// between student and teacher by identity (e.g. "blocks.3.attn.q" in both), so the two models
// must name their layers alike. Errors name the term and the tap: a tap one model recorded and the
// other did not, shapes that differ (dgd only needs [batch, heads, tokens] to agree), a term whose
// taps select nothing. Tensors in float16 / bfloat16 (autocast) are promoted to float32 first.
//
// Reported terms are weighted, so that they sum to `total` and show which term drives the
// objective; a term of weight 0 reports 0.

#include <lowbit/csrc/util/params.h>
#include <lowbit/modules/losses/dgd.h>
#include <lowbit/modules/losses/ranking.h>
#include <lowbit/modules/taps/taps.h>

#include <torch/arg.h>
#include <torch/nn/module.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace lowbit::losses {

// The kinds a term may name, in the order above.
const std::vector<std::string>& loss_kinds();

struct TermOptions {
  TermOptions(std::string loss) : loss_(std::move(loss)) {}  // NOLINT: implicit, as torch's options
  TORCH_ARG(std::string, loss);
  TORCH_ARG(std::string, name);    // as logged; "" = the loss kind. Letters, digits and '_'.
  TORCH_ARG(double, weight) = 1.0;  // >= 0
  TORCH_ARG(std::string, taps);    // ECMAScript regex on tap names; "" = the kind's default
  TORCH_ARG(Params, options);      // the kind's options, by name
};

// One model's side of a step: its logits and the taps it published.
struct ModelOutputs {
  torch::Tensor logits;
  taps::TapRecord taps;
};

struct DistillResult {
  torch::Tensor logits;  // the student's output
  torch::Tensor total;   // Σ weighted terms
  std::vector<std::pair<std::string, torch::Tensor>> terms;  // (name, weight·loss), in term order
};

class Distiller {
 public:
  using Forward = std::function<torch::Tensor(const torch::Tensor&)>;

  // Checks every term: errors read "distill term '<name>': <key>: ..." naming the key (weight,
  // taps, name or an option), or come from ParamReader naming the option.
  explicit Distiller(const std::vector<TermOptions>& terms);

  DistillResult forward(torch::nn::Module& student, const Forward& student_forward, torch::nn::Module& teacher,
                        const Forward& teacher_forward, const torch::Tensor& images, const torch::Tensor& labels) const;

  template <typename Student, typename Teacher>
  DistillResult forward(Student& student, Teacher& teacher, const torch::Tensor& images, const torch::Tensor& labels) const {
    return forward(
        *student, [&](const torch::Tensor& x) { return student->forward(x); }, *teacher,
        [&](const torch::Tensor& x) { return teacher->forward(x); }, images, labels);
  }

  // The terms from what the two forwards produced.
  DistillResult compute(const ModelOutputs& student, const ModelOutputs& teacher, const torch::Tensor& labels) const;

  // The regexes the student's / teacher's recorder keeps.
  std::vector<std::string> student_patterns() const;
  std::vector<std::string> teacher_patterns() const;

  // Term names, in order.
  std::vector<std::string> names() const;

 private:
  enum class Kind { CrossEntropy, Kl, Distribution, Hard, Dgd, Ranking };
  struct Term {
    Kind kind;
    std::string name;
    double weight = 1;
    std::string taps;            // tap kinds: the regex
    std::string student_logits;  // logit kinds: a student tap instead of the output
    double temperature = 1, label_smoothing = 0;
    DgdOptions dgd;
    RankingOptions ranking;
  };
  static Term compile(const TermOptions& options);
  torch::Tensor logit_term(const Term& term, const ModelOutputs& student, const ModelOutputs& teacher,
                           const torch::Tensor& labels) const;
  torch::Tensor tap_term(const Term& term, const ModelOutputs& student, const ModelOutputs& teacher) const;

  std::vector<Term> terms_;
};

}  // namespace lowbit::losses
