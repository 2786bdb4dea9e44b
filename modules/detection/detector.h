#pragma once
// The interface of a detector, as the engine's DetectionTask wraps it (an engine::Model): one
// forward for training and evaluation, the detector's own weighted losses, and the
// post-processing that turns outputs into boxes in original image pixels.
//
// Shapes (the conventions of /tmp/det/DESIGN-detection.md, "Detector outputs"), for DETR:
//   forward      images float [B, 3, H, W] (normalised, zero-padded), mask bool [B, H, W] (true on
//                padding) -> "pred_logits" [B, Q, K+1] (last = no-object), "pred_boxes" [B, Q, 4]
//                (cx, cy, w, h) normalised by the image's own size, "aux_logits" [L-1, B, Q, K+1],
//                "aux_boxes" [L-1, B, Q, 4] (the first L-1 decoder layers)
//   loss         targets[i]: "boxes" float [G, 4] (cx, cy, w, h) normalised, "labels" int64 [G]
//                contiguous labels -> named losses, already weighted; the engine sums them
//   postprocess  orig_sizes int64 [B, 2] (height, width) -> "boxes" [B, Q, 4] (x1, y1, x2, y2) in
//                original pixels, "scores" float [B, Q], "labels" int64 [B, Q] contiguous; a
//                detector with fewer detections for an image marks the unused rows label -1
// Faster R-CNN's outputs: faster_rcnn.h.

#include <torch/nn/module.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace lowbit::detection {

using NamedTensors = std::map<std::string, torch::Tensor>;
using NamedLosses = std::vector<std::pair<std::string, torch::Tensor>>;

// Checks a detector's input: images [B, 3, H, W] and a bool mask [B, H, W]; errors start with `who`.
void check_images_and_mask(const torch::Tensor& images, const torch::Tensor& mask, const std::string& who);

class Detector : public torch::nn::Module {
 public:
  using torch::nn::Module::Module;

  virtual NamedTensors forward(const torch::Tensor& images, const torch::Tensor& mask) = 0;
  virtual NamedLosses loss(const NamedTensors& outputs, const std::vector<NamedTensors>& targets) = 0;
  virtual NamedTensors postprocess(const NamedTensors& outputs, const torch::Tensor& orig_sizes) = 0;

  // The data set's category id of every contiguous label (int64 [K], the batch's
  // meta["category_ids"]). A detector whose classes are category ids (DETR with label_space
  // category_id, as the official COCO model) needs it before loss() and postprocess(); the
  // engine passes it with every batch.
  virtual void set_category_ids(const torch::Tensor& category_ids) { (void)category_ids; }
};

}  // namespace lowbit::detection
