#include <lowbit/modules/detection/max_iou_assigner.h>

#include <lowbit/csrc/ops/boxes.h>

#include <ATen/ATen.h>

namespace lowbit::detection {

AssignResult AssignResult::with_ground_truth_first(const at::Tensor& gt_labels) const {
  const int64_t g = gt_labels.size(0);
  const auto own = at::arange(1, g + 1, gt_index.options());
  return {at::cat({own, gt_index}), at::cat({at::ones({g}, max_overlaps.options()), max_overlaps}),
          at::cat({gt_labels.to(labels.options()), labels})};
}

AssignResult assign_max_iou(const at::Tensor& boxes, const at::Tensor& gt_boxes, const at::Tensor& gt_labels,
                            const MaxIoUAssignerOptions& o) {
  TORCH_CHECK(gt_labels.dim() == 1 && gt_labels.size(0) == gt_boxes.size(0), "assign_max_iou: ", gt_boxes.size(0),
              " ground-truth boxes but labels of shape ", gt_labels.sizes());
  const at::NoGradGuard no_grad;
  const int64_t m = boxes.size(0), g = gt_boxes.size(0);
  const auto long_options = boxes.options().dtype(at::kLong);
  if (g == 0 || m == 0) {  // no ground truth: every box is background
    return {at::zeros({m}, long_options), at::zeros({m}, boxes.options()), at::full({m}, -1, long_options)};
  }
  const auto overlaps = ops::box_iou(gt_boxes.to(boxes.scalar_type()), boxes, "assign_max_iou", 1e-6);  // [G, M]
  const auto [max_overlaps, argmax] = overlaps.max(0);
  auto gt_index = at::full({m}, -1, long_options);
  gt_index.masked_fill_(max_overlaps.ge(0) & max_overlaps.lt(o.neg_iou_thr()), 0);
  const auto positive = max_overlaps.ge(o.pos_iou_thr());
  gt_index = at::where(positive, argmax + 1, gt_index);
  if (o.match_low_quality()) {
    const auto [gt_max, gt_argmax] = overlaps.max(1);
    const auto eligible = gt_max.ge(o.min_pos_iou());  // [G]
    const auto number = at::arange(1, g + 1, long_options).unsqueeze(1);
    at::Tensor takes;  // [G, M]: ground truth i takes box j
    if (o.gt_max_assign_all()) {
      takes = overlaps.eq(gt_max.unsqueeze(1)) & eligible.unsqueeze(1);
    } else {
      takes = at::zeros_like(overlaps, overlaps.options().dtype(at::kBool));
      takes.scatter_(1, gt_argmax.unsqueeze(1), eligible.unsqueeze(1));
    }
    const auto last = (number * takes).amax(0);  // the last ground truth taking each box (0: none)
    gt_index = at::where(last.gt(0), last, gt_index);
  }
  const auto assigned = gt_index.gt(0);
  const auto labels = at::where(assigned, gt_labels.to(long_options).index_select(0, (gt_index - 1).clamp_min(0)),
                                at::full({m}, -1, long_options));
  return {gt_index, max_overlaps, labels};
}

namespace {

// At most `count` of `indices`, uniformly without replacement, ascending.
at::Tensor choose(const at::Tensor& indices, int64_t count, const std::optional<at::Generator>& generator) {
  if (indices.numel() > count) {
    const auto order = at::randperm(indices.numel(), generator, indices.options().device(at::kCPU));
    return std::get<0>(at::sort(indices.index_select(0, order.slice(0, 0, count).to(indices.device()))));
  }
  return indices;
}

}  // namespace

SampledBoxes sample_randomly(const AssignResult& assigned, const RandomSamplerOptions& options,
                             std::optional<at::Generator> generator) {
  TORCH_CHECK_VALUE(options.num() > 0 && options.pos_fraction() >= 0 && options.pos_fraction() <= 1,
                    "sample_randomly: num must be positive and pos_fraction in [0, 1], got ", options.num(), " and ",
                    options.pos_fraction());
  const auto positives = choose(at::nonzero(assigned.gt_index.gt(0)).view(-1),
                                static_cast<int64_t>(options.num() * options.pos_fraction()), generator);
  const auto negatives =
      choose(at::nonzero(assigned.gt_index.eq(0)).view(-1), options.num() - positives.numel(), generator);
  return {positives, negatives};
}

}  // namespace lowbit::detection
