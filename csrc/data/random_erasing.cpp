#include <lowbit/csrc/data/random_erasing.h>

#include <ATen/ATen.h>

#include <cmath>

namespace lowbit::data {
namespace {

// One N(0, 1) draw per element of a float [shape] tensor, in row-major order.
at::Tensor erasing_normals(at::IntArrayRef shape, at::ScalarType dtype, Rng& rng) {
  auto values = at::empty(shape, at::kDouble);
  double* data = values.data_ptr<double>();
  for (int64_t i = 0; i < values.numel(); ++i) data[i] = rng.normal();
  return values.to(dtype);
}

at::Tensor erasing_values(const std::string& mode, int64_t channels, const CropBox& box, at::ScalarType dtype,
                          Rng& rng) {
  if (mode == "pixel") return erasing_normals({channels, box.height, box.width}, dtype, rng);
  if (mode == "rand") return erasing_normals({channels, 1, 1}, dtype, rng);
  return at::zeros({channels, 1, 1}, dtype);
}

}  // namespace

at::Tensor erase(const at::Tensor& image, const CropBox& box, const at::Tensor& values) {
  TORCH_CHECK(image.dim() == 3, "erase: expected an image [C, H, W], got shape ", image.sizes());
  TORCH_CHECK(box.top >= 0 && box.left >= 0 && box.height >= 0 && box.width >= 0 &&
                  box.top + box.height <= image.size(1) && box.left + box.width <= image.size(2),
              "erase: box (top ", box.top, ", left ", box.left, ", ", box.height, "x", box.width,
              ") leaves the image ", image.size(1), "x", image.size(2));
  auto out = image.clone();
  out.narrow(1, box.top, box.height).narrow(2, box.left, box.width).copy_(values);
  return out;
}

at::Tensor random_erasing(const at::Tensor& normalized_float_image, Rng& rng, const RandomErasingOptions& options) {
  const auto& image = normalized_float_image;
  TORCH_CHECK(image.dim() == 3 && image.is_floating_point(), "RandomErasing: expected a float image [C, H, W], got ",
              image.scalar_type(), " ", image.sizes());
  TORCH_CHECK(options.mode == "pixel" || options.mode == "rand" || options.mode == "const",
              "RandomErasing: unknown mode '", options.mode, "' (expected const, rand or pixel)");
  TORCH_CHECK(1 <= options.min_count && options.min_count <= options.max_count,
              "RandomErasing: counts must satisfy 1 <= ", options.min_count, " <= ", options.max_count);
  if (rng.uniform() > options.probability) return image;
  const int64_t channels = image.size(0), height = image.size(1), width = image.size(2);
  const double area = static_cast<double>(height) * width;
  const int64_t count = options.min_count == options.max_count ? options.min_count
                                                               : rng.integer(options.min_count, options.max_count);
  const double log_low = std::log(options.min_aspect), log_high = std::log(options.max_aspect);
  auto out = image;
  for (int64_t box_index = 0; box_index < count; ++box_index) {
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double target_area = rng.uniform(options.min_area, options.max_area) * area / count;
      const double aspect = std::exp(rng.uniform(log_low, log_high));
      const auto h = static_cast<int64_t>(std::nearbyint(std::sqrt(target_area * aspect)));
      const auto w = static_cast<int64_t>(std::nearbyint(std::sqrt(target_area / aspect)));
      if (w < width && h < height) {
        const CropBox box{rng.integer(0, height - h), rng.integer(0, width - w), h, w};
        out = erase(out, box, erasing_values(options.mode, channels, box, image.scalar_type(), rng));
        break;
      }
    }
  }
  return out;
}

}  // namespace lowbit::data
