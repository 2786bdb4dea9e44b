#include <lowbit/modules/detection/rpn_head.h>

#include <lowbit/csrc/ops/boxes.h>
#include <lowbit/csrc/util/dtypes.h>

#include <torch/nn/init.h>
#include <torch/torch.h>

namespace lowbit::detection {
namespace {

// [B, C k, H, W] -> image b's [H W A, k] (mmdet's permute(1, 2, 0).reshape(-1, k)).
torch::Tensor per_anchor(const torch::Tensor& map, int64_t image, int64_t k) {
  return map[image].permute({1, 2, 0}).reshape({-1, k});
}

}  // namespace

RPNHeadImpl::RPNHeadImpl(RPNHeadOptions options_) : options(std::move(options_)) { reset(); }

void RPNHeadImpl::reset() {
  const auto& o = options;
  TORCH_CHECK_VALUE(o.in_channels() > 0 && o.feat_channels() > 0, "RPNHead: channels must be positive");
  anchor_generator = AnchorGenerator(o.anchors());
  const int64_t a = anchor_generator.anchors_per_location();
  conv = register_module("conv", layers::QConv2d(layers::QConv2dOptions(o.in_channels(), o.feat_channels(), 3)
                                                     .padding(1)
                                                     .weight_quantizer(o.weight_quantizer())
                                                     .input_quantizer(o.input_quantizer())));
  activation = layers::make_activation(o.activation(), o.feat_channels());
  if (!activation.is_empty()) register_module("activation", activation.ptr());
  cls = register_module("cls", layers::QConv2d(layers::QConv2dOptions(o.feat_channels(), a, 1)));
  reg = register_module("reg", layers::QConv2d(layers::QConv2dOptions(o.feat_channels(), 4 * a, 1)));
  const torch::NoGradGuard no_grad;
  for (auto* p : {&conv->weight, &cls->weight, &reg->weight}) torch::nn::init::normal_(*p, 0, 0.01);
  for (auto* p : {&conv->bias, &cls->bias, &reg->bias}) torch::nn::init::zeros_(*p);
}

RPNOutputs RPNHeadImpl::forward(const std::vector<torch::Tensor>& features) {
  TORCH_CHECK(static_cast<int64_t>(features.size()) == anchor_generator.levels(), "RPNHead: expected ",
              anchor_generator.levels(), " feature maps (one per anchor stride), got ", features.size());
  RPNOutputs out;
  for (const auto& f : features) {
    TORCH_CHECK(f.dim() == 4 && f.size(1) == options.in_channels(), "RPNHead: expected features [B, ",
                options.in_channels(), ", H, W], got shape ", f.sizes());
    auto h = conv(f);
    if (!activation.is_empty()) h = activation.forward(h);
    out.objectness.push_back(cls(h));
    out.deltas.push_back(reg(h));
  }
  return out;
}

std::pair<torch::Tensor, std::vector<int64_t>> RPNHeadImpl::all_anchors(const RPNOutputs& outputs) const {
  std::vector<torch::Tensor> levels;
  std::vector<int64_t> counts;
  for (int64_t l = 0; l < anchor_generator.levels(); ++l) {
    const auto& o = outputs.objectness[l];
    // In float at least: under autocast o is float16, whose anchors (and their IoU with the ground
    // truth: areas past 65504) would be wrong.
    const auto options = o.options().dtype(util::at_least_float(o.scalar_type()));
    levels.push_back(anchor_generator.grid_anchors(l, {o.size(2), o.size(3)}, options));
    counts.push_back(levels.back().size(0));
  }
  return {torch::cat(levels), counts};
}

std::pair<torch::Tensor, torch::Tensor> RPNHeadImpl::loss(const RPNOutputs& outputs,
                                                          const std::vector<ImageSize>& valid_sizes,
                                                          const std::vector<torch::Tensor>& gt_boxes,
                                                          std::optional<at::Generator> generator) const {
  const int64_t batch = outputs.objectness.front().size(0);
  TORCH_CHECK(static_cast<int64_t>(valid_sizes.size()) == batch && static_cast<int64_t>(gt_boxes.size()) == batch,
              "RPNHead::loss: ", batch, " images but ", valid_sizes.size(), " sizes and ", gt_boxes.size(),
              " ground-truth sets");
  const DeltaBoxCoder coder;
  const auto [anchors, counts] = all_anchors(outputs);
  auto loss_cls = torch::zeros({}, anchors.options()), loss_box = torch::zeros({}, anchors.options());
  double samples = 0;
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<torch::Tensor> logits, deltas, flags;
    for (size_t l = 0; l < counts.size(); ++l) {
      const auto& o = outputs.objectness[l];
      logits.push_back(per_anchor(o, b, 1).view(-1));
      deltas.push_back(per_anchor(outputs.deltas[l], b, 4));
      flags.push_back(anchor_generator.valid_flags(static_cast<int64_t>(l), {o.size(2), o.size(3)}, valid_sizes[b],
                                                   o.device()));
    }
    const auto valid = torch::nonzero(torch::cat(flags)).view(-1);
    const auto gt = gt_boxes[b].to(anchors.options());
    const auto candidates = anchors.index_select(0, valid);
    const auto assigned = assign_max_iou(candidates, gt, torch::zeros({gt.size(0)}, valid.options()), options.assigner());
    const auto s = sample_randomly(assigned, options.sampler(), generator);
    samples += static_cast<double>(std::max<int64_t>(s.positives.numel(), 1) + std::max<int64_t>(s.negatives.numel(), 1));
    const auto image_logits = torch::cat(logits).index_select(0, valid);
    const auto sampled = torch::cat({s.positives, s.negatives});
    const auto targets = torch::cat({torch::ones({s.positives.numel()}, image_logits.options()),
                                     torch::zeros({s.negatives.numel()}, image_logits.options())});
    loss_cls = loss_cls + torch::binary_cross_entropy_with_logits(image_logits.index_select(0, sampled), targets, {},
                                                                  {}, at::Reduction::Sum);
    if (s.positives.numel() > 0) {
      const auto matched = gt.index_select(0, assigned.gt_index.index_select(0, s.positives) - 1);
      const auto encoded = coder.encode(candidates.index_select(0, s.positives), matched);
      const auto predicted = torch::cat(deltas).index_select(0, valid).index_select(0, s.positives);
      loss_box = loss_box + (predicted - encoded).abs().sum();
    }
  }
  return {loss_cls * (options.loss_weight() / samples), loss_box * (options.loss_weight() / samples)};
}

std::vector<torch::Tensor> RPNHeadImpl::proposals(const RPNOutputs& outputs,
                                                  const std::vector<ImageSize>& image_sizes) const {
  const torch::NoGradGuard no_grad;
  const auto& cfg = is_training() ? options.train_proposals() : options.test_proposals();
  const int64_t batch = outputs.objectness.front().size(0);
  TORCH_CHECK(static_cast<int64_t>(image_sizes.size()) == batch, "RPNHead::proposals: ", batch, " images but ",
              image_sizes.size(), " sizes");
  const DeltaBoxCoder coder;
  const auto [anchors, counts] = all_anchors(outputs);
  const auto level_anchors = anchors.split_with_sizes(counts);
  std::vector<torch::Tensor> result;
  for (int64_t b = 0; b < batch; ++b) {
    const auto [height, width] = image_sizes[b];
    std::vector<torch::Tensor> levels;
    for (size_t l = 0; l < counts.size(); ++l) {
      auto scores = per_anchor(outputs.objectness[l].detach(), b, 1).view(-1).sigmoid();
      auto deltas = per_anchor(outputs.deltas[l].detach(), b, 4);
      auto level = level_anchors[l];
      if (cfg.nms_pre() > 0 && scores.size(0) > cfg.nms_pre()) {
        const auto top = std::get<1>(scores.topk(cfg.nms_pre()));
        scores = scores.index_select(0, top), deltas = deltas.index_select(0, top), level = level.index_select(0, top);
      }
      const auto boxes = coder.decode(level, deltas, std::make_pair(double(height), double(width)));
      const auto kept = ops::nms(boxes, scores, cfg.nms_iou()).slice(0, 0, cfg.nms_post());
      levels.push_back(torch::cat({boxes.index_select(0, kept), scores.index_select(0, kept).unsqueeze(1)}, 1));
    }
    auto all = torch::cat(levels);
    const auto top = std::get<1>(all.select(1, 4).topk(std::min<int64_t>(cfg.max_num(), all.size(0))));
    result.push_back(all.index_select(0, top));
  }
  return result;
}

}  // namespace lowbit::detection
