#include <lowbit/csrc/data/detection_transforms.h>

#include <lowbit/csrc/util/option_error.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace lowbit::data {
namespace {

void check_detection_sample(const DetectionSample& sample, const char* transform) {
  TORCH_CHECK(sample.image.dim() == 3 && sample.image.size(1) > 0 && sample.image.size(2) > 0, transform,
              ": expected an image [C, H, W], got shape ", sample.image.sizes());
  const auto n = sample.boxes.size(0);
  TORCH_CHECK(sample.boxes.dim() == 2 && sample.boxes.size(1) == 4 && sample.boxes.scalar_type() == at::kFloat,
              transform, ": expected float boxes [N, 4], got ", sample.boxes.scalar_type(), " ", sample.boxes.sizes());
  TORCH_CHECK(sample.labels.sizes() == at::IntArrayRef{n} && sample.ignore.sizes() == at::IntArrayRef{n}, transform,
              ": boxes, labels and ignore disagree in length: ", n, ", ", sample.labels.sizes(), ", ",
              sample.ignore.sizes());
}

// Python's random.choice(sizes): one uniform index.
int64_t choose_size(Rng& rng, const std::vector<int64_t>& sizes) {
  TORCH_CHECK(!sizes.empty(), "RandomResize: no sizes to choose from");
  return sizes[static_cast<size_t>(rng.integer(0, static_cast<int64_t>(sizes.size()) - 1))];
}

}  // namespace

DetectionSample hflip(DetectionSample sample) {
  check_detection_sample(sample, "hflip");
  const auto width = static_cast<float>(sample.image.size(2));
  sample.image = sample.image.flip({2});
  // boxes[:, [2, 1, 0, 3]] * [-1, 1, -1, 1] + [W, 0, W, 0]
  sample.boxes = sample.boxes.index_select(1, at::tensor({2, 1, 0, 3}, at::kLong)) *
                     at::tensor({-1.0f, 1.0f, -1.0f, 1.0f}) +
                 at::tensor({width, 0.0f, width, 0.0f});
  return sample;
}

DetectionSample random_horizontal_flip(DetectionSample sample, Rng& rng, double p) {
  return rng.uniform() < p ? hflip(std::move(sample)) : sample;
}

std::pair<int64_t, int64_t> resized_size(int64_t height, int64_t width, int64_t size, int64_t max_size) {
  TORCH_CHECK(height > 0 && width > 0 && size > 0, "Resize: image ", height, "x", width, ", size ", size);
  const auto shorter = static_cast<double>(std::min(height, width));
  const auto longer = static_cast<double>(std::max(height, width));
  if (max_size > 0 && longer / shorter * static_cast<double>(size) > static_cast<double>(max_size)) {
    size = static_cast<int64_t>(std::nearbyint(static_cast<double>(max_size) * shorter / longer));
  }
  if ((width <= height && width == size) || (height <= width && height == size)) return {height, width};
  if (width < height) return {static_cast<int64_t>(static_cast<double>(size * height) / width), size};
  return {size, static_cast<int64_t>(static_cast<double>(size * width) / height)};
}

DetectionSample resize(DetectionSample sample, int64_t height, int64_t width) {
  check_detection_sample(sample, "Resize");
  const auto ratio_width = static_cast<float>(static_cast<double>(width) / sample.image.size(2));
  const auto ratio_height = static_cast<float>(static_cast<double>(height) / sample.image.size(1));
  sample.image = data::resize(sample.image, height, width);
  sample.boxes = sample.boxes * at::tensor({ratio_width, ratio_height, ratio_width, ratio_height});
  return sample;
}

DetectionSample random_resize(DetectionSample sample, Rng& rng, const std::vector<int64_t>& sizes, int64_t max_size) {
  const auto [height, width] = resized_size(sample.image.size(1), sample.image.size(2), choose_size(rng, sizes), max_size);
  return resize(std::move(sample), height, width);
}

DetectionSample crop(DetectionSample sample, const CropBox& region) {
  check_detection_sample(sample, "crop");
  TORCH_CHECK(region.top >= 0 && region.left >= 0 && region.height > 0 && region.width > 0 &&
                  region.top + region.height <= sample.image.size(1) && region.left + region.width <= sample.image.size(2),
              "crop: region (top ", region.top, ", left ", region.left, ", ", region.height, "x", region.width,
              ") is not inside the image ", sample.image.size(1), "x", sample.image.size(2));
  sample.image = sample.image.narrow(1, region.top, region.height).narrow(2, region.left, region.width);
  const auto left = static_cast<float>(region.left), top = static_cast<float>(region.top);
  // min(boxes - [j, i, j, i] as [N, 2, 2], [w, h]).clamp(min=0); keep where x2 > x1 and y2 > y1
  const auto corners = at::min(sample.boxes.view({-1, 2, 2}) - at::tensor({left, top}),
                               at::tensor({static_cast<float>(region.width), static_cast<float>(region.height)}))
                           .clamp_min(0);
  const auto keep = (corners.select(1, 1) > corners.select(1, 0)).all(1);
  sample.boxes = corners.reshape({-1, 4}).index({keep});
  sample.labels = sample.labels.index({keep});
  sample.ignore = sample.ignore.index({keep});
  return sample;
}

DetectionSample random_size_crop(DetectionSample sample, Rng& rng, int64_t min_size, int64_t max_size) {
  const int64_t height = sample.image.size(1), width = sample.image.size(2);
  TORCH_CHECK(height >= min_size && width >= min_size, "RandomSizeCrop(", min_size, ", ", max_size, "): image ",
              height, "x", width, " is smaller than ", min_size);
  const auto crop_width = rng.integer(min_size, std::min(width, max_size));
  const auto crop_height = rng.integer(min_size, std::min(height, max_size));
  if (crop_width == width && crop_height == height) return crop(std::move(sample), {0, 0, height, width});
  const auto top = rng.integer(0, height - crop_height);
  const auto left = rng.integer(0, width - crop_width);
  return crop(std::move(sample), {top, left, crop_height, crop_width});
}

DetectionSample normalize(DetectionSample sample) {
  sample.image = data::normalize(to_float(sample.image));
  return sample;
}

void check_options(const DetrTransformOptions& o) {
  const auto positive = [](const std::vector<int64_t>& sizes) {
    return !sizes.empty() && std::all_of(sizes.begin(), sizes.end(), [](int64_t s) { return s > 0; });
  };
  LOWBIT_CHECK_OPTION(positive(o.scales()), "scales", "expected a non-empty list of positive sizes");
  LOWBIT_CHECK_OPTION(o.max_size() >= 0, "max_size", "expected a size, or 0 for no limit, got ", o.max_size());
  LOWBIT_CHECK_OPTION(o.eval_size() > 0, "eval_size", "expected a positive size, got ", o.eval_size());
  LOWBIT_CHECK_OPTION(o.eval_max_size() >= 0, "eval_max_size", "expected a size, or 0 for no limit, got ",
                      o.eval_max_size());
  LOWBIT_CHECK_OPTION(o.flip() >= 0 && o.flip() <= 1, "flip", "expected a probability, got ", o.flip());
  LOWBIT_CHECK_OPTION(o.random_select() >= 0 && o.random_select() <= 1, "random_select",
                      "expected a probability, got ", o.random_select());
  if (o.crop().empty()) return;
  LOWBIT_CHECK_OPTION(o.crop().size() == 2 && o.crop()[0] > 0 && o.crop()[0] <= o.crop()[1], "crop",
                      "expected [min, max] with 0 < min <= max, or [] for no crop branch");
  LOWBIT_CHECK_OPTION(positive(o.crop_scales()), "crop_scales", "expected a non-empty list of positive sizes");
  const auto smallest = *std::min_element(o.crop_scales().begin(), o.crop_scales().end());
  LOWBIT_CHECK_OPTION(o.crop()[0] <= smallest, "crop", "the smallest crop ", o.crop()[0],
                      " must fit into the image resized to crop_scales' smallest size ", smallest);
}

DetectionSample detr_train_transform(DetectionSample sample, Rng& rng, const DetrTransformOptions& options) {
  sample = random_horizontal_flip(std::move(sample), rng, options.flip());
  if (options.crop().empty() || rng.uniform() < options.random_select()) {
    sample = random_resize(std::move(sample), rng, options.scales(), options.max_size());
  } else {
    sample = random_resize(std::move(sample), rng, options.crop_scales());
    sample = random_size_crop(std::move(sample), rng, options.crop()[0], options.crop()[1]);
    sample = random_resize(std::move(sample), rng, options.scales(), options.max_size());
  }
  return normalize(std::move(sample));
}

DetectionSample detr_eval_transform(DetectionSample sample, const DetrTransformOptions& options) {
  const auto [height, width] =
      resized_size(sample.image.size(1), sample.image.size(2), options.eval_size(), options.eval_max_size());
  return normalize(resize(std::move(sample), height, width));
}

}  // namespace lowbit::data
