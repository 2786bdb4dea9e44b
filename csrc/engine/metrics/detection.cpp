// The detection metrics coco_bbox and voc_ap (detection.h): each batch's ground truth and
// predictions are copied to the host and kept as the evaluators' records; compute() evaluates.
#include <lowbit/csrc/engine/metrics/detection.h>

#include <lowbit/csrc/eval/coco_eval.h>
#include <lowbit/csrc/eval/voc_eval.h>

#include <torch/types.h>

#include <algorithm>
#include <set>

namespace lowbit::engine {
namespace {

// Copies `tensors` to the host with one device-to-host transfer per (device, dtype): flattened and
// concatenated where they are, copied, then cut back into their shapes.
std::vector<torch::Tensor> detection_tensors_on_host(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> host(tensors.size());
  std::vector<bool> taken(tensors.size(), false);
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (taken[i]) continue;
    std::vector<size_t> group;
    std::vector<torch::Tensor> flat;
    for (size_t j = i; j < tensors.size(); ++j) {
      if (taken[j] || tensors[j].scalar_type() != tensors[i].scalar_type() || tensors[j].device() != tensors[i].device()) {
        continue;
      }
      taken[j] = true;
      group.push_back(j);
      flat.push_back(tensors[j].detach().reshape(-1));
    }
    const auto joined = torch::cat(flat).to(torch::kCPU);
    int64_t offset = 0;
    for (size_t g = 0; g < group.size(); ++g) {
      const int64_t n = flat[g].numel();
      host[group[g]] = joined.slice(0, offset, offset + n).view(tensors[group[g]].sizes());
      offset += n;
    }
  }
  return host;
}

// One batch on the host: per image its id and ground truth, and the predictions.
struct DetectionBatchOnHost {
  std::vector<int64_t> image_ids;
  std::vector<torch::Tensor> gt_boxes, gt_labels, gt_area, gt_iscrowd;  // per image; gt_area: COCO only
  torch::Tensor boxes, scores, labels;                                   // [B, Q, 4], [B, Q], [B, Q]
  torch::Tensor category_ids;                                            // [K]
};

const torch::Tensor& detection_target(const Batch& batch, size_t i, const char* key, const char* metric) {
  const auto it = batch.targets[i].find(key);
  TORCH_CHECK(it != batch.targets[i].end() && it->second.defined(), "metric '", metric, "': batch.targets[", i,
              "] has no '", key, "'");
  return it->second;
}

// The tensors update() reads: boxes, scores, labels, category ids, then per image its id, gt_boxes,
// gt_labels, (gt_area,) gt_iscrowd.
std::vector<torch::Tensor> detection_inputs(const Batch& batch, const Outputs& outputs, const char* metric, bool area) {
  const std::string who = std::string("metric '") + metric + "'";
  const auto ids = batch.meta.find("category_ids");
  TORCH_CHECK(ids != batch.meta.end(), who, ": the batch has no meta[\"category_ids\"]");
  std::vector<torch::Tensor> inputs{output(outputs, "boxes", who), output(outputs, "scores", who),
                                    output(outputs, "labels", who), ids->second};
  const int64_t images = inputs[0].dim() == 3 ? inputs[0].size(0) : -1;
  TORCH_CHECK(images == static_cast<int64_t>(batch.targets.size()) && inputs[0].size(2) == 4 &&
                  inputs[1].sizes() == inputs[0].sizes().slice(0, 2) && inputs[2].sizes() == inputs[1].sizes(),
              who, ": expected boxes [B, Q, 4], scores [B, Q] and labels [B, Q] for the batch's ",
              batch.targets.size(), " images, got ", inputs[0].sizes(), ", ", inputs[1].sizes(), ", ", inputs[2].sizes());
  std::vector<const char*> keys{"image_id", "gt_boxes", "gt_labels"};
  if (area) keys.push_back("gt_area");
  keys.push_back("gt_iscrowd");
  for (size_t i = 0; i < batch.targets.size(); ++i) {
    for (const char* key : keys) inputs.push_back(detection_target(batch, i, key, metric));
  }
  return inputs;
}

DetectionBatchOnHost detection_batch_on_host(const Batch& batch, const Outputs& outputs, const char* metric,
                                             bool area) {
  const auto host = detection_tensors_on_host(detection_inputs(batch, outputs, metric, area));
  DetectionBatchOnHost b{{}, {}, {}, {}, {}, host[0].to(torch::kFloat), host[1].to(torch::kFloat),
                         host[2].to(torch::kLong), host[3].to(torch::kLong)};
  const size_t per_image = area ? 5 : 4;
  for (size_t i = 0; i < batch.targets.size(); ++i) {
    const auto* t = &host[4 + i * per_image];
    b.image_ids.push_back(t[0].item<int64_t>());
    const int64_t count = t[2].numel();
    TORCH_CHECK(t[1].dim() == 2 && t[1].size(0) == count && t[1].size(1) == 4 && t[per_image - 1].numel() == count &&
                    (!area || t[3].numel() == count),
                "metric '", metric, "': batch.targets[", i, "] (image_id ", b.image_ids.back(),
                "): expected gt_boxes [A, 4] and gt_labels, gt_iscrowd", area ? ", gt_area" : "", " [A], got gt_boxes ",
                t[1].sizes(), " and ", count, " labels");
    b.gt_boxes.push_back(t[1].to(torch::kFloat));
    b.gt_labels.push_back(t[2].to(torch::kLong).reshape(-1));
    if (area) b.gt_area.push_back(t[3].to(torch::kDouble).reshape(-1));
    b.gt_iscrowd.push_back(t[per_image - 1].to(torch::kBool).reshape(-1));
  }
  return b;
}

// The images seen since reset(): each once.
void add_detection_image(std::set<int64_t>& seen, int64_t image_id, const char* metric) {
  TORCH_CHECK(seen.insert(image_id).second, "metric '", metric, "': image_id ", image_id,
              " was evaluated twice (the data set lists it twice?)");
}

int64_t detection_category_id(const torch::Tensor& category_ids, int64_t label, const char* metric) {
  TORCH_CHECK(label >= 0 && label < category_ids.size(0), "metric '", metric, "': label ", label, " outside [0, ",
              category_ids.size(0), ") of meta[\"category_ids\"]");
  return category_ids.data_ptr<int64_t>()[label];
}

class CocoBboxMetric : public Metric {
 public:
  void reset() override {
    truth_ = {};
    detections_.clear();
    seen_.clear();
  }
  void update(const Batch& batch, const Outputs& outputs) override {
    const auto b = detection_batch_on_host(batch, outputs, "coco_bbox", true);
    truth_.category_ids.assign(b.category_ids.data_ptr<int64_t>(),
                               b.category_ids.data_ptr<int64_t>() + b.category_ids.numel());
    for (size_t i = 0; i < b.image_ids.size(); ++i) {
      add_detection_image(seen_, b.image_ids[i], "coco_bbox");
      truth_.image_ids.push_back(b.image_ids[i]);
      add_truth(b, i);
      add_detections(b, i);
    }
  }
  MetricValues compute() override {
    const auto stats = eval::evaluate_coco(truth_, detections_).stats;
    MetricValues values;
    for (size_t i = 0; i < eval::kCocoStats; ++i) values.emplace_back(eval::coco_stat_names()[i], stats[i]);
    return values;
  }

 private:
  void add_truth(const DetectionBatchOnHost& b, size_t i) {
    const auto boxes = b.gt_boxes[i].accessor<float, 2>();
    const auto labels = b.gt_labels[i].accessor<int64_t, 1>();
    const auto area = b.gt_area[i].accessor<double, 1>();
    const auto crowd = b.gt_iscrowd[i].accessor<bool, 1>();
    for (int64_t a = 0; a < boxes.size(0); ++a) {
      truth_.annotations.push_back({b.image_ids[i], detection_category_id(b.category_ids, labels[a], "coco_bbox"),
                                    {boxes[a][0], boxes[a][1], boxes[a][2], boxes[a][3]}, area[a], crowd[a]});
    }
  }
  // (x1, y1, x2, y2) -> (x, y, w, h) in float, as DETR's convert_to_xywh before .tolist().
  void add_detections(const DetectionBatchOnHost& b, size_t i) {
    const auto boxes = b.boxes.accessor<float, 3>()[i];
    const auto scores = b.scores.accessor<float, 2>()[i];
    const auto labels = b.labels.accessor<int64_t, 2>()[i];
    for (int64_t q = 0; q < boxes.size(0); ++q) {
      const float w = boxes[q][2] - boxes[q][0], h = boxes[q][3] - boxes[q][1];
      detections_.push_back({b.image_ids[i], detection_category_id(b.category_ids, labels[q], "coco_bbox"),
                             {boxes[q][0], boxes[q][1], w, h}, scores[q]});
    }
  }

  eval::CocoGroundTruth truth_;
  std::vector<eval::CocoDetection> detections_;
  std::set<int64_t> seen_;
};

class VocApMetric : public Metric {
 public:
  explicit VocApMetric(eval::VocApForm form) : form_(form) {}
  void reset() override {
    truth_.clear();
    detections_.clear();
    seen_.clear();
  }
  void update(const Batch& batch, const Outputs& outputs) override {
    const auto b = detection_batch_on_host(batch, outputs, "voc_ap", false);
    classes_ = b.category_ids.numel();
    for (size_t i = 0; i < b.image_ids.size(); ++i) {
      add_detection_image(seen_, b.image_ids[i], "voc_ap");
      add_truth(b, i);
      add_detections(b, i);
    }
  }
  MetricValues compute() override { return {{"AP50", eval::evaluate_voc(truth_, detections_, classes_, form_).map}}; }

 private:
  void add_truth(const DetectionBatchOnHost& b, size_t i) {
    const auto boxes = b.gt_boxes[i].accessor<float, 2>();
    const auto labels = b.gt_labels[i].accessor<int64_t, 1>();
    const auto difficult = b.gt_iscrowd[i].accessor<bool, 1>();
    for (int64_t a = 0; a < boxes.size(0); ++a) {
      const double x = boxes[a][0], y = boxes[a][1], w = boxes[a][2], h = boxes[a][3];
      truth_.push_back({b.image_ids[i], labels[a], {x + 1, y + 1, x + w, y + h}, difficult[a]});
    }
  }
  void add_detections(const DetectionBatchOnHost& b, size_t i) {
    const auto boxes = b.boxes.accessor<float, 3>()[i];
    const auto scores = b.scores.accessor<float, 2>()[i];
    const auto labels = b.labels.accessor<int64_t, 2>()[i];
    for (int64_t q = 0; q < boxes.size(0); ++q) {
      const double x1 = boxes[q][0], y1 = boxes[q][1], x2 = boxes[q][2], y2 = boxes[q][3];
      detections_.push_back({b.image_ids[i], labels[q], {x1 + 1, y1 + 1, x2, y2}, scores[q]});
    }
  }

  eval::VocApForm form_;
  int64_t classes_ = 0;
  std::vector<eval::VocObject> truth_;
  std::vector<eval::VocDetection> detections_;
  std::set<int64_t> seen_;
};

std::unique_ptr<Metric> make_voc_ap_metric(ParamReader& p) {
  const auto form = p.choice("form", "11point", {"11point", "area"});
  return std::make_unique<VocApMetric>(form == 0 ? eval::VocApForm::ElevenPoint : eval::VocApForm::Area);
}

}  // namespace

std::optional<std::string> coco_summary(const MetricValues& values) {
  eval::CocoStats stats{};
  for (size_t i = 0; i < eval::kCocoStats; ++i) {
    const auto it = std::find_if(values.begin(), values.end(),
                                 [&](const auto& v) { return v.first == eval::coco_stat_names()[i]; });
    if (it == values.end()) return std::nullopt;
    stats[i] = it->second;
  }
  return eval::format_coco_summary(stats);
}

LOWBIT_REGISTER_METRIC(coco_bbox, [](ParamReader&) -> std::unique_ptr<Metric> {
  return std::make_unique<CocoBboxMetric>();
});
LOWBIT_REGISTER_METRIC(voc_ap, make_voc_ap_metric);

}  // namespace lowbit::engine
