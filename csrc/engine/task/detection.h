#pragma once
// Detection: batches of padded images with a padding mask and per-image targets (the coco and voc
// data sets, datasets/detection.cpp); a detector built by name (modules/detection: detr) trained
// as a DetectorModel on its own set losses, or against a teacher with the recipe's distill:
// terms (Q-DETR's drd beside the detector's losses: `{name: model}` keeps them); evaluated by the
// COCO bbox metric and printed as pycocotools' summarize() prints its 12 numbers. Recipes say
// `task: detection`.

#include <lowbit/csrc/engine/task/task.h>

namespace lowbit::engine {

class DetectionTask : public Task {
 public:
  std::shared_ptr<Model> make_model(const std::string& name, const Params& params,
                                    const models::QuantPolicy& policy) const override;
  std::vector<MetricSpec> default_metrics() const override;
  std::vector<MetricSpec> train_metrics() const override;
  // The 12 COCO lines when the values are coco_bbox's, else Task's one line.
  std::string describe(const MetricValues& values) const override;
};

}  // namespace lowbit::engine
