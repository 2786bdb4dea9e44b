#include <lowbit/csrc/data/pil_affine.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace lowbit::data {
namespace {

// Geometry.c FLOOR: (int) truncates, so negative values take floor().
int64_t floor_coordinate(double v) { return v < 0.0 ? static_cast<int64_t>(std::floor(v)) : static_cast<int64_t>(v); }

// Geometry.c BILINEAR: a + (b - a) * d.
double geometry_lerp(double a, double b, double d) { return a + (b - a) * d; }

// Geometry.c BICUBIC: Keys' cubic convolution with a = -1 through the four samples v1..v4 at
// offset d from v2.
double geometry_cubic(double v1, double v2, double v3, double v4, double d) {
  const double p1 = v2;
  const double p2 = -v1 + v3;
  const double p3 = 2 * (v1 - v2) + v3 - v4;
  const double p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

// Python's round(x, 15): the correctly rounded decimal with 15 digits after the point, read back.
double round_15_digits(double x) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.15f", x);
  return std::strtod(text, nullptr);
}

// Python's float modulo, x % 360.0: the result takes the divisor's sign.
double python_mod_360(double x) {
  double mod = std::fmod(x, 360.0);
  if (mod != 0.0) {
    if (mod < 0) mod += 360.0;
  } else {
    mod = std::copysign(0.0, 360.0);
  }
  return mod;
}

}  // namespace

at::Tensor affine_transform(const at::Tensor& image, const std::array<double, 6>& matrix,
                            Interpolation interpolation, const std::array<uint8_t, 3>& fill) {
  TORCH_CHECK(image.dim() == 3 && image.scalar_type() == at::kByte && image.size(0) <= 3,
              "affine_transform: expected a uint8 image [C <= 3, H, W], got ", image.scalar_type(), " ", image.sizes());
  const auto src = image.contiguous();
  const int64_t channels = src.size(0), height = src.size(1), width = src.size(2);
  auto out = at::empty_like(src);
  const uint8_t* in = src.data_ptr<uint8_t>();
  uint8_t* dst = out.data_ptr<uint8_t>();
  const int64_t plane = height * width;
  const bool bicubic = interpolation == Interpolation::Bicubic;
  const int64_t taps = bicubic ? 4 : 2;
  const auto [a, b, c, d, e, f] = matrix;
  for (int64_t y = 0; y < height; ++y) {
    for (int64_t x = 0; x < width; ++x) {
      const int64_t at_out = y * width + x;
      // affine_transform: the output pixel's centre mapped into the input.
      const double xin = a * (x + 0.5) + b * (y + 0.5) + c;
      const double yin = d * (x + 0.5) + e * (y + 0.5) + f;
      if (!(xin >= 0.0 && xin < width && yin >= 0.0 && yin < height)) {
        for (int64_t ch = 0; ch < channels; ++ch) dst[ch * plane + at_out] = fill[ch];
        continue;
      }
      const int64_t ix = floor_coordinate(xin - 0.5), iy = floor_coordinate(yin - 0.5);
      const double dx = (xin - 0.5) - ix, dy = (yin - 0.5) - iy;
      // The taps' columns and rows, clamped as Geometry.c's XCLIP / YCLIP (rows past the image
      // repeat the previous row there, which is the same as clamping them).
      const int64_t first = bicubic ? -1 : 0;
      int64_t columns[4], rows[4];
      for (int64_t t = 0; t < taps; ++t) {
        columns[t] = std::clamp<int64_t>(ix + first + t, 0, width - 1);
        rows[t] = std::clamp<int64_t>(iy + first + t, 0, height - 1) * width;
      }
      for (int64_t ch = 0; ch < channels; ++ch) {
        const uint8_t* p = in + ch * plane;
        if (!bicubic) {
          const double top = geometry_lerp(p[rows[0] + columns[0]], p[rows[0] + columns[1]], dx);
          const double bottom = geometry_lerp(p[rows[1] + columns[0]], p[rows[1] + columns[1]], dx);
          dst[ch * plane + at_out] = static_cast<uint8_t>(geometry_lerp(top, bottom, dy));
          continue;
        }
        double v[4];
        for (int64_t t = 0; t < 4; ++t) {
          const uint8_t* row = p + rows[t];
          v[t] = geometry_cubic(row[columns[0]], row[columns[1]], row[columns[2]], row[columns[3]], dx);
        }
        const double value = geometry_cubic(v[0], v[1], v[2], v[3], dy);
        dst[ch * plane + at_out] = value <= 0.0 ? 0 : value >= 255.0 ? 255 : static_cast<uint8_t>(value);
      }
    }
  }
  return out;
}

at::Tensor rotate(const at::Tensor& image, double degrees, Interpolation interpolation,
                  const std::array<uint8_t, 3>& fill) {
  TORCH_CHECK(image.dim() == 3, "rotate: expected an image [C, H, W], got shape ", image.sizes());
  // Image.rotate (expand=False, centre (w / 2, h / 2), no post translation).
  const double angle = -(python_mod_360(degrees) * (M_PI / 180.0));
  const double cos_t = round_15_digits(std::cos(angle)), sin_t = round_15_digits(std::sin(angle));
  std::array<double, 6> matrix = {cos_t, sin_t, 0.0, round_15_digits(-std::sin(angle)), cos_t, 0.0};
  const double cx = image.size(2) / 2.0, cy = image.size(1) / 2.0;
  matrix[2] = matrix[0] * -cx + matrix[1] * -cy + matrix[2] + cx;
  matrix[5] = matrix[3] * -cx + matrix[4] * -cy + matrix[5] + cy;
  return affine_transform(image, matrix, interpolation, fill);
}

}  // namespace lowbit::data
