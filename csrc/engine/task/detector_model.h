#pragma once
// A detector (modules/detection) as an engine Model. The batch is the detection batch of
// datasets/batch.h: padded images, meta "mask" (true on padding) and per-image targets.
//   forward  the detector's named outputs of (images, mask) ("pred_logits", "pred_boxes", aux),
//            after handing it the batch's meta "category_ids" (label <-> category id);
//            a "pred_boxes" output (DETR's) is also published as the tap "pred_boxes", which
//            Q-DETR's DRD term reads
//   loss     the detector's weighted losses against targets[i] {"boxes", "labels"}
//   predict  the post-processed detections {"boxes" (x1, y1, x2, y2) in original image pixels,
//            "scores", "labels"}, scaled by targets[i]["orig_size"] (else meta "image_sizes")
// As a Classifier does, the model adopts the detector's children under their own names, so state
// dicts and tap names are the detector's ("transformer.decoder.layers.0...", as the official code).

#include <lowbit/csrc/engine/task/model.h>
#include <lowbit/modules/detection/detector.h>

#include <memory>

namespace lowbit::engine {

class DetectorModel : public Model {
 public:
  explicit DetectorModel(std::shared_ptr<detection::Detector> detector);

  Outputs forward(const Batch& batch) override;
  LossDict loss(const Batch& batch, const Outputs& outputs) override;
  Outputs predict(const Batch& batch) override;
  void train(bool on = true) override;

  detection::Detector& detector() { return *detector_; }

 private:
  std::shared_ptr<detection::Detector> detector_;
};

}  // namespace lowbit::engine
