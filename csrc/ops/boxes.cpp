#include <lowbit/csrc/ops/boxes.h>

#include <lowbit/csrc/util/dtypes.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>
#include <vector>

namespace lowbit::ops {
namespace {

void check_boxes(const at::Tensor& boxes, const char* what, const char* name) {
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, what, ": ", name, " must be [N, 4] xyxy boxes, got shape ",
              boxes.sizes());
  if (boxes.numel() == 0) return;
  const auto corners = boxes.detach();
  const bool well_formed = (corners.slice(1, 2, 4) >= corners.slice(1, 0, 2)).all().item<bool>();
  TORCH_CHECK(well_formed, what, ": ", name, " has a malformed box (x2 < x1, y2 < y1, or NaN)");
}

// Intersection [N, M] and union [N, M] areas of xyxy boxes, in float at least (util::at_least_float):
// an area past 65504 px^2 overflows float16.
std::pair<at::Tensor, at::Tensor> intersection_and_union(const at::Tensor& a, const at::Tensor& b) {
  const auto top_left = at::max(a.slice(1, 0, 2).unsqueeze(1), b.slice(1, 0, 2).unsqueeze(0));
  const auto bottom_right = at::min(a.slice(1, 2, 4).unsqueeze(1), b.slice(1, 2, 4).unsqueeze(0));
  const auto size = (bottom_right - top_left).clamp_min(0);
  const auto inter = size.select(2, 0) * size.select(2, 1);
  const auto uni = box_area(a).unsqueeze(1) + box_area(b).unsqueeze(0) - inter;
  return {inter, uni};
}

}  // namespace

at::Tensor box_cxcywh_to_xyxy(const at::Tensor& boxes) {
  TORCH_CHECK(boxes.dim() >= 1 && boxes.size(-1) == 4, "box_cxcywh_to_xyxy: expected [..., 4], got shape ",
              boxes.sizes());
  const auto center = boxes.narrow(-1, 0, 2), half = boxes.narrow(-1, 2, 2) / 2;
  return at::cat({center - half, center + half}, -1);
}

at::Tensor box_xyxy_to_cxcywh(const at::Tensor& boxes) {
  TORCH_CHECK(boxes.dim() >= 1 && boxes.size(-1) == 4, "box_xyxy_to_cxcywh: expected [..., 4], got shape ",
              boxes.sizes());
  const auto top_left = boxes.narrow(-1, 0, 2), bottom_right = boxes.narrow(-1, 2, 2);
  return at::cat({(top_left + bottom_right) / 2, bottom_right - top_left}, -1);
}

at::Tensor box_area(const at::Tensor& boxes) {
  return (boxes.select(-1, 2) - boxes.select(-1, 0)) * (boxes.select(-1, 3) - boxes.select(-1, 1));
}

at::Tensor box_iou(const at::Tensor& a, const at::Tensor& b, const char* what, double min_union) {
  check_boxes(a, what, "first boxes");
  check_boxes(b, what, "second boxes");
  const auto [inter, uni] = intersection_and_union(util::at_least_float(a), util::at_least_float(b));
  return inter / (min_union > 0 ? uni.clamp_min(min_union) : uni);
}

at::Tensor generalized_box_iou(const at::Tensor& a, const at::Tensor& b, const char* what) {
  check_boxes(a, what, "first boxes");
  check_boxes(b, what, "second boxes");
  const auto af = util::at_least_float(a), bf = util::at_least_float(b);
  const auto [inter, uni] = intersection_and_union(af, bf);
  const auto top_left = at::min(af.slice(1, 0, 2).unsqueeze(1), bf.slice(1, 0, 2).unsqueeze(0));
  const auto bottom_right = at::max(af.slice(1, 2, 4).unsqueeze(1), bf.slice(1, 2, 4).unsqueeze(0));
  const auto size = bottom_right - top_left;  // >= 0 for well-formed boxes
  const auto enclosing = size.select(2, 0) * size.select(2, 1);
  return inter / uni - (enclosing - uni) / enclosing;
}

at::Tensor nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, "nms: boxes must be [K, 4] xyxy, got shape ", boxes.sizes());
  TORCH_CHECK(scores.dim() == 1 && scores.size(0) == boxes.size(0), "nms: scores must be [K] with K = ", boxes.size(0),
              " boxes, got shape ", scores.sizes());
  const auto corners = boxes.detach().to(at::kCPU, at::kDouble).contiguous();
  const auto score = scores.detach().to(at::kCPU, at::kDouble).contiguous();
  const int64_t count = corners.size(0);
  const double* c = corners.data_ptr<double>();
  const double* s = score.data_ptr<double>();
  std::vector<int64_t> order(count);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return s[i] > s[j]; });
  const auto area = [&](int64_t i) { return (c[4 * i + 2] - c[4 * i]) * (c[4 * i + 3] - c[4 * i + 1]); };
  std::vector<int64_t> kept;
  for (const int64_t i : order) {
    bool suppressed = false;
    for (const int64_t k : kept) {
      const double w = std::max(0.0, std::min(c[4 * i + 2], c[4 * k + 2]) - std::max(c[4 * i], c[4 * k]));
      const double h = std::max(0.0, std::min(c[4 * i + 3], c[4 * k + 3]) - std::max(c[4 * i + 1], c[4 * k + 1]));
      const double inter = w * h;
      if (inter / (area(i) + area(k) - inter) > iou_threshold) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) kept.push_back(i);
  }
  return at::tensor(kept, at::kLong).to(boxes.device());
}

}  // namespace lowbit::ops
