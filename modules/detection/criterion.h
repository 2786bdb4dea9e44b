#pragma once
// DETR's SetCriterion (facebookresearch/detr models/detr.py) with its weight_dict applied: per
// decoder output, match (matcher.h), then
//   loss_ce   = ce_loss_coef   * CE(logits, classes; weight w),  w_c = 1, w_no-object = eos_coef,
//               over all B Q predictions, unmatched ones labelled no-object (index K);
//               F.cross_entropy's weighted mean: sum_q w_{y_q} nll_q / sum_q w_{y_q}
//   loss_bbox = bbox_loss_coef * sum_matched |b - b_gt|_1 / num_boxes
//   loss_giou = giou_loss_coef * sum_matched (1 - GIoU(b, b_gt)) / num_boxes
// num_boxes = max(1, the batch's ground-truth count) (one process; the official code averages it
// over processes). With aux_loss the first L-1 decoder layers are matched and scored the same way,
// their names suffixed _0 .. _{L-2} (loss_ce_0, loss_bbox_0, loss_giou_0, ...), as the official
// aux weight_dict. The logging-only entries (class_error, cardinality_error) are not losses and
// are left out. The criterion holds no state: empty_weight is rebuilt on the logits' device.

#include <lowbit/modules/detection/detector.h>
#include <lowbit/modules/detection/matcher.h>

namespace lowbit::detection {

struct SetCriterionOptions {
  SetCriterionOptions(int64_t classes) : classes_(classes) {}  // NOLINT: implicit, as torch's options
  TORCH_ARG(int64_t, classes);  // K, without no-object
  TORCH_ARG(double, eos_coef) = 0.1;
  TORCH_ARG(MatcherCosts, costs);
  TORCH_ARG(double, ce_loss_coef) = 1;
  TORCH_ARG(double, bbox_loss_coef) = 5;
  TORCH_ARG(double, giou_loss_coef) = 2;
  TORCH_ARG(bool, aux_loss) = true;
};

class SetCriterion {
 public:
  explicit SetCriterion(SetCriterionOptions options);

  // logits [B, Q, K+1], boxes [B, Q, 4]; aux_logits [L-1, B, Q, K+1], aux_boxes [L-1, B, Q, 4]
  // (read only with aux_loss; may be empty).
  NamedLosses operator()(const at::Tensor& logits, const at::Tensor& boxes, const at::Tensor& aux_logits,
                         const at::Tensor& aux_boxes, const MatchTargets& targets) const;

  // The three losses of one decoder output, names suffixed with `suffix` ("" or "_<i>").
  void add_losses(NamedLosses& losses, const at::Tensor& logits, const at::Tensor& boxes, const MatchTargets& targets,
                  double num_boxes, const std::string& suffix) const;

  SetCriterionOptions options;
};

}  // namespace lowbit::detection
