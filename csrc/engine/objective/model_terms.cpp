// The term that is the student's own objective: `model`, the sum of Model::loss (a Classifier's
// label cross-entropy, a detector's set losses). Q-DETR trains L = L_GT + lambda·L_DRD (Eq. 2.38):
//   distill: {terms: [{loss: model}, {loss: drd, tau: 0.5, weight: 1}]}
#include <lowbit/csrc/engine/objective/loss_term.h>

namespace lowbit::engine {
namespace {

class ModelTerm : public LossTerm {
 public:
  torch::Tensor forward(const TermInputs& in) override { return in.model.loss(in.batch, in.student).total(); }
  bool reads_teacher() const override { return false; }
};

}  // namespace

LOWBIT_REGISTER_LOSS_TERM(model, [](ParamReader&) -> std::shared_ptr<LossTerm> { return std::make_shared<ModelTerm>(); });

}  // namespace lowbit::engine
