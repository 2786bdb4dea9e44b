#include <lowbit/modules/detection/criterion.h>

#include <lowbit/csrc/ops/boxes.h>

#include <torch/torch.h>

#include <algorithm>
#include <numeric>

namespace lowbit::detection {
namespace {

// Flat indices of the matched predictions (b Q + q) and targets (offset_b + g), in match order.
std::pair<at::Tensor, at::Tensor> flat_indices(const Matches& matches, int64_t queries, const MatchTargets& targets) {
  std::vector<at::Tensor> predictions, gts;
  int64_t offset = 0;
  for (size_t b = 0; b < matches.size(); ++b) {
    predictions.push_back(matches[b].first + static_cast<int64_t>(b) * queries);
    gts.push_back(matches[b].second + offset);
    offset += targets.sizes[b];
  }
  return {torch::cat(predictions), torch::cat(gts)};
}

}  // namespace

SetCriterion::SetCriterion(SetCriterionOptions options_) : options(options_) {
  TORCH_CHECK_VALUE(options.classes() >= 1, "SetCriterion: classes must be >= 1, got ", options.classes());
  TORCH_CHECK_VALUE(options.eos_coef() >= 0, "SetCriterion: eos_coef must be >= 0, got ", options.eos_coef());
}

void SetCriterion::add_losses(NamedLosses& losses, const at::Tensor& logits, const at::Tensor& boxes,
                              const MatchTargets& targets, double num_boxes, const std::string& suffix) const {
  const int64_t classes = options.classes();
  TORCH_CHECK(logits.dim() == 3 && logits.size(2) == classes + 1 && boxes.dim() == 3 && boxes.size(2) == 4,
              "SetCriterion: expected logits [B, Q, ", classes + 1, "] and boxes [B, Q, 4], got ", logits.sizes(),
              " and ", boxes.sizes());
  const int64_t queries = logits.size(1);
  const auto matches = hungarian_match(logits, boxes, targets, options.costs());
  const auto device = logits.device();
  auto [prediction, gt] = flat_indices(matches, queries, targets);
  prediction = prediction.to(device);
  gt = gt.to(device);

  auto target_classes = torch::full({logits.size(0) * queries}, classes, torch::dtype(torch::kLong).device(device));
  target_classes.index_put_({prediction}, targets.classes.to(device).index_select(0, gt));
  auto empty_weight = torch::ones({classes + 1}, logits.options());
  empty_weight[classes] = options.eos_coef();
  namespace F = torch::nn::functional;
  const auto ce = F::cross_entropy(logits.flatten(0, 1), target_classes, F::CrossEntropyFuncOptions().weight(empty_weight));

  const auto matched = boxes.flatten(0, 1).index_select(0, prediction);
  const auto target_boxes = targets.boxes.to(device, matched.scalar_type()).index_select(0, gt);
  const auto l1 = (matched - target_boxes).abs().sum() / num_boxes;
  const auto giou = ops::generalized_box_iou(ops::box_cxcywh_to_xyxy(matched), ops::box_cxcywh_to_xyxy(target_boxes),
                                             "SetCriterion");
  const auto giou_loss = (1 - giou.diagonal()).sum() / num_boxes;

  losses.emplace_back("loss_ce" + suffix, options.ce_loss_coef() * ce);
  losses.emplace_back("loss_bbox" + suffix, options.bbox_loss_coef() * l1);
  losses.emplace_back("loss_giou" + suffix, options.giou_loss_coef() * giou_loss);
}

NamedLosses SetCriterion::operator()(const at::Tensor& logits, const at::Tensor& boxes, const at::Tensor& aux_logits,
                                     const at::Tensor& aux_boxes, const MatchTargets& targets) const {
  const int64_t total = std::accumulate(targets.sizes.begin(), targets.sizes.end(), int64_t{0});
  const double num_boxes = static_cast<double>(std::max<int64_t>(total, 1));
  NamedLosses losses;
  add_losses(losses, logits, boxes, targets, num_boxes, "");
  if (options.aux_loss() && aux_logits.defined()) {
    for (int64_t i = 0; i < aux_logits.size(0); ++i) {
      add_losses(losses, aux_logits[i], aux_boxes[i], targets, num_boxes, "_" + std::to_string(i));
    }
  }
  return losses;
}

}  // namespace lowbit::detection
