#include <lowbit/modules/detection/anchor_generator.h>

#include <ATen/ATen.h>

#include <cmath>

namespace lowbit::detection {

AnchorGenerator::AnchorGenerator(AnchorGeneratorOptions options) : options_(std::move(options)) {
  TORCH_CHECK_VALUE(!options_.strides().empty() && !options_.ratios().empty() && !options_.scales().empty(),
                    "AnchorGenerator: strides, ratios and scales must each hold at least one value");
  for (const auto s : options_.strides()) TORCH_CHECK_VALUE(s > 0, "AnchorGenerator: strides must be positive, got ", s);
  for (const auto r : options_.ratios()) TORCH_CHECK_VALUE(r > 0, "AnchorGenerator: ratios must be positive, got ", r);
  for (const auto s : options_.scales()) TORCH_CHECK_VALUE(s > 0, "AnchorGenerator: scales must be positive, got ", s);
}

int64_t AnchorGenerator::anchors_per_location() const {
  return static_cast<int64_t>(options_.ratios().size() * options_.scales().size());
}

at::Tensor AnchorGenerator::base_anchors(int64_t level) const {
  TORCH_CHECK_INDEX(level >= 0 && level < levels(), "AnchorGenerator: level ", level, " of ", levels());
  const auto f = at::TensorOptions(at::kFloat);
  const double size = static_cast<double>(options_.strides()[level]);
  const double center = options_.center_offset() * size;
  // As mmdet, in float32 tensors: sqrt of the ratios, their inverse, the products.
  const auto ratios = at::tensor(options_.ratios(), f.dtype(at::kDouble)).to(at::kFloat);
  const auto scales = at::tensor(options_.scales(), f.dtype(at::kDouble)).to(at::kFloat);
  const auto h_ratios = at::sqrt(ratios), w_ratios = 1 / h_ratios;
  const auto ws = (size * w_ratios.unsqueeze(1) * scales.unsqueeze(0)).reshape(-1);
  const auto hs = (size * h_ratios.unsqueeze(1) * scales.unsqueeze(0)).reshape(-1);
  return at::stack({center - 0.5 * ws, center - 0.5 * hs, center + 0.5 * ws, center + 0.5 * hs}, -1);
}

at::Tensor AnchorGenerator::grid_anchors(int64_t level, std::pair<int64_t, int64_t> feature_size,
                                         const at::TensorOptions& options) const {
  const auto base = base_anchors(level).to(options);
  const auto [height, width] = feature_size;
  const double stride = static_cast<double>(options_.strides()[level]);
  const auto shift_x = at::arange(width, options) * stride, shift_y = at::arange(height, options) * stride;
  const auto xx = shift_x.repeat({height}), yy = shift_y.view({-1, 1}).repeat({1, width}).view(-1);
  const auto shifts = at::stack({xx, yy, xx, yy}, -1);
  return (base.unsqueeze(0) + shifts.unsqueeze(1)).view({-1, 4});
}

at::Tensor AnchorGenerator::valid_flags(int64_t level, std::pair<int64_t, int64_t> feature_size,
                                        std::pair<int64_t, int64_t> image_size, const at::Device& device) const {
  const auto [height, width] = feature_size;
  const int64_t stride = options_.strides()[level];
  const int64_t valid_h = std::min(height, (image_size.first + stride - 1) / stride);
  const int64_t valid_w = std::min(width, (image_size.second + stride - 1) / stride);
  const auto b = at::TensorOptions(at::kBool).device(device);
  const auto valid_x = at::arange(width, b.dtype(at::kLong)) < valid_w;
  const auto valid_y = at::arange(height, b.dtype(at::kLong)) < valid_h;
  const auto valid = valid_y.view({-1, 1}) & valid_x.view({1, -1});  // [H, W]
  return valid.reshape({-1, 1}).expand({height * width, anchors_per_location()}).reshape(-1);
}

}  // namespace lowbit::detection
