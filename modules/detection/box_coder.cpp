#include <lowbit/modules/detection/box_coder.h>

#include <ATen/ATen.h>

#include <cmath>
#include <vector>

namespace lowbit::detection {
namespace {

at::Tensor per_coordinate(const std::array<double, 4>& values, const at::Tensor& like) {
  return at::tensor(std::vector<double>(values.begin(), values.end()), like.options().dtype(at::kDouble))
      .to(like.scalar_type());
}

void check_boxes(const char* what, const at::Tensor& boxes) {
  TORCH_CHECK(boxes.dim() >= 1 && boxes.size(-1) == 4, "DeltaBoxCoder: expected ", what, " [..., 4], got shape ",
              boxes.sizes());
}

}  // namespace

DeltaBoxCoder::DeltaBoxCoder(DeltaBoxCoderOptions options) : options_(options) {
  for (const double s : options_.stds()) {
    TORCH_CHECK_VALUE(s > 0, "DeltaBoxCoder: stds must be positive, got ", s);
  }
  TORCH_CHECK_VALUE(options_.wh_ratio_clip() > 0 && options_.wh_ratio_clip() < 1,
                    "DeltaBoxCoder: wh_ratio_clip must be in (0, 1), got ", options_.wh_ratio_clip());
}

at::Tensor DeltaBoxCoder::encode(const at::Tensor& proposals, const at::Tensor& gt) const {
  check_boxes("proposals", proposals);
  check_boxes("ground-truth boxes", gt);
  TORCH_CHECK(proposals.sizes() == gt.sizes(), "DeltaBoxCoder::encode: proposals ", proposals.sizes(),
              " and ground-truth boxes ", gt.sizes(), " differ in shape");
  const auto p = proposals.unbind(-1), g = gt.unbind(-1);
  const auto px = (p[0] + p[2]) * 0.5, py = (p[1] + p[3]) * 0.5, pw = p[2] - p[0], ph = p[3] - p[1];
  const auto gx = (g[0] + g[2]) * 0.5, gy = (g[1] + g[3]) * 0.5, gw = g[2] - g[0], gh = g[3] - g[1];
  const auto deltas = at::stack({(gx - px) / pw, (gy - py) / ph, at::log(gw / pw), at::log(gh / ph)}, -1);
  return (deltas - per_coordinate(options_.means(), deltas)) / per_coordinate(options_.stds(), deltas);
}

at::Tensor DeltaBoxCoder::decode(const at::Tensor& rois, const at::Tensor& deltas,
                                 std::optional<std::pair<double, double>> image_size) const {
  TORCH_CHECK(rois.dim() == 2 && rois.size(1) == 4, "DeltaBoxCoder::decode: expected RoIs [K, 4], got shape ",
              rois.sizes());
  TORCH_CHECK(deltas.dim() == 2 && deltas.size(0) == rois.size(0) && deltas.size(1) % 4 == 0 && deltas.size(1) > 0,
              "DeltaBoxCoder::decode: expected deltas [", rois.size(0), ", 4 n], got shape ", deltas.sizes());
  const int64_t n = deltas.size(1) / 4;
  const auto d = deltas.view({deltas.size(0), n, 4}) * per_coordinate(options_.stds(), deltas) +
                 per_coordinate(options_.means(), deltas);
  const double max_ratio = std::abs(std::log(options_.wh_ratio_clip()));
  const auto dx = d.select(2, 0), dy = d.select(2, 1);
  const auto dw = d.select(2, 2).clamp(-max_ratio, max_ratio), dh = d.select(2, 3).clamp(-max_ratio, max_ratio);
  const auto r = rois.unsqueeze(1).unbind(-1);  // [K, 1] each
  const auto px = (r[0] + r[2]) * 0.5, py = (r[1] + r[3]) * 0.5, pw = r[2] - r[0], ph = r[3] - r[1];
  const auto gw = pw * dw.exp(), gh = ph * dh.exp();
  const auto gx = px + pw * dx, gy = py + ph * dy;
  auto x1 = gx - gw * 0.5, y1 = gy - gh * 0.5, x2 = gx + gw * 0.5, y2 = gy + gh * 0.5;
  if (image_size) {
    const auto [height, width] = *image_size;
    x1 = x1.clamp(0, width), y1 = y1.clamp(0, height), x2 = x2.clamp(0, width), y2 = y2.clamp(0, height);
  }
  return at::stack({x1, y1, x2, y2}, -1).view({deltas.size(0), 4 * n});
}

}  // namespace lowbit::detection
