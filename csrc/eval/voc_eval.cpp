// PASCAL VOC AP (voc_eval.h): one class at a time, its detections in score order against the
// ground truth of their image (found by binary search in the class's objects sorted by image).
#include <lowbit/csrc/eval/voc_eval.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace lowbit::eval {
namespace {

constexpr double kVocMinOverlap = 0.5;

// VOCevaldet.m's overlap with inclusive pixels; -inf for boxes that do not overlap (the devkit
// skips them).
double voc_overlap(const VocBox& d, const VocBox& g) {
  const double iw = std::min(d[2], g[2]) - std::max(d[0], g[0]) + 1;
  const double ih = std::min(d[3], g[3]) - std::max(d[1], g[1]) + 1;
  if (!(iw > 0 && ih > 0)) return -std::numeric_limits<double>::infinity();
  const double union_area = (d[2] - d[0] + 1) * (d[3] - d[1] + 1) + (g[2] - g[0] + 1) * (g[3] - g[1] + 1) - iw * ih;
  return iw * ih / union_area;
}

// One class's objects, sorted by image (stable: file order within an image).
struct VocClassObjects {
  std::vector<int32_t> index;  // into the ground truth
  std::vector<int64_t> image;  // image[i] = ground_truth[index[i]].image_id
};

VocClassObjects objects_of_class(const std::vector<VocObject>& truth, int64_t label) {
  VocClassObjects objects;
  for (size_t i = 0; i < truth.size(); ++i) {
    if (truth[i].label == label) objects.index.push_back(static_cast<int32_t>(i));
  }
  std::stable_sort(objects.index.begin(), objects.index.end(),
                   [&](int32_t a, int32_t b) { return truth[a].image_id < truth[b].image_id; });
  for (const int32_t i : objects.index) objects.image.push_back(truth[i].image_id);
  return objects;
}

// One class's detections by descending score (NaN last), ties in input order.
std::vector<int32_t> detections_of_class(const std::vector<VocDetection>& detections, int64_t label) {
  std::vector<int32_t> order;
  for (size_t i = 0; i < detections.size(); ++i) {
    if (detections[i].label == label) order.push_back(static_cast<int32_t>(i));
  }
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const double x = detections[a].score, y = detections[b].score;
    return !std::isnan(x) && (std::isnan(y) || x > y);
  });
  return order;
}

// The object of d's image with the largest overlap (the first of equal ones), and the overlap.
std::pair<int32_t, double> best_object(const std::vector<VocObject>& truth, const VocClassObjects& objects,
                                       const VocDetection& d) {
  const auto [first, last] = std::equal_range(objects.image.begin(), objects.image.end(), d.image_id);
  int32_t best = -1;
  double overlap = -std::numeric_limits<double>::infinity();
  for (auto it = first; it != last; ++it) {
    const int32_t object = objects.index[it - objects.image.begin()];
    const double o = voc_overlap(d.box, truth[object].box);
    if (o > overlap) {
      overlap = o;
      best = object;
    }
  }
  return {best, overlap};
}

// One class's curve (recall and precision after each detection) and its number of positives.
struct VocCurve {
  std::vector<double> recall, precision;
  int64_t positives = 0;
};

VocCurve class_curve(const std::vector<VocObject>& truth, const std::vector<VocDetection>& detections, int64_t label) {
  const auto objects = objects_of_class(truth, label);
  VocCurve curve;
  for (const int32_t o : objects.index) curve.positives += !truth[o].difficult;
  std::vector<bool> detected(truth.size(), false);
  double tp = 0, fp = 0;
  for (const int32_t d : detections_of_class(detections, label)) {
    const auto [object, overlap] = best_object(truth, objects, detections[d]);
    if (overlap >= kVocMinOverlap) {
      if (!truth[object].difficult) {
        tp += !detected[object];
        fp += detected[object];
        detected[object] = true;
      }
    } else {
      fp += 1;
    }
    curve.recall.push_back(tp / static_cast<double>(curve.positives));
    curve.precision.push_back(tp / std::max(tp + fp, std::numeric_limits<double>::epsilon()));
  }
  return curve;
}

double eleven_point_ap(const std::vector<double>& recall, const std::vector<double>& precision) {
  double ap = 0;
  for (int k = 0; k <= 10; ++k) {
    const double t = k * 0.1;
    double p = 0;
    for (size_t j = 0; j < recall.size(); ++j) {
      if (recall[j] >= t) p = std::max(p, precision[j]);
    }
    ap += p / 11;
  }
  return ap;
}

double area_ap(const std::vector<double>& recall, const std::vector<double>& precision) {
  std::vector<double> mrec{0}, mpre{0};
  mrec.insert(mrec.end(), recall.begin(), recall.end());
  mpre.insert(mpre.end(), precision.begin(), precision.end());
  mrec.push_back(1);
  mpre.push_back(0);
  for (size_t i = mpre.size() - 1; i > 0; --i) mpre[i - 1] = std::max(mpre[i - 1], mpre[i]);
  double ap = 0;
  for (size_t i = 0; i + 1 < mrec.size(); ++i) {
    if (mrec[i + 1] != mrec[i]) ap += (mrec[i + 1] - mrec[i]) * mpre[i + 1];
  }
  return ap;
}

template <typename Item>
void check_labels(const std::vector<Item>& items, int64_t num_classes, const char* what) {
  for (size_t i = 0; i < items.size(); ++i) {
    TORCH_CHECK(items[i].label >= 0 && items[i].label < num_classes, "VOC evaluation: ", what, "[", i, "] (image_id ",
                items[i].image_id, ") has label ", items[i].label, ", outside [0, ", num_classes, ")");
  }
}

}  // namespace

double voc_average_precision(const std::vector<double>& recall, const std::vector<double>& precision, VocApForm form) {
  TORCH_CHECK(recall.size() == precision.size(), "voc_average_precision: ", recall.size(), " recalls but ",
              precision.size(), " precisions");
  return form == VocApForm::ElevenPoint ? eleven_point_ap(recall, precision) : area_ap(recall, precision);
}

VocEvalResult evaluate_voc(const std::vector<VocObject>& ground_truth, const std::vector<VocDetection>& detections,
                           int64_t num_classes, VocApForm form) {
  check_labels(ground_truth, num_classes, "ground truth");
  check_labels(detections, num_classes, "detection");
  VocEvalResult result{std::vector<double>(static_cast<size_t>(num_classes), -1.0), -1.0};
  double sum = 0;
  int64_t counted = 0;
  for (int64_t c = 0; c < num_classes; ++c) {
    const auto curve = class_curve(ground_truth, detections, c);
    if (curve.positives == 0) continue;
    result.ap[c] = voc_average_precision(curve.recall, curve.precision, form);
    sum += result.ap[c];
    ++counted;
  }
  if (counted > 0) result.map = sum / static_cast<double>(counted);
  return result;
}

}  // namespace lowbit::eval
