#include <lowbit/csrc/data/transforms.h>

#include <lowbit/csrc/data/pil_resample.h>

#include <ATen/ATen.h>
#include <torch/nn/functional/upsampling.h>

#include <cmath>

namespace lowbit::data {
namespace {

// ImageNet RGB PCA (pixels in [0, 1]) of fb.resnet.torch, copied by ReActNet and Bi-Real Net as
// `imagenet_pca`: eigenvalues, and the eigenvectors as the columns of kEigvec.
constexpr double kEigval[3] = {0.2175, 0.0188, 0.0045};
constexpr double kEigvec[3][3] = {
    {-0.5675, 0.7192, 0.4009},
    {-0.5808, -0.0045, -0.8140},
    {-0.5836, -0.6948, 0.4203},
};

void check_image(const at::Tensor& image, const char* transform) {
  TORCH_CHECK(image.dim() == 3 && image.size(1) > 0 && image.size(2) > 0, transform,
              ": expected an image [C, H, W], got shape ", image.sizes());
}

void check_rgb_float(const at::Tensor& image, const char* transform) {
  check_image(image, transform);
  TORCH_CHECK(image.size(0) == 3, transform, ": expected 3 channels (RGB), got ", image.size(0));
  TORCH_CHECK(image.is_floating_point(), transform, ": expected a float image, got ", image.scalar_type());
}

int64_t round_half_even(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

}  // namespace

Interpolation parse_interpolation(const std::string& name) {
  if (name == "bilinear") return Interpolation::Bilinear;
  if (name == "bicubic") return Interpolation::Bicubic;
  TORCH_CHECK(false, "unknown interpolation '", name, "' (expected bilinear or bicubic)");
}

CropBox random_resized_crop_box(int64_t height, int64_t width, Rng& rng, std::array<double, 2> scale,
                                std::array<double, 2> ratio) {
  TORCH_CHECK(height > 0 && width > 0, "RandomResizedCrop: empty image ", height, "x", width);
  TORCH_CHECK(0 < scale[0] && scale[0] <= scale[1] && scale[1] <= 1, "RandomResizedCrop: scale must satisfy 0 < ",
              scale[0], " <= ", scale[1], " <= 1");
  TORCH_CHECK(0 < ratio[0] && ratio[0] <= ratio[1], "RandomResizedCrop: ratio must satisfy 0 < ", ratio[0],
              " <= ", ratio[1]);
  const double area = static_cast<double>(height) * width;
  const double log_low = std::log(ratio[0]), log_high = std::log(ratio[1]);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * rng.uniform(scale[0], scale[1]);
    const double aspect = std::exp(rng.uniform(log_low, log_high));
    const int64_t w = round_half_even(std::sqrt(target_area * aspect));
    const int64_t h = round_half_even(std::sqrt(target_area / aspect));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const int64_t top = rng.integer(0, height - h);
      const int64_t left = rng.integer(0, width - w);
      return {top, left, h, w};
    }
  }
  const double in_ratio = static_cast<double>(width) / height;
  int64_t w = width, h = height;
  if (in_ratio < ratio[0]) {
    h = round_half_even(w / ratio[0]);
  } else if (in_ratio > ratio[1]) {
    w = round_half_even(h * ratio[1]);
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

at::Tensor resize(const at::Tensor& image, int64_t height, int64_t width, Interpolation interpolation) {
  check_image(image, "Resize");
  TORCH_CHECK(height > 0 && width > 0, "Resize: output size ", height, "x", width, " is empty");
  if (interpolation == Interpolation::Bicubic && image.scalar_type() == at::kByte) {
    return pil_resize(image, height, width, interpolation);
  }
  namespace F = torch::nn::functional;
  const auto mode = interpolation == Interpolation::Bicubic ? F::InterpolateFuncOptions::mode_t(torch::kBicubic)
                                                            : F::InterpolateFuncOptions::mode_t(torch::kBilinear);
  const auto options = F::InterpolateFuncOptions()
                           .size(std::vector<int64_t>{height, width})
                           .mode(mode)
                           .align_corners(false)
                           .antialias(true);
  return F::interpolate(image.unsqueeze(0), options).squeeze(0);
}

at::Tensor random_resized_crop(const at::Tensor& image, int64_t size, Rng& rng, std::array<double, 2> scale,
                               std::array<double, 2> ratio, Interpolation interpolation) {
  check_image(image, "RandomResizedCrop");
  const auto box = random_resized_crop_box(image.size(1), image.size(2), rng, scale, ratio);
  const auto crop = image.narrow(1, box.top, box.height).narrow(2, box.left, box.width);
  return resize(crop, size, size, interpolation);
}

at::Tensor random_horizontal_flip(const at::Tensor& image, Rng& rng, double p) {
  check_image(image, "RandomHorizontalFlip");
  return rng.uniform() < p ? image.flip({2}) : image;
}

at::Tensor lighting(const at::Tensor& image, Rng& rng, double alphastd) {
  check_image(image, "Lighting");
  TORCH_CHECK(image.size(0) == 3, "Lighting: expected 3 channels (RGB), got ", image.size(0));
  if (alphastd == 0) return image;
  double scaled[3];
  for (int i = 0; i < 3; ++i) scaled[i] = alphastd * rng.normal() * kEigval[i];
  double inc[3];
  for (int c = 0; c < 3; ++c) {
    inc[c] = kEigvec[c][0] * scaled[0] + kEigvec[c][1] * scaled[1] + kEigvec[c][2] * scaled[2];
  }
  if (image.scalar_type() == at::kByte) {
    // numpy: np.add(uint8 image, float64 inc), clip to [0, 255], astype(uint8) truncates.
    const auto shift = at::tensor({inc[0], inc[1], inc[2]}, at::kDouble).view({3, 1, 1});
    return (image.to(at::kDouble) + shift).clamp(0, 255).floor().to(at::kByte);
  }
  TORCH_CHECK(image.is_floating_point(), "Lighting: expected a uint8 or float image, got ", image.scalar_type());
  return image + at::tensor({inc[0], inc[1], inc[2]}, image.scalar_type()).view({3, 1, 1});
}

at::Tensor to_float(const at::Tensor& image) {
  check_image(image, "ToTensor");
  TORCH_CHECK(image.scalar_type() == at::kByte, "ToTensor: expected a uint8 image, got ", image.scalar_type());
  return image.to(at::kFloat).div_(255);
}

at::Tensor normalize(const at::Tensor& image, std::array<double, 3> mean, std::array<double, 3> stddev) {
  check_rgb_float(image, "Normalize");
  const auto options = at::TensorOptions().dtype(image.scalar_type());
  const auto mean_t = at::tensor({mean[0], mean[1], mean[2]}, options).view({3, 1, 1});
  const auto std_t = at::tensor({stddev[0], stddev[1], stddev[2]}, options).view({3, 1, 1});
  return (image - mean_t).div_(std_t);
}

at::Tensor resize_shorter_side(const at::Tensor& image, int64_t size, Interpolation interpolation) {
  check_image(image, "Resize");
  const int64_t h = image.size(1), w = image.size(2);
  const int64_t shorter = std::min(h, w), longer = std::max(h, w);
  const auto new_longer = static_cast<int64_t>(static_cast<double>(size * longer) / shorter);
  return h <= w ? resize(image, size, new_longer, interpolation) : resize(image, new_longer, size, interpolation);
}

at::Tensor center_crop(const at::Tensor& image, int64_t size) {
  check_image(image, "CenterCrop");
  const int64_t h = image.size(1), w = image.size(2);
  TORCH_CHECK(h >= size && w >= size, "CenterCrop: image ", h, "x", w, " is smaller than the crop ", size, "x", size);
  const int64_t top = round_half_even((h - size) / 2.0), left = round_half_even((w - size) / 2.0);
  return image.narrow(1, top, size).narrow(2, left, size);
}

}  // namespace lowbit::data
