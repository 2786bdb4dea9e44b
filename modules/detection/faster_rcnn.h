#pragma once
// Faster R-CNN with FPN (Ren et al., NeurIPS 2015; Lin et al., CVPR 2017) as mmdetection v2.0's
// TwoStageDetector (mmdet/models/detectors/two_stage.py) and IDa-Det's 1-bit student
// (SteveTsui/IDa-Det configs/voc_faster_rcnn_bir18.py; spec ../shared/methods/idadet.md §1-2):
//   backbone  a ResNet's stages C2 .. C5 (resnet_features.h)
//   neck      FPN -> P2 .. P6 (fpn.h)
//   rpn_head  objectness and deltas per level, then proposals per image (rpn_head.h)
//   roi_head  RoIAlign of the proposals, the 2-fc box head, losses and detections (roi_head.h)
// Taps (IDa-Det's entropy distillation reads them, losses/entropy.h): "neck.p2" .. "neck.p6", the
// FPN levels, and "rpn_head.proposals", the forward's "proposals".
// The module names are mmdet's (backbone, neck, rpn_head, roi_head) down to the parts; an
// mmdet checkpoint's deeper names (lateral_convs.0.conv, bbox_head.shared_fcs.0, ...) go through
// the loader's name map (recipes/idadet/ has it for the teachers).
//
// Detector interface (detector.h), with B images padded to [H, W]:
//   forward      -> "features.<l>" the FPN levels [B, C, H_l, W_l]; "rpn_objectness.<l>"
//                   [B, A, H_l, W_l] and "rpn_deltas.<l>" [B, 4 A, H_l, W_l]; "proposals" [K, 6]
//                   (image index, x1, y1, x2, y2, objectness), detached, each image's by descending
//                   objectness, training or testing settings by the module's mode;
//                   "image_sizes" int64 [B, 2] (height, width) before padding, from the mask
//   loss         targets[i] "boxes" (cx, cy, w, h) / (w, h) of the image before padding, "labels"
//                -> rpn_cls, rpn_bbox, cls, bbox, weighted (logged as loss_rpn_cls, ..., mmdet's names).
//                RPN anchors count as inside an image up to its size rounded up to size_divisor
//                (mmdet's pad_shape: the data pipeline pads each image to a multiple of 32)
//   postprocess  the RoI head's detections scaled from the resized image to orig_sizes: "boxes"
//                [B, D, 4] (x1, y1, x2, y2), "scores" [B, D], "labels" [B, D], D = the most of any
//                image; an image's unused rows have label -1 (and score 0)

#include <lowbit/modules/detection/detector.h>
#include <lowbit/modules/detection/fpn.h>
#include <lowbit/modules/detection/resnet_features.h>
#include <lowbit/modules/detection/roi_head.h>
#include <lowbit/modules/detection/rpn_head.h>

namespace lowbit::detection {

struct FasterRCNNOptions {
  FasterRCNNOptions(FPNOptions neck, RPNHeadOptions rpn_head, RoIHeadOptions roi_head)
      : neck_(std::move(neck)), rpn_head_(std::move(rpn_head)), roi_head_(std::move(roi_head)) {}
  TORCH_ARG(FPNOptions, neck);
  TORCH_ARG(RPNHeadOptions, rpn_head);
  TORCH_ARG(RoIHeadOptions, roi_head);
  TORCH_ARG(int64_t, size_divisor) = 32;
};

class FasterRCNNImpl : public Detector {
 public:
  FasterRCNNImpl(ResNetFeatures backbone, FasterRCNNOptions options);

  NamedTensors forward(const torch::Tensor& images, const torch::Tensor& mask) override;
  NamedLosses loss(const NamedTensors& outputs, const std::vector<NamedTensors>& targets) override;
  NamedTensors postprocess(const NamedTensors& outputs, const torch::Tensor& orig_sizes) override;

  const FasterRCNNOptions options;
  ResNetFeatures backbone;
  FPN neck{nullptr};
  RPNHead rpn_head{nullptr};
  RoIHead roi_head{nullptr};
};
TORCH_MODULE(FasterRCNN);

}  // namespace lowbit::detection
