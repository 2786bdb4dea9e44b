#include <lowbit/modules/detection/box_coder.h>

#include <lowbit/csrc/ops/boxes.h>

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
  const auto p = ops::box_xyxy_to_cxcywh(proposals), g = ops::box_xyxy_to_cxcywh(gt);
  const auto p_size = p.narrow(-1, 2, 2);
  const auto deltas =
      at::cat({(g.narrow(-1, 0, 2) - p.narrow(-1, 0, 2)) / p_size, at::log(g.narrow(-1, 2, 2) / p_size)}, -1);
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
  const auto r = ops::box_xyxy_to_cxcywh(rois).unsqueeze(1);  // [K, 1, 4]
  const auto r_size = r.narrow(-1, 2, 2);
  const auto centre = r.narrow(-1, 0, 2) + r_size * d.narrow(-1, 0, 2);
  const auto size = r_size * d.narrow(-1, 2, 2).clamp(-max_ratio, max_ratio).exp();
  auto boxes = ops::box_cxcywh_to_xyxy(at::cat({centre, size}, -1));
  if (image_size) {
    const auto [height, width] = *image_size;
    boxes = at::minimum(boxes.clamp_min(0), per_coordinate({width, height, width, height}, boxes));
  }
  return boxes.view({deltas.size(0), 4 * n});
}

}  // namespace lowbit::detection
