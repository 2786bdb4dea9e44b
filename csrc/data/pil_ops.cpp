#include <lowbit/csrc/data/pil_ops.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace lowbit::data {
namespace {

using Lut = std::array<uint8_t, 256>;

at::Tensor checked_rgb(const at::Tensor& image, const char* op) {
  TORCH_CHECK(image.dim() == 3 && image.size(0) == 3 && image.scalar_type() == at::kByte, op,
              ": expected a uint8 RGB image [3, H, W], got ", image.scalar_type(), " ", image.sizes());
  return image.contiguous();
}

// Image.point with one table per channel (_imaging.c _point: entries clipped to 0..255 by CLIP8).
at::Tensor apply_luts(const at::Tensor& image, const std::array<Lut, 3>& luts) {
  auto out = at::empty_like(image);
  const int64_t plane = image.size(1) * image.size(2);
  for (int64_t c = 0; c < 3; ++c) {
    const uint8_t* in = image.data_ptr<uint8_t>() + c * plane;
    uint8_t* dst = out.data_ptr<uint8_t>() + c * plane;
    for (int64_t i = 0; i < plane; ++i) dst[i] = luts[c][in[i]];
  }
  return out;
}

template <typename F>
at::Tensor apply_lut(const at::Tensor& image, const char* op, F entry) {
  const auto rgb = checked_rgb(image, op);
  Lut lut;
  for (int i = 0; i < 256; ++i) lut[i] = static_cast<uint8_t>(std::clamp<int64_t>(entry(i), 0, 255));
  return apply_luts(rgb, {lut, lut, lut});
}

std::array<int64_t, 256> channel_histogram(const at::Tensor& rgb, int64_t c) {
  std::array<int64_t, 256> histogram{};
  const int64_t plane = rgb.size(1) * rgb.size(2);
  const uint8_t* in = rgb.data_ptr<uint8_t>() + c * plane;
  for (int64_t i = 0; i < plane; ++i) ++histogram[in[i]];
  return histogram;
}

// Convert.c rgb2l, ITU-R 601-2 luma in 16-bit fixed point: L = (R 19595 + G 38470 + B 7471 + 0x8000) >> 16.
at::Tensor rgb_to_luma(const at::Tensor& rgb) {
  const int64_t plane = rgb.size(1) * rgb.size(2);
  auto out = at::empty({1, rgb.size(1), rgb.size(2)}, rgb.options());
  const uint8_t* r = rgb.data_ptr<uint8_t>();
  const uint8_t* g = r + plane;
  const uint8_t* b = g + plane;
  uint8_t* dst = out.data_ptr<uint8_t>();
  for (int64_t i = 0; i < plane; ++i) dst[i] = (r[i] * 19595 + g[i] * 38470 + b[i] * 7471 + 0x8000) >> 16;
  return out;
}

// Image.blend(degenerate, image, factor) (Blend.c ImagingBlend): alpha is a C float and so is the
// arithmetic; 0 <= alpha <= 1 truncates, extrapolation clips to [0, 255] first.
at::Tensor enhance_blend(const at::Tensor& degenerate, const at::Tensor& rgb, double factor) {
  const auto alpha = static_cast<float>(factor);
  if (alpha == 0.0f) return degenerate.expand_as(rgb).contiguous();
  if (alpha == 1.0f) return rgb.clone();
  const auto base = degenerate.expand_as(rgb).contiguous();
  auto out = at::empty_like(rgb);
  const uint8_t* in1 = base.data_ptr<uint8_t>();
  const uint8_t* in2 = rgb.data_ptr<uint8_t>();
  uint8_t* dst = out.data_ptr<uint8_t>();
  for (int64_t i = 0; i < rgb.numel(); ++i) {
    const float value = static_cast<int>(in1[i]) + alpha * (static_cast<int>(in2[i]) - static_cast<int>(in1[i]));
    dst[i] = value <= 0.0f ? 0 : value >= 255.0f ? 255 : static_cast<uint8_t>(value);
  }
  return out;
}

// ImageFilter.SMOOTH through Filter.c ImagingFilter3x3: float kernel k / 13, sum in float from 0.5,
// truncated after clipping; the outer rows and columns are copied.
at::Tensor smooth_filter(const at::Tensor& rgb) {
  const int64_t height = rgb.size(1), width = rgb.size(2);
  auto out = rgb.clone();
  if (height < 3 || width < 3) return out;  // ImagingFilter copies images smaller than the kernel
  const float side = 1.0f / 13.0f, centre = 5.0f / 13.0f;
  for (int64_t c = 0; c < 3; ++c) {
    const uint8_t* in = rgb.data_ptr<uint8_t>() + c * height * width;
    uint8_t* dst = out.data_ptr<uint8_t>() + c * height * width;
    for (int64_t y = 1; y < height - 1; ++y) {
      const uint8_t* below = in + (y + 1) * width;
      const uint8_t* row = in + y * width;
      const uint8_t* above = in + (y - 1) * width;
      for (int64_t x = 1; x < width - 1; ++x) {
        float sum = 0.5f;
        sum += static_cast<float>(below[x - 1]) * side + static_cast<float>(below[x]) * side +
               static_cast<float>(below[x + 1]) * side;
        sum += static_cast<float>(row[x - 1]) * side + static_cast<float>(row[x]) * centre +
               static_cast<float>(row[x + 1]) * side;
        sum += static_cast<float>(above[x - 1]) * side + static_cast<float>(above[x]) * side +
               static_cast<float>(above[x + 1]) * side;
        sum = sum < 0.0f ? 0.0f : sum;
        sum = sum > 255.0f ? 255.0f : sum;
        dst[y * width + x] = static_cast<uint8_t>(sum);
      }
    }
  }
  return out;
}

}  // namespace

at::Tensor auto_contrast(const at::Tensor& image) {
  const auto rgb = checked_rgb(image, "auto_contrast");
  std::array<Lut, 3> luts;
  for (int64_t c = 0; c < 3; ++c) {
    const auto histogram = channel_histogram(rgb, c);
    int lo = 0, hi = 255;
    while (lo < 255 && histogram[lo] == 0) ++lo;
    while (hi > 0 && histogram[hi] == 0) --hi;
    for (int i = 0; i < 256; ++i) {
      if (hi <= lo) {
        luts[c][i] = static_cast<uint8_t>(i);
        continue;
      }
      const double scale = 255.0 / (hi - lo);
      const double offset = -lo * scale;
      luts[c][i] = static_cast<uint8_t>(std::clamp<int64_t>(static_cast<int64_t>(i * scale + offset), 0, 255));
    }
  }
  return apply_luts(rgb, luts);
}

at::Tensor equalize(const at::Tensor& image) {
  const auto rgb = checked_rgb(image, "equalize");
  std::array<Lut, 3> luts;
  for (int64_t c = 0; c < 3; ++c) {
    const auto histogram = channel_histogram(rgb, c);
    int64_t total = 0, last = 0, nonzero = 0;
    for (int i = 0; i < 256; ++i) {
      total += histogram[i];
      if (histogram[i] != 0) {
        last = histogram[i];
        ++nonzero;
      }
    }
    const int64_t step = nonzero <= 1 ? 0 : (total - last) / 255;
    int64_t n = step / 2;
    for (int i = 0; i < 256; ++i) {
      luts[c][i] = step == 0 ? static_cast<uint8_t>(i) : static_cast<uint8_t>(std::min<int64_t>(n / step, 255));
      n += histogram[i];
    }
  }
  return apply_luts(rgb, luts);
}

at::Tensor invert(const at::Tensor& image) {
  return apply_lut(image, "invert", [](int i) { return 255 - i; });
}

at::Tensor posterize(const at::Tensor& image, int64_t bits) {
  TORCH_CHECK(bits >= 0, "posterize: bits must be >= 0, got ", bits);
  if (bits >= 8) return checked_rgb(image, "posterize");
  const int mask = ~((1 << (8 - bits)) - 1);
  return apply_lut(image, "posterize", [mask](int i) { return i & mask; });
}

at::Tensor solarize(const at::Tensor& image, int64_t threshold) {
  return apply_lut(image, "solarize", [threshold](int i) { return i < threshold ? i : 255 - i; });
}

at::Tensor solarize_add(const at::Tensor& image, int64_t add, int64_t threshold) {
  return apply_lut(image, "solarize_add", [add, threshold](int i) { return i < threshold ? std::min<int64_t>(255, i + add) : i; });
}

at::Tensor adjust_color(const at::Tensor& image, double factor) {
  const auto rgb = checked_rgb(image, "adjust_color");
  return enhance_blend(rgb_to_luma(rgb), rgb, factor);
}

at::Tensor adjust_contrast(const at::Tensor& image, double factor) {
  const auto rgb = checked_rgb(image, "adjust_contrast");
  const auto grey = rgb_to_luma(rgb);
  // ImageStat.Stat(L).mean: sum_i i * h[i] / N, as a double.
  const double mean = grey.sum().item<double>() / grey.numel();
  const auto degenerate = at::full({1, 1, 1}, static_cast<int64_t>(mean + 0.5), rgb.options());
  return enhance_blend(degenerate, rgb, factor);
}

at::Tensor adjust_brightness(const at::Tensor& image, double factor) {
  const auto rgb = checked_rgb(image, "adjust_brightness");
  return enhance_blend(at::zeros({1, 1, 1}, rgb.options()), rgb, factor);
}

at::Tensor adjust_sharpness(const at::Tensor& image, double factor) {
  const auto rgb = checked_rgb(image, "adjust_sharpness");
  return enhance_blend(smooth_filter(rgb), rgb, factor);
}

}  // namespace lowbit::data
