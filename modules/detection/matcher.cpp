#include <lowbit/modules/detection/matcher.h>

#include <lowbit/csrc/ops/boxes.h>
#include <lowbit/csrc/util/hungarian.h>

#include <torch/torch.h>

namespace lowbit::detection {

Matches hungarian_match(const at::Tensor& logits, const at::Tensor& boxes, const MatchTargets& targets,
                        const MatcherCosts& costs) {
  torch::NoGradGuard no_grad;
  const int64_t batch = logits.size(0), queries = logits.size(1);
  TORCH_CHECK(static_cast<int64_t>(targets.sizes.size()) == batch, "DETR matcher: ", targets.sizes.size(),
              " targets for a batch of ", batch);
  const auto prob = logits.flatten(0, 1).softmax(-1);  // [BQ, K+1]
  const auto pred = boxes.flatten(0, 1);                 // [BQ, 4]
  const auto gt = targets.boxes.to(pred.device(), pred.scalar_type());
  const auto cost_class = -prob.index_select(1, targets.classes.to(prob.device()));
  const auto cost_bbox = torch::cdist(pred, gt, 1);
  const auto cost_giou = -ops::generalized_box_iou(ops::box_cxcywh_to_xyxy(pred), ops::box_cxcywh_to_xyxy(gt),
                                                   "DETR matcher");
  const auto cost = (costs.cost_bbox * cost_bbox + costs.cost_class * cost_class + costs.cost_giou * cost_giou)
                        .view({batch, queries, gt.size(0)})
                        .cpu();
  Matches matches;
  int64_t offset = 0;
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t g = targets.sizes[static_cast<size_t>(i)];
    const auto assignment = util::linear_sum_assignment(cost[i].narrow(1, offset, g));
    matches.emplace_back(torch::tensor(assignment.rows, torch::kLong), torch::tensor(assignment.cols, torch::kLong));
    offset += g;
  }
  return matches;
}

}  // namespace lowbit::detection
