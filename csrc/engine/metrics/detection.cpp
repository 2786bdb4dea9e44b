// The detection metrics coco_bbox and voc_ap (detection.h): each batch's ground truth and
// predictions are copied to the host and kept (DetectionRecords); merge() gathers every replica's;
// compute() turns them into the evaluator's records and evaluates.
#include <lowbit/csrc/engine/metrics/detection.h>

#include <lowbit/csrc/eval/coco_eval.h>
#include <lowbit/csrc/eval/voc_eval.h>

#include <torch/types.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
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

// What a detection metric keeps of the batches since reset(), on the host, as the batches give it:
// the images in the order seen (each once), meta["category_ids"], and every ground-truth object and
// prediction with its label (an index into the category ids) and its box, the ground truth's
// (x, y, w, h), a prediction's (x1, y1, x2, y2). The metrics turn them into their evaluator's
// records in compute().
struct DetectionTruth {
  int64_t image_id, label;
  std::array<float, 4> box;
  double area;   // gt_area (0 where the metric does not read it)
  bool iscrowd;  // COCO iscrowd, VOC difficult
};

struct DetectionPrediction {
  int64_t image_id, label;
  std::array<float, 4> box;
  float score;
};

// merge()'s form of DetectionRecords: int64 rows, which all_gather_rows (an integer sum with zeros)
// carries exactly; a float value travels as the bits of its double.
struct DetectionRows {
  torch::Tensor images;       // [rank, image_id]
  torch::Tensor categories;   // [rank, category_id]
  torch::Tensor truth;        // [image_id, label, iscrowd, x, y, w, h, area]
  torch::Tensor predictions;  // [image_id, label, x1, y1, x2, y2, score]
};

class DetectionRecords {
 public:
  // `area`: whether the batches' targets have gt_area.
  DetectionRecords(const char* metric, bool area) : metric_(metric), area_(area) {}
  void clear();
  // Copies a batch to the host; an image seen before, a label outside the category ids, or category
  // ids other than the previous batch's are errors.
  void add(const Batch& batch, const Outputs& outputs);
  // Every replica's records, concatenated in rank order, on every replica (Metric::merge).
  void merge(hooks::Replicas& replicas);

  const std::vector<int64_t>& image_ids() const { return image_ids_; }
  const std::vector<int64_t>& category_ids() const { return category_ids_; }
  const std::vector<DetectionTruth>& truth() const { return truth_; }
  const std::vector<DetectionPrediction>& predictions() const { return predictions_; }

 private:
  void add_image(int64_t image_id);
  // Keeps the category ids of `source`, which must be those kept before (of `before`), if any.
  void set_category_ids(std::vector<int64_t> category_ids, const std::string& source, const std::string& before);
  int64_t checked_label(int64_t label) const;
  DetectionRows to_rows(int64_t rank) const;
  // Adds the records of `rows` (to_rows of the replicas, in rank order): an image of two replicas and
  // replicas' different category ids are errors.
  void add_rows(const DetectionRows& rows);

  const char* metric_;
  bool area_;
  std::vector<int64_t> image_ids_;
  std::set<int64_t> seen_;
  std::vector<int64_t> category_ids_;
  std::vector<DetectionTruth> truth_;
  std::vector<DetectionPrediction> predictions_;
};

void DetectionRecords::clear() { *this = DetectionRecords(metric_, area_); }

void DetectionRecords::add_image(int64_t image_id) {
  TORCH_CHECK(seen_.insert(image_id).second, "metric '", metric_, "': image_id ", image_id,
              " was evaluated twice (the data set lists it twice?)");
  image_ids_.push_back(image_id);
}

void DetectionRecords::set_category_ids(std::vector<int64_t> category_ids, const std::string& source,
                                        const std::string& before) {
  TORCH_CHECK(category_ids_.empty() || category_ids == category_ids_, "metric '", metric_, "': meta[\"category_ids\"] of ",
              source, " (", category_ids.size(), " ids) differ from those of ", before, " (", category_ids_.size(), " ids)");
  category_ids_ = std::move(category_ids);
}

int64_t DetectionRecords::checked_label(int64_t label) const {
  TORCH_CHECK(label >= 0 && label < static_cast<int64_t>(category_ids_.size()), "metric '", metric_, "': label ", label,
              " outside [0, ", category_ids_.size(), ") of meta[\"category_ids\"]");
  return label;
}

void DetectionRecords::add(const Batch& batch, const Outputs& outputs) {
  const auto b = detection_batch_on_host(batch, outputs, metric_, area_);
  const auto* ids = b.category_ids.data_ptr<int64_t>();
  set_category_ids({ids, ids + b.category_ids.numel()}, "the batch", "the batches before");
  for (size_t i = 0; i < b.image_ids.size(); ++i) {
    const int64_t image_id = b.image_ids[i];
    add_image(image_id);
    const auto gt_boxes = b.gt_boxes[i].accessor<float, 2>();
    const auto gt_labels = b.gt_labels[i].accessor<int64_t, 1>();
    const auto gt_iscrowd = b.gt_iscrowd[i].accessor<bool, 1>();
    for (int64_t a = 0; a < gt_boxes.size(0); ++a) {
      truth_.push_back({image_id, checked_label(gt_labels[a]),
                        {gt_boxes[a][0], gt_boxes[a][1], gt_boxes[a][2], gt_boxes[a][3]},
                        area_ ? b.gt_area[i].accessor<double, 1>()[a] : 0.0, gt_iscrowd[a]});
    }
    const auto boxes = b.boxes.accessor<float, 3>()[i];
    const auto scores = b.scores.accessor<float, 2>()[i];
    const auto labels = b.labels.accessor<int64_t, 2>()[i];
    for (int64_t q = 0; q < boxes.size(0); ++q) {
      if (labels[q] < 0) continue;  // a row the detector left unused (detector.h)
      predictions_.push_back(
          {image_id, checked_label(labels[q]), {boxes[q][0], boxes[q][1], boxes[q][2], boxes[q][3]}, scores[q]});
    }
  }
}

int64_t detection_bits(double value) {
  int64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

double detection_value(int64_t bits) {
  double value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

std::array<float, 4> detection_box(const int64_t* bits) {
  return {static_cast<float>(detection_value(bits[0])), static_cast<float>(detection_value(bits[1])),
          static_cast<float>(detection_value(bits[2])), static_cast<float>(detection_value(bits[3]))};
}

// `values` as an int64 tensor of rows of `columns`.
torch::Tensor detection_rows(const std::vector<int64_t>& values, int64_t columns) {
  return torch::tensor(values, torch::kLong).reshape({static_cast<int64_t>(values.size()) / columns, columns});
}

DetectionRows DetectionRecords::to_rows(int64_t rank) const {
  std::vector<int64_t> images, categories, truth, predictions;
  for (const auto id : image_ids_) images.insert(images.end(), {rank, id});
  for (const auto id : category_ids_) categories.insert(categories.end(), {rank, id});
  for (const auto& t : truth_) {
    truth.insert(truth.end(), {t.image_id, t.label, t.iscrowd, detection_bits(t.box[0]), detection_bits(t.box[1]),
                               detection_bits(t.box[2]), detection_bits(t.box[3]), detection_bits(t.area)});
  }
  for (const auto& p : predictions_) {
    predictions.insert(predictions.end(), {p.image_id, p.label, detection_bits(p.box[0]), detection_bits(p.box[1]),
                                           detection_bits(p.box[2]), detection_bits(p.box[3]), detection_bits(p.score)});
  }
  return {detection_rows(images, 2), detection_rows(categories, 2), detection_rows(truth, 8),
          detection_rows(predictions, 7)};
}

void DetectionRecords::add_rows(const DetectionRows& rows) {
  // Each replica's category ids, which must agree (a replica without a batch has none).
  std::map<int64_t, std::vector<int64_t>> categories_of;
  const auto c = rows.categories.accessor<int64_t, 2>();
  for (int64_t r = 0; r < c.size(0); ++r) categories_of[c[r][0]].push_back(c[r][1]);
  for (auto& [replica, ids] : categories_of) {
    set_category_ids(std::move(ids), "replica " + std::to_string(replica),
                     "replica " + std::to_string(categories_of.begin()->first));
  }
  std::map<int64_t, int64_t> replica_of;
  const auto im = rows.images.accessor<int64_t, 2>();
  for (int64_t r = 0; r < im.size(0); ++r) {
    const auto [first, fresh] = replica_of.emplace(im[r][1], im[r][0]);
    TORCH_CHECK(fresh, "metric '", metric_, "': image_id ", im[r][1], " was evaluated by replicas ", first->second,
                " and ", im[r][0], " (their shares of the data set overlap?)");
    add_image(im[r][1]);
  }
  for (int64_t r = 0; r < rows.truth.size(0); ++r) {
    const auto* t = rows.truth.data_ptr<int64_t>() + r * 8;
    truth_.push_back({t[0], t[1], detection_box(t + 3), detection_value(t[7]), t[2] != 0});
  }
  for (int64_t r = 0; r < rows.predictions.size(0); ++r) {
    const auto* p = rows.predictions.data_ptr<int64_t>() + r * 7;
    predictions_.push_back({p[0], p[1], detection_box(p + 2), static_cast<float>(detection_value(p[6]))});
  }
}

void DetectionRecords::merge(hooks::Replicas& replicas) {
  const auto mine = to_rows(replicas.rank());
  const auto gather = [&](const torch::Tensor& rows) { return hooks::all_gather_rows(replicas, rows).contiguous(); };
  const DetectionRows all{gather(mine.images), gather(mine.categories), gather(mine.truth), gather(mine.predictions)};
  clear();
  add_rows(all);
}

class CocoBboxMetric : public Metric {
 public:
  void reset() override { records_.clear(); }
  void update(const Batch& batch, const Outputs& outputs) override { records_.add(batch, outputs); }
  void merge(hooks::Replicas& replicas, const std::string&) override { records_.merge(replicas); }
  MetricValues compute() override {
    const auto stats = eval::evaluate_coco(ground_truth(), detections()).stats;
    MetricValues values;
    for (size_t i = 0; i < eval::kCocoStats; ++i) values.emplace_back(eval::coco_stat_names()[i], stats[i]);
    return values;
  }

 private:
  eval::CocoGroundTruth ground_truth() const {
    const auto& ids = records_.category_ids();
    eval::CocoGroundTruth truth{records_.image_ids(), ids, {}};
    for (const auto& t : records_.truth()) {
      truth.annotations.push_back({t.image_id, ids[t.label], {t.box[0], t.box[1], t.box[2], t.box[3]}, t.area, t.iscrowd});
    }
    return truth;
  }
  // (x1, y1, x2, y2) -> (x, y, w, h) in float, as DETR's convert_to_xywh before .tolist().
  std::vector<eval::CocoDetection> detections() const {
    const auto& ids = records_.category_ids();
    std::vector<eval::CocoDetection> detections;
    for (const auto& p : records_.predictions()) {
      const float w = p.box[2] - p.box[0], h = p.box[3] - p.box[1];
      detections.push_back({p.image_id, ids[p.label], {p.box[0], p.box[1], w, h}, p.score});
    }
    return detections;
  }

  DetectionRecords records_{"coco_bbox", true};
};

class VocApMetric : public Metric {
 public:
  explicit VocApMetric(eval::VocApForm form) : form_(form) {}
  void reset() override { records_.clear(); }
  void update(const Batch& batch, const Outputs& outputs) override { records_.add(batch, outputs); }
  void merge(hooks::Replicas& replicas, const std::string&) override { records_.merge(replicas); }
  MetricValues compute() override {
    const auto classes = static_cast<int64_t>(records_.category_ids().size());
    return {{"AP50", eval::evaluate_voc(ground_truth(), detections(), classes, form_).map}};
  }

 private:
  std::vector<eval::VocObject> ground_truth() const {
    std::vector<eval::VocObject> truth;
    for (const auto& t : records_.truth()) {
      const double x = t.box[0], y = t.box[1], w = t.box[2], h = t.box[3];
      truth.push_back({t.image_id, t.label, {x + 1, y + 1, x + w, y + h}, t.iscrowd});
    }
    return truth;
  }
  std::vector<eval::VocDetection> detections() const {
    std::vector<eval::VocDetection> detections;
    for (const auto& p : records_.predictions()) {
      const double x1 = p.box[0], y1 = p.box[1], x2 = p.box[2], y2 = p.box[3];
      detections.push_back({p.image_id, p.label, {x1 + 1, y1 + 1, x2, y2}, p.score});
    }
    return detections;
  }

  eval::VocApForm form_;
  DetectionRecords records_{"voc_ap", false};
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
