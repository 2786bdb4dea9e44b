#include <lowbit/modules/detection/roi_head.h>

#include <lowbit/csrc/ops/boxes.h>
#include <lowbit/csrc/ops/roi_align.h>

#include <torch/nn/init.h>
#include <torch/torch.h>

#include <cmath>

namespace lowbit::detection {
namespace {

DeltaBoxCoder box_head_coder() { return DeltaBoxCoder(DeltaBoxCoderOptions().stds({0.1, 0.1, 0.2, 0.2})); }

}  // namespace

torch::Tensor rois_of(const std::vector<torch::Tensor>& boxes) {
  std::vector<torch::Tensor> parts;
  for (size_t i = 0; i < boxes.size(); ++i) {
    const auto b = boxes[i].slice(1, 0, 4);
    parts.push_back(torch::cat({torch::full({b.size(0), 1}, static_cast<double>(i), b.options()), b}, 1));
  }
  return torch::cat(parts);
}

RoIHeadImpl::RoIHeadImpl(RoIHeadOptions options_) : options(std::move(options_)) { reset(); }

void RoIHeadImpl::reset() {
  const auto& o = options;
  TORCH_CHECK_VALUE(o.classes() > 0 && o.in_channels() > 0 && o.roi_size() > 0 && o.fc_channels() > 0,
                    "RoIHead: classes, channels and the RoI size must be positive");
  TORCH_CHECK_VALUE(!o.strides().empty(), "RoIHead: at least one feature stride");
  fc1 = register_module("fc1", layers::QLinear(layers::QLinearOptions(o.in_channels() * o.roi_size() * o.roi_size(), o.fc_channels())));
  fc2 = register_module("fc2", layers::QLinear(layers::QLinearOptions(o.fc_channels(), o.fc_channels())));
  cls = register_module("cls", layers::QLinear(layers::QLinearOptions(o.fc_channels(), o.classes() + 1)));
  reg = register_module("reg", layers::QLinear(layers::QLinearOptions(o.fc_channels(), 4 * o.classes())));
  const torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(fc1->weight);
  torch::nn::init::xavier_uniform_(fc2->weight);
  torch::nn::init::normal_(cls->weight, 0, 0.01);
  torch::nn::init::normal_(reg->weight, 0, 0.001);
  for (auto* b : {&fc1->bias, &fc2->bias, &cls->bias, &reg->bias}) torch::nn::init::zeros_(*b);
}

torch::Tensor RoIHeadImpl::pool(const std::vector<torch::Tensor>& features, const torch::Tensor& rois) const {
  const auto& strides = options.strides();
  const int64_t levels = static_cast<int64_t>(strides.size());
  TORCH_CHECK(static_cast<int64_t>(features.size()) >= levels, "RoIHead: expected at least ", levels,
              " feature maps, got ", features.size());
  TORCH_CHECK(rois.dim() == 2 && rois.size(1) == 5, "RoIHead: expected RoIs [K, 5], got shape ", rois.sizes());
  const int64_t s = options.roi_size();
  auto pooled = torch::zeros({rois.size(0), options.in_channels(), s, s}, features[0].options());
  if (rois.size(0) == 0) return pooled;
  const auto scale = torch::sqrt((rois.select(1, 3) - rois.select(1, 1)) * (rois.select(1, 4) - rois.select(1, 2)));
  const auto level = torch::floor(torch::log2(scale / options.finest_scale() + 1e-6)).clamp(0, levels - 1).to(torch::kLong);
  for (int64_t l = 0; l < levels; ++l) {
    const auto index = torch::nonzero(level.eq(l)).view(-1);
    if (index.numel() == 0) continue;
    pooled = pooled.index_copy(0, index,
                               ops::roi_align(features[l], rois.index_select(0, index),
                                              ops::RoIAlignOptions(s, s).spatial_scale(1.0 / strides[l])));
  }
  return pooled;
}

std::pair<torch::Tensor, torch::Tensor> RoIHeadImpl::forward(const torch::Tensor& pooled) {
  const auto h = torch::relu(fc2(torch::relu(fc1(pooled.flatten(1)))));
  return {cls(h), reg(h)};
}

std::pair<torch::Tensor, torch::Tensor> RoIHeadImpl::loss(const std::vector<torch::Tensor>& features,
                                                          const std::vector<torch::Tensor>& proposals,
                                                          const std::vector<torch::Tensor>& gt_boxes,
                                                          const std::vector<torch::Tensor>& gt_labels,
                                                          std::optional<at::Generator> generator) {
  TORCH_CHECK(proposals.size() == gt_boxes.size() && gt_boxes.size() == gt_labels.size(), "RoIHead::loss: ",
              proposals.size(), " proposal sets, ", gt_boxes.size(), " box sets and ", gt_labels.size(), " label sets");
  const int64_t classes = options.classes();
  std::vector<torch::Tensor> sampled_boxes, labels, matched;
  std::vector<int64_t> positive_counts;
  for (size_t i = 0; i < proposals.size(); ++i) {
    const auto gt = gt_boxes[i].to(proposals[i].options());
    const auto boxes = proposals[i].slice(1, 0, 4).detach();
    const auto candidates = torch::cat({gt, boxes});
    const auto assigned =
        assign_max_iou(boxes, gt, gt_labels[i], options.assigner()).with_ground_truth_first(gt_labels[i]);
    const auto s = sample_randomly(assigned, options.sampler(), generator);
    const auto order = torch::cat({s.positives, s.negatives});  // positives first, as mmdet's targets
    sampled_boxes.push_back(candidates.index_select(0, order));
    labels.push_back(torch::cat({assigned.labels.index_select(0, s.positives),
                                 torch::full({s.negatives.numel()}, classes, s.negatives.options())}));
    matched.push_back(gt.index_select(0, assigned.gt_index.index_select(0, s.positives) - 1));
    positive_counts.push_back(s.positives.numel());
  }
  const auto [logits, deltas] = forward(pool(features, rois_of(sampled_boxes)));
  const auto all_labels = torch::cat(labels).to(logits.device());
  const double count = static_cast<double>(std::max<int64_t>(all_labels.size(0), 1));
  const auto loss_cls = torch::cross_entropy_loss(logits, all_labels, {}, at::Reduction::Sum) / count;
  // The positives' rows: the first positive_counts[i] of each image's block.
  std::vector<torch::Tensor> positive_rows, proposals_of_positives;
  int64_t offset = 0;
  for (size_t i = 0; i < sampled_boxes.size(); ++i) {
    const int64_t pos = positive_counts[i];
    positive_rows.push_back(torch::arange(offset, offset + pos, all_labels.options()));
    proposals_of_positives.push_back(sampled_boxes[i].slice(0, 0, pos));
    offset += sampled_boxes[i].size(0);
  }
  const auto rows = torch::cat(positive_rows);
  auto loss_box = deltas.sum() * 0;  // keeps the graph when no RoI is positive
  if (rows.numel() > 0) {
    const auto targets = box_head_coder().encode(torch::cat(proposals_of_positives), torch::cat(matched));
    const auto per_class = deltas.view({deltas.size(0), classes, 4}).index_select(0, rows);
    const auto predicted = per_class.gather(1, all_labels.index_select(0, rows).view({-1, 1, 1}).expand({-1, 1, 4})).squeeze(1);
    loss_box = (predicted - targets).abs().sum() / count;
  }
  return {loss_cls * options.loss_weight(), loss_box * options.loss_weight()};
}

std::vector<Detections> RoIHeadImpl::detect(const std::vector<torch::Tensor>& features,
                                            const std::vector<torch::Tensor>& proposals,
                                            const std::vector<ImageSize>& image_sizes) {
  TORCH_CHECK(proposals.size() == image_sizes.size(), "RoIHead::detect: ", proposals.size(), " proposal sets and ",
              image_sizes.size(), " image sizes");
  const torch::NoGradGuard no_grad;
  const int64_t classes = options.classes();
  const auto [logits, deltas] = forward(pool(features, rois_of(proposals)));
  const auto scores = torch::softmax(logits, 1);
  const auto coder = box_head_coder();
  std::vector<Detections> result;
  int64_t offset = 0;
  for (size_t i = 0; i < proposals.size(); ++i) {
    const int64_t k = proposals[i].size(0);
    const auto [height, width] = image_sizes[i];
    const auto boxes = coder.decode(proposals[i].slice(1, 0, 4), deltas.slice(0, offset, offset + k),
                                    std::make_pair(double(height), double(width)))
                           .view({k, classes, 4});
    const auto s = scores.slice(0, offset, offset + k).slice(1, 0, classes);  // background dropped
    offset += k;
    const auto keep = torch::nonzero(s.gt(options.score_thr()));              // [D, 2]: (RoI, class)
    const auto roi = keep.select(1, 0), label = keep.select(1, 1);
    const auto candidate_boxes = boxes.index({roi, label}), candidate_scores = s.index({roi, label});
    // Per-class NMS as one NMS: each class's boxes moved apart (mmdet's batched_nms).
    auto kept = torch::zeros({0}, label.options());
    if (candidate_boxes.size(0) > 0) {
      const auto shift = label.to(candidate_boxes.scalar_type()) * (candidate_boxes.max().item<double>() + 1);
      kept = ops::nms(candidate_boxes + shift.unsqueeze(1), candidate_scores, options.nms_iou())
                 .slice(0, 0, options.max_per_image())
                 .to(candidate_boxes.device());
    }
    result.push_back({candidate_boxes.index_select(0, kept), candidate_scores.index_select(0, kept),
                      label.index_select(0, kept)});
  }
  return result;
}

}  // namespace lowbit::detection
