// The COCO bbox evaluator (coco_eval.h). Ground truth and detections are grouped by (category,
// image) with a counting sort; worker threads take a category at a time and, with buffers of
// their own, match each of its images (COCOeval.evaluateImg) and then merge the images into the
// precision/recall curves (COCOeval.accumulate). A category's results are its own slice of the
// output arrays, so the workers share nothing but the inputs.
#include <lowbit/csrc/eval/coco_eval.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <numeric>
#include <thread>
#include <unordered_map>
#include <utility>

namespace lowbit::eval {
namespace {

constexpr size_t kT = kCocoIouThresholds, kR = kCocoRecallPoints, kA = kCocoAreaRanges, kM = kCocoMaxDets;
constexpr double kAreaRanges[kA][2] = {{0, 1e10}, {0, 32 * 32}, {32 * 32, 96 * 96}, {96 * 96, 1e10}};
constexpr int32_t kMaxDets[kM] = {1, 10, 100};
constexpr double kEps = 2.220446049250313e-16;  // np.spacing(1)

// np.linspace(.5, 0.95, 10): i * ((0.95 - 0.5) / 9) + 0.5, the last one exactly 0.95.
double iou_threshold(size_t t) { return t + 1 == kT ? 0.95 : static_cast<double>(t) * ((0.95 - 0.5) / 9) + 0.5; }
// np.linspace(.0, 1.00, 101): i * 0.01, the last one exactly 1.
double recall_point(size_t r) { return r + 1 == kR ? 1.0 : static_cast<double>(r) * 0.01; }

// summarize()'s 12 numbers: AP (precision) or AR (recall) over all thresholds or one, at an area
// range and a maxDets.
struct StatSpec {
  const char* name;
  bool precision;
  int threshold;  // index into the thresholds; -1: all
  size_t area, max_dets;
};
constexpr StatSpec kStats[kCocoStats] = {
    {"AP", true, -1, 0, 2},     {"AP50", true, 0, 0, 2},  {"AP75", true, 5, 0, 2},   {"APs", true, -1, 1, 2},
    {"APm", true, -1, 2, 2},    {"APl", true, -1, 3, 2},  {"AR1", false, -1, 0, 0},  {"AR10", false, -1, 0, 1},
    {"AR100", false, -1, 0, 2}, {"ARs", false, -1, 1, 2}, {"ARm", false, -1, 2, 2}, {"ARl", false, -1, 3, 2}};

// The outcome of a detection at one (area range, threshold): tps and fps of accumulate().
enum Outcome : uint8_t { kFalsePositive, kTruePositive, kIgnored };

// Rows of sorted unique ids (np.unique, as evaluate() applies to imgIds and catIds).
class IdRows {
 public:
  explicit IdRows(std::vector<int64_t> ids) : ids_(std::move(ids)) {
    std::sort(ids_.begin(), ids_.end());
    ids_.erase(std::unique(ids_.begin(), ids_.end()), ids_.end());
    rows_.reserve(ids_.size());
    for (size_t i = 0; i < ids_.size(); ++i) rows_.emplace(ids_[i], static_cast<int64_t>(i));
  }
  // -1 for an id not evaluated.
  int64_t find(int64_t id) const {
    const auto it = rows_.find(id);
    return it == rows_.end() ? -1 : it->second;
  }
  size_t size() const { return ids_.size(); }
  const std::vector<int64_t>& ids() const { return ids_; }

 private:
  std::vector<int64_t> ids_;
  std::unordered_map<int64_t, int64_t> rows_;
};

// Items grouped by cell = category row * images + image row, in input order within a cell (a
// counting sort): cell c holds items[offsets[c]] .. items[offsets[c + 1] - 1]. Items of an image
// or a category not evaluated are left out.
struct Cells {
  std::vector<int64_t> offsets;
  std::vector<int32_t> items;
};

template <typename Item>
Cells group_by_cell(const std::vector<Item>& items, const IdRows& images, const IdRows& categories) {
  std::vector<int64_t> cell_of(items.size(), -1);
  Cells cells;
  cells.offsets.assign(categories.size() * images.size() + 1, 0);
  int64_t last_image_id = 0, last_image_row = images.find(0);  // results usually come an image at a time
  for (size_t j = 0; j < items.size(); ++j) {
    if (items[j].image_id != last_image_id) last_image_row = images.find(last_image_id = items[j].image_id);
    const int64_t category_row = categories.find(items[j].category_id);
    if (last_image_row < 0 || category_row < 0) continue;
    cell_of[j] = category_row * static_cast<int64_t>(images.size()) + last_image_row;
    ++cells.offsets[cell_of[j] + 1];
  }
  std::partial_sum(cells.offsets.begin(), cells.offsets.end(), cells.offsets.begin());
  cells.items.resize(cells.offsets.back());
  std::vector<int64_t> next(cells.offsets.begin(), cells.offsets.end() - 1);
  for (size_t j = 0; j < items.size(); ++j) {
    if (cell_of[j] >= 0) cells.items[next[cell_of[j]]++] = static_cast<int32_t>(j);
  }
  return cells;
}

// np.argsort(-scores, kind='mergesort') as a comparison: higher score first, NaN last (as numpy
// sorts NaN), ties by position.
bool ranks_before(double score_a, double score_b, int64_t position_a, int64_t position_b) {
  const bool nan_a = std::isnan(score_a), nan_b = std::isnan(score_b);
  if (nan_a != nan_b) return nan_b;
  if (!nan_a && score_a != score_b) return score_a > score_b;
  return position_a < position_b;
}

// maskApi.c bbIou: |d ∩ g| / |d ∪ g|, or |d ∩ g| / |d| when g is a crowd, in its order of operations.
double box_iou(const CocoBox& d, const CocoBox& g, bool crowd) {
  const double w = std::fmin(d[2] + d[0], g[2] + g[0]) - std::fmax(d[0], g[0]);
  if (w <= 0) return 0;
  const double h = std::fmin(d[3] + d[1], g[3] + g[1]) - std::fmax(d[1], g[1]);
  if (h <= 0) return 0;
  const double intersection = w * h, detection_area = d[2] * d[3], truth_area = g[2] * g[3];
  return intersection / (crowd ? detection_area : detection_area + truth_area - intersection);
}

// One category's detections after matching, image after image (each image's sorted and cut at
// the largest maxDet), with each one's outcome at every (area range, threshold).
struct MatchedCategory {
  std::vector<int32_t> detection;  // index into the detections
  std::vector<int32_t> rank;       // position among its image's sorted detections
  std::vector<uint8_t> outcome;    // [kept, A, T]
  std::array<int64_t, kA> positives{};  // npig: ground truth not ignored, per area range

  void clear() {
    detection.clear();
    rank.clear();
    outcome.clear();
    positives.fill(0);
  }
};

// A worker's buffers, reused from image to image and from category to category.
struct Scratch {
  std::vector<int32_t> detections;  // an image's, sorted and cut
  std::vector<double> iou;          // [D, G], ground truth in input order
  std::vector<uint8_t> ignore, taken;
  std::vector<int32_t> truth_order;  // non-ignored ground truth first (np.argsort(_ignore, kind='mergesort'))
  MatchedCategory matched;
  std::vector<int32_t> merged, cut;  // accumulate(): all images by score; those within a maxDets
  std::vector<double> recall, precision;
};

struct Evaluation {
  const CocoGroundTruth& truth;
  const std::vector<CocoDetection>& detections;
  size_t images, categories;
  Cells truth_cells, detection_cells;
  CocoEvalResult& result;
};

// The ground truth and the sorted, cut detections of one (image, category).
struct ImageCell {
  const int32_t* truth;
  size_t num_truth;
  const std::vector<int32_t>& detections;
};

// evaluateImg at one area range: each detection, best first, takes the ground truth of highest
// IoU >= t (the last of equal ones) that is still free (a crowd always is), preferring any
// non-ignored one: the scan stops at the first ignored ground truth once a non-ignored one matched.
void match_area(const Evaluation& e, const ImageCell& cell, size_t area, Scratch& s, uint8_t* outcome) {
  const auto& truth = e.truth.annotations;
  const size_t num_gt = cell.num_truth, num_dt = cell.detections.size();
  const double low = kAreaRanges[area][0], high = kAreaRanges[area][1];
  s.truth_order.clear();
  for (size_t g = 0; g < num_gt; ++g) {
    const auto& a = truth[cell.truth[g]];
    s.ignore[g] = a.iscrowd || a.area < low || a.area > high;
    if (!s.ignore[g]) s.truth_order.push_back(static_cast<int32_t>(g));
  }
  s.matched.positives[area] += static_cast<int64_t>(s.truth_order.size());
  for (size_t g = 0; g < num_gt; ++g) {
    if (s.ignore[g]) s.truth_order.push_back(static_cast<int32_t>(g));
  }
  for (size_t t = 0; t < kT; ++t) {
    std::fill(s.taken.begin(), s.taken.begin() + static_cast<int64_t>(num_gt), 0);
    for (size_t d = 0; d < num_dt; ++d) {
      double best = std::min(iou_threshold(t), 1 - 1e-10);
      int64_t match = -1;
      for (const int32_t g : s.truth_order) {
        if (s.taken[g] && !truth[cell.truth[g]].iscrowd) continue;
        if (match >= 0 && !s.ignore[match] && s.ignore[g]) break;
        const double iou = s.iou[d * num_gt + g];
        if (iou < best) continue;
        best = iou;
        match = g;
      }
      uint8_t& o = outcome[(d * kA + area) * kT + t];
      if (match >= 0) {
        s.taken[match] = 1;
        o = s.ignore[match] ? kIgnored : kTruePositive;
      } else {
        const auto& box = e.detections[cell.detections[d]].bbox;
        const double detection_area = box[2] * box[3];
        o = detection_area < low || detection_area > high ? kIgnored : kFalsePositive;
      }
    }
  }
}

// evaluateImg for one (image, category) at every area range; appends to s.matched.
void match_image(const Evaluation& e, const ImageCell& cell, Scratch& s) {
  const size_t num_gt = cell.num_truth, num_dt = cell.detections.size();
  s.iou.resize(num_dt * num_gt);
  for (size_t d = 0; d < num_dt; ++d) {
    for (size_t g = 0; g < num_gt; ++g) {
      const auto& a = e.truth.annotations[cell.truth[g]];
      s.iou[d * num_gt + g] = box_iou(e.detections[cell.detections[d]].bbox, a.bbox, a.iscrowd);
    }
  }
  s.ignore.resize(num_gt);
  s.taken.resize(num_gt);
  auto& m = s.matched;
  const size_t first = m.outcome.size();
  m.outcome.resize(first + num_dt * kA * kT);
  for (size_t area = 0; area < kA; ++area) match_area(e, cell, area, s, m.outcome.data() + first);
  for (size_t d = 0; d < num_dt; ++d) {
    m.detection.push_back(cell.detections[d]);
    m.rank.push_back(static_cast<int32_t>(d));
  }
}

// An image's detections of the category, sorted by score and cut at the largest maxDets.
void sort_and_cut(const Evaluation& e, const int32_t* begin, const int32_t* end, std::vector<int32_t>& out) {
  out.assign(begin, end);
  const auto& dets = e.detections;
  std::sort(out.begin(), out.end(),
            [&](int32_t a, int32_t b) { return ranks_before(dets[a].score, dets[b].score, a, b); });
  if (out.size() > static_cast<size_t>(kMaxDets[kM - 1])) out.resize(kMaxDets[kM - 1]);
}

// One curve of accumulate(): cumulative TP and FP down the merged detections, recall tp / npig
// and precision tp / (tp + fp + eps) made monotone from the right, read at each recall point
// from the first detection whose recall reaches it (0 past the last).
void precision_recall(const std::vector<uint8_t>& outcome, size_t column, int64_t positives, Scratch& s,
                      double* precision, size_t precision_stride, double& recall) {
  const size_t nd = s.cut.size();
  s.recall.resize(nd);
  s.precision.resize(nd);
  double tp = 0, fp = 0;
  for (size_t j = 0; j < nd; ++j) {
    const uint8_t o = outcome[static_cast<size_t>(s.cut[j]) * kA * kT + column];
    tp += o == kTruePositive;
    fp += o == kFalsePositive;
    s.recall[j] = tp / static_cast<double>(positives);
    s.precision[j] = tp / (fp + tp + kEps);
  }
  recall = nd > 0 ? s.recall[nd - 1] : 0;
  for (size_t j = nd; j > 1; --j) s.precision[j - 2] = std::max(s.precision[j - 2], s.precision[j - 1]);
  size_t j = 0;
  for (size_t r = 0; r < kR; ++r) {
    const double point = recall_point(r);
    while (j < nd && s.recall[j] < point) ++j;
    precision[r * precision_stride] = j < nd ? s.precision[j] : 0;
  }
}

// accumulate() for category row k: per maxDets, the detections within it in merged score order.
void accumulate_category(const Evaluation& e, size_t k, Scratch& s) {
  const auto& m = s.matched;
  s.merged.resize(m.detection.size());
  std::iota(s.merged.begin(), s.merged.end(), 0);
  const auto& dets = e.detections;
  std::sort(s.merged.begin(), s.merged.end(), [&](int32_t a, int32_t b) {
    return ranks_before(dets[m.detection[a]].score, dets[m.detection[b]].score, a, b);
  });
  const size_t K = e.categories;
  for (size_t md = 0; md < kM; ++md) {
    s.cut.clear();
    for (const int32_t p : s.merged) {
      if (m.rank[p] < kMaxDets[md]) s.cut.push_back(p);
    }
    for (size_t a = 0; a < kA; ++a) {
      if (m.positives[a] == 0) continue;  // -1 stays: no ground truth to find
      for (size_t t = 0; t < kT; ++t) {
        double* precision = e.result.precision.data() + ((t * kR * K + k) * kA + a) * kM + md;
        double& recall = e.result.recall[((t * K + k) * kA + a) * kM + md];
        precision_recall(m.outcome, a * kT + t, m.positives[a], s, precision, K * kA * kM, recall);
      }
    }
  }
}

void evaluate_category(const Evaluation& e, size_t k, Scratch& s) {
  s.matched.clear();
  for (size_t i = 0; i < e.images; ++i) {
    const size_t c = k * e.images + i;
    const auto& gt = e.truth_cells;
    const auto& dt = e.detection_cells;
    if (gt.offsets[c] == gt.offsets[c + 1] && dt.offsets[c] == dt.offsets[c + 1]) continue;
    sort_and_cut(e, dt.items.data() + dt.offsets[c], dt.items.data() + dt.offsets[c + 1], s.detections);
    const ImageCell cell{gt.items.data() + gt.offsets[c], static_cast<size_t>(gt.offsets[c + 1] - gt.offsets[c]),
                         s.detections};
    match_image(e, cell, s);
  }
  accumulate_category(e, k, s);
}

// Runs work(item, worker) for every item on `workers` threads (items handed out in order);
// rethrows the first exception.
void for_each_item(size_t items, size_t workers, const std::function<void(size_t, size_t)>& work) {
  std::atomic<size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  const auto run = [&](size_t worker) {
    try {
      for (size_t item; (item = next++) < items;) work(item, worker);
    } catch (...) {
      const std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      next = items;
    }
  };
  std::vector<std::thread> threads;
  for (size_t w = 1; w < workers; ++w) threads.emplace_back(run, w);
  run(0);
  for (auto& thread : threads) thread.join();
  if (failure) std::rethrow_exception(failure);
}

// summarize()'s mean of the entries > -1 over the selected slice; -1 when none.
double summarize(const CocoEvalResult& r, const StatSpec& stat) {
  const size_t K = r.category_ids.size();
  const size_t t_begin = stat.threshold < 0 ? 0 : static_cast<size_t>(stat.threshold);
  const size_t t_end = stat.threshold < 0 ? kT : t_begin + 1;
  const size_t points = stat.precision ? kR : 1;
  const auto& values = stat.precision ? r.precision : r.recall;
  double sum = 0;
  size_t count = 0;
  for (size_t t = t_begin; t < t_end; ++t) {
    for (size_t p = 0; p < points; ++p) {
      for (size_t k = 0; k < K; ++k) {
        const double v = values[(((t * points + p) * K + k) * kA + stat.area) * kM + stat.max_dets];
        if (v > -1) {
          sum += v;
          ++count;
        }
      }
    }
  }
  return count > 0 ? sum / static_cast<double>(count) : -1;
}

}  // namespace

const std::array<const char*, kCocoStats>& coco_stat_names() {
  static const auto names = [] {
    std::array<const char*, kCocoStats> n{};
    for (size_t i = 0; i < kCocoStats; ++i) n[i] = kStats[i].name;
    return n;
  }();
  return names;
}

CocoEvalResult evaluate_coco(const CocoGroundTruth& ground_truth, const std::vector<CocoDetection>& detections,
                             const CocoEvalOptions& options) {
  const IdRows images(ground_truth.image_ids), categories(ground_truth.category_ids);
  CocoEvalResult result;
  const size_t K = categories.size();
  result.category_ids = categories.ids();
  result.precision.assign(kT * kR * K * kA * kM, -1);
  result.recall.assign(kT * K * kA * kM, -1);
  const Evaluation e{ground_truth,
                     detections,
                     images.size(),
                     K,
                     group_by_cell(ground_truth.annotations, images, categories),
                     group_by_cell(detections, images, categories),
                     result};
  // The categories with most detections first, so that no worker is left with a large one at the end.
  std::vector<size_t> order(K);
  std::iota(order.begin(), order.end(), 0);
  const auto& dt = e.detection_cells.offsets;
  const auto count = [&](size_t k) { return dt[(k + 1) * e.images] - dt[k * e.images]; };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return count(a) > count(b); });
  const size_t hardware = std::max(1u, std::thread::hardware_concurrency());
  const size_t workers = std::min(std::max<size_t>(K, 1), options.threads > 0 ? static_cast<size_t>(options.threads) : hardware);
  std::vector<Scratch> scratch(workers);
  for_each_item(K, workers, [&](size_t item, size_t worker) { evaluate_category(e, order[item], scratch[worker]); });
  for (size_t i = 0; i < kCocoStats; ++i) result.stats[i] = summarize(result, kStats[i]);
  return result;
}

std::string format_coco_summary(const CocoStats& stats) {
  static const char* const kAreaNames[kA] = {"all", "small", "medium", "large"};
  std::string text;
  for (size_t i = 0; i < kCocoStats; ++i) {
    const auto& s = kStats[i];
    const char* iou = s.threshold < 0 ? "0.50:0.95" : s.threshold == 0 ? "0.50" : "0.75";
    char line[128];
    std::snprintf(line, sizeof(line), " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
                  s.precision ? "Average Precision" : "Average Recall", s.precision ? "(AP)" : "(AR)", iou,
                  kAreaNames[s.area], kMaxDets[s.max_dets], stats[i]);
    text += line;
  }
  return text;
}

}  // namespace lowbit::eval
