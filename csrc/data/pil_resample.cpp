#include <lowbit/csrc/data/pil_resample.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace lowbit::data {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Resample.c PRECISION_BITS

double bilinear_kernel(double x) {
  x = std::abs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double bicubic_kernel(double x) {
  constexpr double a = -0.5;
  x = std::abs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// One output side's taps: output i reads inputs [first[i], first[i] + count[i]) with the fixed-point
// weights weights[i * ksize + j] (precompute_coeffs + normalize_coeffs_8bpc).
struct Taps {
  int64_t ksize;
  std::vector<int64_t> first, count;
  std::vector<int32_t> weights;
};

Taps precompute_taps(int64_t in_size, int64_t out_size, Interpolation interpolation) {
  const bool bicubic = interpolation == Interpolation::Bicubic;
  const double filter_support = bicubic ? 2.0 : 1.0;
  const double scale = static_cast<double>(static_cast<float>(in_size)) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = filter_support * filterscale;
  Taps taps;
  taps.ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  taps.first.resize(out_size);
  taps.count.resize(out_size);
  taps.weights.assign(out_size * taps.ksize, 0);
  const double inv_filterscale = 1.0 / filterscale;
  std::vector<double> k(taps.ksize);
  for (int64_t xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const auto xmin = std::max<int64_t>(static_cast<int>(center - support + 0.5), 0);
    const auto xmax = std::min<int64_t>(static_cast<int>(center + support + 0.5), in_size) - xmin;
    double ww = 0.0;
    for (int64_t x = 0; x < xmax; ++x) {
      const double arg = (x + xmin - center + 0.5) * inv_filterscale;
      k[x] = bicubic ? bicubic_kernel(arg) : bilinear_kernel(arg);
      ww += k[x];
    }
    for (int64_t x = 0; x < xmax; ++x) {
      const double w = ww != 0.0 ? k[x] / ww : k[x];
      taps.weights[xx * taps.ksize + x] = static_cast<int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits)
                                                                       : 0.5 + w * (1 << kPrecisionBits));
    }
    taps.first[xx] = xmin;
    taps.count[xx] = xmax;
  }
  return taps;
}

uint8_t clip8_fixed(int32_t sum) { return static_cast<uint8_t>(std::clamp(sum >> kPrecisionBits, 0, 255)); }

// ImagingResampleHorizontal_8bpc: [C, H, in_width] -> [C, H, width].
at::Tensor horizontal_pass(const at::Tensor& in, int64_t width, Interpolation interpolation) {
  const int64_t rows = in.size(0) * in.size(1), in_width = in.size(2);
  const auto taps = precompute_taps(in_width, width, interpolation);
  auto out = at::empty({in.size(0), in.size(1), width}, in.options());
  const uint8_t* src = in.data_ptr<uint8_t>();
  uint8_t* dst = out.data_ptr<uint8_t>();
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* line = src + r * in_width;
    for (int64_t xx = 0; xx < width; ++xx) {
      const int32_t* k = &taps.weights[xx * taps.ksize];
      const uint8_t* first = line + taps.first[xx];
      int32_t sum = 1 << (kPrecisionBits - 1);
      for (int64_t x = 0; x < taps.count[xx]; ++x) sum += first[x] * k[x];
      dst[r * width + xx] = clip8_fixed(sum);
    }
  }
  return out;
}

// ImagingResampleVertical_8bpc: [C, in_height, W] -> [C, height, W], a row at a time.
at::Tensor vertical_pass(const at::Tensor& in, int64_t height, Interpolation interpolation) {
  const int64_t channels = in.size(0), in_height = in.size(1), width = in.size(2);
  const auto taps = precompute_taps(in_height, height, interpolation);
  auto out = at::empty({channels, height, width}, in.options());
  std::vector<int32_t> sums(width);
  for (int64_t c = 0; c < channels; ++c) {
    const uint8_t* src = in.data_ptr<uint8_t>() + c * in_height * width;
    for (int64_t yy = 0; yy < height; ++yy) {
      std::fill(sums.begin(), sums.end(), 1 << (kPrecisionBits - 1));
      for (int64_t y = 0; y < taps.count[yy]; ++y) {
        const int32_t k = taps.weights[yy * taps.ksize + y];
        const uint8_t* line = src + (taps.first[yy] + y) * width;
        for (int64_t x = 0; x < width; ++x) sums[x] += line[x] * k;
      }
      uint8_t* dst = out.data_ptr<uint8_t>() + (c * height + yy) * width;
      for (int64_t x = 0; x < width; ++x) dst[x] = clip8_fixed(sums[x]);
    }
  }
  return out;
}

}  // namespace

at::Tensor pil_resize(const at::Tensor& image, int64_t height, int64_t width, Interpolation interpolation) {
  TORCH_CHECK(image.dim() == 3 && image.scalar_type() == at::kByte, "pil_resize: expected a uint8 image [C, H, W], got ",
              image.scalar_type(), " ", image.sizes());
  TORCH_CHECK(height > 0 && width > 0, "pil_resize: output size ", height, "x", width, " is empty");
  const int64_t in_height = image.size(1), in_width = image.size(2);
  // ImagingResampleInner skips a pass whose size does not change, and (Pillow 13) runs the vertical
  // pass first when the height shrinks but the width does not.
  const bool horizontal_first = !(width >= in_width && height < in_height);
  auto out = image.contiguous();
  if (horizontal_first && width != in_width) out = horizontal_pass(out, width, interpolation);
  if (height != in_height) out = vertical_pass(out, height, interpolation);
  if (!horizontal_first && width != in_width) out = horizontal_pass(out, width, interpolation);
  return out;
}

}  // namespace lowbit::data
