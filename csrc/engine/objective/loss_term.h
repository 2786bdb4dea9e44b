#pragma once
// Loss terms by name: the parts of a training objective that a recipe's `distill:` section lists,
//   distill: {terms: [{loss: distribution}, {loss: dgd, weight: 0.1, taps: '\.attn\.(q|k)$'}]}
// and a C++ user's Distiller({DistillTermOptions("dgd").weight(0.1)}, teacher) builds alike.
// A term reads the batch, the named outputs of the student and of the frozen teacher, and the
// taps each model published; terms with parameters (IDa-Det's adapters and sigma) are modules,
// trained by the optimizer beside the model and saved in checkpoints.
//
// Built in (objective/*_terms.cpp; formulas in modules/losses/*.h):
//   model         the student's own losses (Model::loss), summed: a detector's set loss, no teacher
//   ce            label cross-entropy, no teacher        [label_smoothing = 0, logits = "logits"]
//   kl            T²·KL(softmax(z_T/T) ‖ softmax(z_S/T))  [temperature = 1, logits]
//   distribution  ReActNet's soft cross-entropy          [temperature = 1, logits]
//   hard          DeiT's CE to argmax z_T                [logits]
//   dgd           Q-ViT's similarity-matrix distance, summed over the taps
//                 [taps = '(^|\.)(q|k)$', normalization: row | frobenius, squared = false]
//   ranking       Bi-ViT-style ranking-aware attention loss, averaged over the taps
//                 [taps = '(^|\.)attn$', form: logistic | hinge | listnet, top_k = 16, scale = 0, margin = 1]
//   drd           Q-DETR's distribution rectification distillation (taps + the batch's target boxes)
//                 [tau (required), gt_rule, matching, giou_weight, l1_weight, feature_pattern, layers, boxes_tap]
//   entropy       IDa-Det's entropy distillation of FPN maps (taps; adapters and sigma are parameters)
//                 [levels, channels, adapt, score_threshold, nms_iou, proportion, geometry, sigma_init,
//                  log_weight, feature_pattern, proposals_tap]
// `logits` names the student output a logit term reads (a distilled DeiT's "dist_logits"); the
// teacher's is always its "logits". A user's term:
//
//   class MyTerm : public engine::LossTerm { torch::Tensor forward(const TermInputs& in) override; ... };
//   LOWBIT_REGISTER_LOSS_TERM(my_term, [](ParamReader& options) { return std::make_shared<MyTerm>(...); });

#include <lowbit/csrc/engine/task/model.h>
#include <lowbit/csrc/util/dtypes.h>
#include <lowbit/csrc/util/params.h>
#include <lowbit/modules/taps/taps.h>

#include <torch/nn/module.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace lowbit::engine {

// What one term sees of a training step.
struct TermInputs {
  const Batch& batch;
  const Outputs& student;
  const taps::TapRecord& student_taps;
  const Outputs& teacher;  // empty without a teacher
  const taps::TapRecord& teacher_taps;
  Model& model;  // the student
};

class LossTerm : public torch::nn::Module {
 public:
  // The unweighted loss, a scalar.
  virtual torch::Tensor forward(const TermInputs& inputs) = 0;
  // Regexes (searched) of the taps the term reads from each model (by default those given to
  // read_taps); none: it reads outputs only.
  virtual std::vector<std::string> student_taps() const { return taps_; }
  virtual std::vector<std::string> teacher_taps() const { return taps_; }
  virtual bool reads_teacher() const { return true; }

  // "distill term '<name>'": how errors name the term (set by make_loss_term).
  const std::string& who() const { return who_; }
  void set_who(std::string who) { who_ = std::move(who); }

 protected:
  // The taps this term reads from both models.
  void read_taps(std::vector<std::string> patterns) { taps_ = std::move(patterns); }
  // Throws OptionError at `key` ("" = the term as a whole): "<who>: <key>: <detail>".
  [[noreturn]] void fail(const std::string& key, const std::string& detail) const;
  void check(bool condition, const std::string& key, const std::string& detail) const {
    if (!condition) fail(key, detail);
  }

 private:
  std::string who_ = "loss term";
  std::vector<std::string> taps_;
};

// Terms sum many small values, so they compute in at least float32 (util::at_least_float).
using util::at_least_float;

using LossTermFactory = std::function<std::shared_ptr<LossTerm>(ParamReader& options)>;

bool register_loss_term(const std::string& loss, LossTermFactory factory);

// The term `loss` with `options`, errors prefixed by `who`; an unknown loss throws OptionError at
// "loss", a bad option at its key.
std::shared_ptr<LossTerm> make_loss_term(const std::string& loss, const Params& options, const std::string& who);

// Sorted.
std::vector<std::string> registered_loss_terms();

}  // namespace lowbit::engine

#define LOWBIT_REGISTER_LOSS_TERM(loss, factory) \
  static const bool lowbit_loss_term_registered_##loss = ::lowbit::engine::register_loss_term(#loss, factory)
