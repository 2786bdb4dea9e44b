#pragma once
// DETR's HungarianMatcher (facebookresearch/detr models/matcher.py): a one-to-one assignment of
// predictions to ground-truth boxes per image, minimising
//   C[q, g] = cost_bbox |b_q - b_g|_1 - cost_class p_q(c_g) - cost_giou GIoU(b_q, b_g)
// with p_q = softmax(logits_q) (the class cost approximates the NLL by -p, its constant dropped)
// and boxes (cx, cy, w, h); GIoU on their (x1, y1, x2, y2) forms. Solved per image by
// util::linear_sum_assignment (scipy's linear_sum_assignment in the official code); every image
// gets min(Q, G) pairs. No gradient. The costs are computed for the whole batch at once and copied
// to the CPU in one transfer, as the official code.

#include <ATen/core/Tensor.h>

#include <utility>
#include <vector>

namespace lowbit::detection {

// The ground truth of a batch, concatenated over its images.
struct MatchTargets {
  at::Tensor classes;          // int64 [N], class indices (no-object excluded)
  at::Tensor boxes;            // float [N, 4] (cx, cy, w, h), normalised
  std::vector<int64_t> sizes;  // boxes per image, sum = N
};

// Matched (prediction index, target index within its image) per image, int64 on the CPU, sorted
// by prediction index.
using Matches = std::vector<std::pair<at::Tensor, at::Tensor>>;

struct MatcherCosts {
  double cost_class = 1, cost_bbox = 5, cost_giou = 2;  // DETR's set_cost_* defaults
};

// logits [B, Q, K+1], boxes [B, Q, 4]; targets.sizes has B entries.
Matches hungarian_match(const at::Tensor& logits, const at::Tensor& boxes, const MatchTargets& targets,
                        const MatcherCosts& costs);

}  // namespace lowbit::detection
