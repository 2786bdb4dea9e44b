// The detection distillation terms, reading taps of both models and the batch:
//   drd      Q-DETR's DRD (modules/losses/drd.h): the decoder layers' co-attended features and
//            predicted boxes from taps, the ground-truth boxes from the batch's targets ("boxes",
//            cx, cy, w, h normalised, per image).
//   entropy  IDa-Det's entropy distillation (modules/losses/entropy.h): the FPN maps and RPN
//            proposals from taps; image sizes from the batch's meta "image_sizes" [B, 2]
//            (height, width), else every image is the batch's padded size. Its adapters and sigma
//            are the term's parameters (`sigma`, `neck_adapt.<l>.0.{weight,bias}`, the official
//            names), trained by the optimizer and saved in checkpoints. The term's `weight` is the
//            official hint_neck_w (0.5 in IDa-Det's config; the term default is 1, as for every term).
#include <lowbit/csrc/engine/objective/loss_term.h>
#include <lowbit/modules/losses/drd.h>
#include <lowbit/modules/losses/entropy.h>

#include <torch/types.h>

namespace lowbit::engine {
namespace {

class DrdTerm : public LossTerm {
 public:
  explicit DrdTerm(losses::DrdOptions options) : drd_(register_module("drd", losses::DrdLoss(std::move(options)))) {
    read_taps({drd_->options.feature_pattern(), taps::exact_pattern(drd_->options.boxes_tap())});
  }

  torch::Tensor forward(const TermInputs& in) override {
    std::vector<torch::Tensor> gt_boxes;
    for (const auto& target : in.batch.targets) {
      check(target.count("boxes") > 0, "", "every image's target needs \"boxes\" (cx, cy, w, h)");
      gt_boxes.push_back(target.at("boxes"));
    }
    check(static_cast<int64_t>(gt_boxes.size()) == in.batch.size(), "",
          "reads the ground-truth boxes of a detection batch; this batch has no targets");
    return drd_->from_taps(in.student_taps, in.teacher_taps, gt_boxes);
  }

 private:
  losses::DrdLoss drd_;
};

std::shared_ptr<LossTerm> drd(ParamReader& p) {
  const auto tau = p.optional<double>("tau");
  p.check(tau.has_value(), "tau", "missing (required): the FQM threshold in [0, 1]");
  losses::DrdOptions o(*tau);
  o.gt_rule(static_cast<losses::GtRule>(p.choice("gt_rule", "any", {"any", "all"})));
  o.matching(static_cast<losses::TeacherMatching>(p.choice("matching", "argmax", {"argmax", "hungarian"})));
  o.giou_weight(p.get<double>("giou_weight", o.giou_weight()));
  o.l1_weight(p.get<double>("l1_weight", o.l1_weight()));
  o.feature_pattern(p.get<std::string>("feature_pattern", o.feature_pattern()));
  o.layers(p.get<std::vector<int64_t>>("layers", o.layers()));
  o.boxes_tap(p.get<std::string>("boxes_tap", o.boxes_tap()));
  return std::make_shared<DrdTerm>(o);
}

class EntropyTerm : public LossTerm {
 public:
  explicit EntropyTerm(losses::EntropyDistillationOptions options) : entropy_(std::move(options)) {
    register_parameter("sigma", entropy_->sigma);
    if (entropy_->neck_adapt) register_module("neck_adapt", entropy_->neck_adapt);
    read_taps({entropy_->options.feature_pattern(), taps::exact_pattern(entropy_->options.proposals_tap())});
  }

  torch::Tensor forward(const TermInputs& in) override {
    const auto sizes = in.batch.meta.find("image_sizes");
    const auto image_sizes =
        sizes != in.batch.meta.end()
            ? sizes->second
            : torch::tensor({static_cast<double>(in.batch.images.size(2)), static_cast<double>(in.batch.images.size(3))},
                            torch::TensorOptions().dtype(torch::kFloat).device(in.batch.images.device()))
                  .expand({in.batch.size(), 2});
    return entropy_->from_taps(in.student_taps, in.teacher_taps, image_sizes);
  }

 private:
  // Not registered itself: its parameters are the term's, under their official names.
  losses::EntropyDistillation entropy_;
};

std::shared_ptr<LossTerm> entropy(ParamReader& p) {
  losses::EntropyDistillationOptions o;
  o.levels(p.get<int64_t>("levels", o.levels()));
  o.channels(p.get<int64_t>("channels", o.channels()));
  o.adapt(p.get<bool>("adapt", o.adapt()));
  o.score_threshold(p.get<double>("score_threshold", o.score_threshold()));
  o.nms_iou(p.get<double>("nms_iou", o.nms_iou()));
  o.proportion(p.get<double>("proportion", o.proportion()));
  o.geometry(static_cast<losses::IdaGeometry>(p.choice("geometry", "official", {"official", "fixed"})));
  o.sigma_init(p.get<double>("sigma_init", o.sigma_init()));
  o.log_weight(p.get<double>("log_weight", o.log_weight()));
  o.weight(1.0);
  o.feature_pattern(p.get<std::string>("feature_pattern", o.feature_pattern()));
  o.proposals_tap(p.get<std::string>("proposals_tap", o.proposals_tap()));
  return std::make_shared<EntropyTerm>(o);
}

}  // namespace

LOWBIT_REGISTER_LOSS_TERM(drd, drd);
LOWBIT_REGISTER_LOSS_TERM(entropy, entropy);

}  // namespace lowbit::engine
