#include <lowbit/csrc/data/mmdet_transforms.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace lowbit::data {
namespace {

DetectionSample rescale(DetectionSample sample, const ImageScale& scale) {
  const auto [height, width] = rescaled_size(sample.image.size(1), sample.image.size(2), scale);
  sample = resize(std::move(sample), height, width);
  sample.boxes = at::stack({sample.boxes.select(1, 0).clamp(0, width), sample.boxes.select(1, 1).clamp(0, height),
                            sample.boxes.select(1, 2).clamp(0, width), sample.boxes.select(1, 3).clamp(0, height)},
                           1);
  return sample;
}

}  // namespace

std::pair<int64_t, int64_t> rescaled_size(int64_t height, int64_t width, const ImageScale& scale) {
  TORCH_CHECK(height > 0 && width > 0, "rescaled_size: empty image ", height, "x", width);
  const double long_edge = static_cast<double>(std::max(scale[0], scale[1]));
  const double short_edge = static_cast<double>(std::min(scale[0], scale[1]));
  const double factor = std::min(long_edge / static_cast<double>(std::max(height, width)),
                                 short_edge / static_cast<double>(std::min(height, width)));
  return {static_cast<int64_t>(static_cast<double>(height) * factor + 0.5),
          static_cast<int64_t>(static_cast<double>(width) * factor + 0.5)};
}

DetectionSample mmdet_train_transform(DetectionSample sample, Rng& rng, const MmdetTransformOptions& options) {
  const auto& scales = options.scales();
  TORCH_CHECK(!scales.empty(), "mmdet pipeline: no scales to choose from");
  const auto& scale = scales[static_cast<size_t>(rng.integer(0, static_cast<int64_t>(scales.size()) - 1))];
  sample = rescale(std::move(sample), scale);
  return normalize(random_horizontal_flip(std::move(sample), rng, options.flip()));
}

DetectionSample mmdet_eval_transform(DetectionSample sample, const MmdetTransformOptions& options) {
  return normalize(rescale(std::move(sample), options.test_scale()));
}

}  // namespace lowbit::data
