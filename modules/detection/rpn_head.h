#pragma once
// Faster R-CNN's region proposal network head (Ren et al., NeurIPS 2015) over FPN levels, as
// mmdetection v2.0's RPNHead (mmdet/models/dense_heads/rpn_head.py, anchor_head.py) and IDa-Det's
// RPNHead_React:
//   per level  h = act(conv3x3(P_l)); objectness = conv1x1(h) [B, A, H, W] (logits of a sigmoid);
//              deltas = conv1x1(h) [B, 4 A, H, W]; the three convolutions shared by the levels,
//              initialised N(0, 0.01) with zero biases (mmdet's init_weights). mmdet: a real conv +
//              ReLU; IDa-Det: a BiConv (idadet weights, ApproxSign inputs: the quantizer options) +
//              PReLU. The anchors: modules/detection/anchor_generator.h (A per location).
//   loss       per image, the anchors of every level at locations inside its `valid_size`
//              (mmdet: the image padded to 32) are assigned to the ground truth (MaxIoU 0.7 / 0.3,
//              low-quality matches from 0.3) and sampled (256, half positive); binary
//              cross-entropy on the sampled anchors (target 1 for positives, 0 for negatives) and
//              L1 between the positives' deltas and their encoded ground truth (stds 1), each
//              summed over the batch, divided by sum over images of max(positives, 1) +
//              max(negatives, 1), times loss_weight (IDa-Det's config: 5).
//   proposals  per image and level, the nms_pre anchors of highest objectness, decoded and clamped
//              to the image, NMS at nms_iou, the first nms_post kept; then the max_num best of all
//              levels (mmdet's _get_bboxes_single, nms_across_levels false): [K, 5]
//              (x1, y1, x2, y2, objectness), detached, by descending objectness.
//              Training: 2000 / 1000 / 1000; testing: 1000 / 1000 / 1000; NMS 0.7.

#include <lowbit/modules/detection/anchor_generator.h>
#include <lowbit/modules/detection/box_coder.h>
#include <lowbit/modules/detection/max_iou_assigner.h>
#include <lowbit/modules/layers/activation.h>
#include <lowbit/modules/layers/qconv2d.h>

#include <torch/nn/cloneable.h>

#include <optional>
#include <utility>
#include <vector>

namespace lowbit::detection {

using ImageSize = std::pair<int64_t, int64_t>;  // (height, width) in pixels

struct ProposalOptions {
  TORCH_ARG(int64_t, nms_pre) = 2000;
  TORCH_ARG(int64_t, nms_post) = 1000;
  TORCH_ARG(int64_t, max_num) = 1000;
  TORCH_ARG(double, nms_iou) = 0.7;
};

struct RPNHeadOptions {
  TORCH_ARG(int64_t, in_channels) = 256;
  TORCH_ARG(int64_t, feat_channels) = 256;
  TORCH_ARG(AnchorGeneratorOptions, anchors) = {};
  TORCH_ARG(layers::Activation, activation) = layers::Activation::ReLU;
  // The 3x3 convolution's quantizers (prototypes, copied); full precision unless given.
  TORCH_ARG(quant::Quantizer, weight_quantizer) = nullptr;
  TORCH_ARG(quant::Quantizer, input_quantizer) = nullptr;
  TORCH_ARG(MaxIoUAssignerOptions, assigner) = MaxIoUAssignerOptions().pos_iou_thr(0.7).neg_iou_thr(0.3).min_pos_iou(0.3);
  TORCH_ARG(RandomSamplerOptions, sampler) = RandomSamplerOptions().num(256).pos_fraction(0.5);
  TORCH_ARG(double, loss_weight) = 1.0;
  TORCH_ARG(ProposalOptions, train_proposals) = {};
  TORCH_ARG(ProposalOptions, test_proposals) = ProposalOptions().nms_pre(1000);
};

struct RPNOutputs {
  std::vector<torch::Tensor> objectness, deltas;  // per level [B, A, H, W], [B, 4 A, H, W]
};

class RPNHeadImpl : public torch::nn::Cloneable<RPNHeadImpl> {
 public:
  explicit RPNHeadImpl(RPNHeadOptions options = {});
  void reset() override;
  RPNOutputs forward(const std::vector<torch::Tensor>& features);

  // (classification, box regression), weighted. gt_boxes[i]: [G_i, 4] (x1, y1, x2, y2) pixels.
  std::pair<torch::Tensor, torch::Tensor> loss(const RPNOutputs& outputs, const std::vector<ImageSize>& valid_sizes,
                                               const std::vector<torch::Tensor>& gt_boxes,
                                               std::optional<at::Generator> generator = std::nullopt) const;
  // Per image [K, 5], clamped to image_sizes[i]; train_proposals in training mode, else test_proposals.
  std::vector<torch::Tensor> proposals(const RPNOutputs& outputs, const std::vector<ImageSize>& image_sizes) const;

  RPNHeadOptions options;
  layers::QConv2d conv{nullptr};
  torch::nn::AnyModule activation;
  layers::QConv2d cls{nullptr}, reg{nullptr};  // real (identity quantizers)
  AnchorGenerator anchor_generator;  // of options.anchors(), made by reset()

 private:
  // Every level's anchors for outputs' feature sizes, concatenated [N, 4], and the level sizes.
  std::pair<torch::Tensor, std::vector<int64_t>> all_anchors(const RPNOutputs& outputs) const;
};
TORCH_MODULE(RPNHead);

}  // namespace lowbit::detection
