#include <lowbit/csrc/kernels/binary_conv.h>

#include <lowbit/csrc/kernels/binary_gemm.h>
#include <lowbit/csrc/kernels/cpu/narrow_gemm.h>
#include <lowbit/csrc/kernels/cpu/simd.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace lowbit::kernels {
namespace binary_conv_detail {  // named: unity builds join files

int64_t words_of(int64_t channels) { return (channels + 63) / 64; }

int64_t output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding) {
  return (in + 2 * padding - kernel) / stride + 1;
}


// [N * oh * ow, taps * words]: each output position's taps, a word run per tap; padded taps all +1
// (0 bits).
at::Tensor packed_im2col(const at::Tensor& x, const BinaryConvGeometry& g, int64_t oh, int64_t ow) {
  const int64_t n = x.size(0), h = x.size(1), w = x.size(2), words = x.size(3), taps = g.kernel[0] * g.kernel[1];
  auto cols = at::empty({n * oh * ow, taps * words}, x.options());
  const auto* xp = x.const_data_ptr<int64_t>();
  int64_t* cp = cols.mutable_data_ptr<int64_t>();
  at::parallel_for(0, n * oh, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / oh, oy = row % oh;
      for (int64_t ox = 0; ox < ow; ++ox) {
        int64_t* dst = cp + (row * ow + ox) * taps * words;
        for (int64_t ky = 0; ky < g.kernel[0]; ++ky) {
          const int64_t iy = oy * g.stride[0] - g.padding[0] + ky;
          for (int64_t kx = 0; kx < g.kernel[1]; ++kx, dst += words) {
            const int64_t ix = ox * g.stride[1] - g.padding[1] + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) std::memset(dst, 0, words * sizeof(int64_t));
            else std::memcpy(dst, xp + ((b * h + iy) * w + ix) * words, words * sizeof(int64_t));
          }
        }
      }
    }
  });
  return cols;
}

// y [N, oh, ow, C_out] counted each padded tap as +1 x w: subtracts its tap sums, at the border
// positions only (h, w: the input's size).
void subtract_padded_taps(at::Tensor& y, const at::Tensor& tap_sums, const BinaryConvGeometry& g, int64_t h,
                          int64_t w) {
  const int64_t oh = y.size(1), ow = y.size(2), out = y.size(3), taps = g.kernel[0] * g.kernel[1];
  const auto* sums = tap_sums.const_data_ptr<int32_t>();
  int32_t* yp = y.mutable_data_ptr<int32_t>();
  at::parallel_for(0, y.size(0) * oh, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t oy = row % oh;
      for (int64_t ox = 0; ox < ow; ++ox) {
        for (int64_t ky = 0; ky < g.kernel[0]; ++ky) {
          const int64_t iy = oy * g.stride[0] - g.padding[0] + ky;
          for (int64_t kx = 0; kx < g.kernel[1]; ++kx) {
            const int64_t ix = ox * g.stride[1] - g.padding[1] + kx;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) continue;
            int32_t* dst = yp + (row * ow + ox) * out;
            const int64_t tap = ky * g.kernel[1] + kx;
            for (int64_t o = 0; o < out; ++o) dst[o] -= sums[o * taps + tap];
          }
        }
      }
    }
  });
}

}  // namespace binary_conv_detail

std::tuple<at::Tensor, at::Tensor> pack_conv_weight(const at::Tensor& w) {
  TORCH_CHECK(w.dim() == 4 && at::isFloatingType(w.scalar_type()),
              "pack_conv_weight: expected a floating-point weight [C_out, C_in, kh, kw], got ", w.scalar_type(), " ",
              w.sizes());
  const int64_t out = w.size(0), in = w.size(1), taps = w.size(2) * w.size(3);
  const auto per_tap = w.permute({0, 2, 3, 1}).reshape({out * taps, in});  // rows (o, ky, kx), C_in along them
  const auto bits = pack_sign_bits(per_tap).reshape({out, -1});
  const auto tap_sums = at::where(per_tap < 0, -1, 1).sum(1).reshape({out, taps}).to(at::kInt);
  return {bits, tap_sums};
}

at::Tensor pack_pixels(const at::Tensor& x, const std::optional<at::Tensor>& shift) {
  TORCH_CHECK(x.dim() == 4 && at::isFloatingType(x.scalar_type()),
              "pack_pixels: expected a floating-point input [N, C, H, W], got ", x.scalar_type(), " ", x.sizes());
  const int64_t c = x.size(1);
  return pack_sign_bits(x.permute({0, 2, 3, 1}).reshape({-1, c}), shift)
      .reshape({x.size(0), x.size(2), x.size(3), -1});
}

namespace binary_conv_detail {

struct EpilogueConstants {
  const float *alpha, *scale, *shift, *gamma, *slope, *offset;
};

// `rows` pixels of c channels (binary_conv_epilogue's formula), vectorised along the channels.
template <bool kResidual>
LOWBIT_CPU_CLONES void epilogue_rows(const int32_t* __restrict acc, const float* __restrict residual,
                                     float* __restrict out, int64_t rows, int64_t c, EpilogueConstants k) {
  const float *__restrict alpha = k.alpha, *__restrict scale = k.scale, *__restrict shift = k.shift,
              *__restrict gamma = k.gamma, *__restrict slope = k.slope, *__restrict offset = k.offset;
  for (int64_t p = 0; p < rows; ++p) {
    const int64_t base = p * c;
    LOWBIT_SIMD
    for (int64_t o = 0; o < c; ++o) {
      const float x = static_cast<float>(acc[base + o]) * alpha[o] * scale[o] + shift[o];
      const float t = (kResidual ? x + residual[base + o] : x) + gamma[o];
      out[base + o] = (t > 0.f ? t : slope[o] * t) + offset[o];
    }
  }
}

// The output [n, c, h, w] (channels-last), the residual as float channels-last and the constants
// as float pointers (kept alive by `tensors`), checked against c channels.
struct EpilogueOperands {
  at::Tensor y, residual;
  std::array<at::Tensor, 6> tensors;
  EpilogueConstants constants() const {
    return {tensors[0].const_data_ptr<float>(), tensors[1].const_data_ptr<float>(), tensors[2].const_data_ptr<float>(),
            tensors[3].const_data_ptr<float>(), tensors[4].const_data_ptr<float>(), tensors[5].const_data_ptr<float>()};
  }
};

EpilogueOperands epilogue_operands(const ConvEpilogue& e, const at::Tensor& residual, int64_t n, int64_t c, int64_t h,
                                   int64_t w) {
  EpilogueOperands o;
  o.tensors = {e.alpha, e.scale, e.shift, e.gamma, e.slope, e.offset};
  for (auto& t : o.tensors) {
    TORCH_CHECK(t.defined() && t.numel() == c, "binary_conv_epilogue: expected ", c, " values per constant, got ",
                t.defined() ? t.numel() : 0);
    t = t.to(at::kFloat).contiguous();
  }
  o.y = at::empty({n, c, h, w}, at::TensorOptions(at::kFloat).memory_format(at::MemoryFormat::ChannelsLast));
  if (residual.defined()) {
    TORCH_CHECK(residual.sizes() == o.y.sizes(), "binary_conv_epilogue: residual shape ", residual.sizes(),
                " != output shape ", o.y.sizes());
    o.residual = residual.to(at::kFloat).contiguous(at::MemoryFormat::ChannelsLast);
  }
  return o;
}

// The shapes of a binary convolution, its operands checked.
struct ConvShape {
  int64_t n, h, w, out, oh, ow, words, taps;
};

ConvShape conv_shape(const at::Tensor& x_pixels, const at::Tensor& w_bits, const at::Tensor& tap_sums,
                     const BinaryConvGeometry& g) {
  const int64_t words = words_of(g.in_channels), taps = g.kernel[0] * g.kernel[1];
  TORCH_CHECK(x_pixels.dim() == 4 && x_pixels.scalar_type() == at::kLong && x_pixels.size(3) == words,
              "binary_conv2d: expected packed pixels int64 [N, H, W, ", words, "] for ", g.in_channels,
              " input channels (pack_pixels), got ", x_pixels.scalar_type(), " ", x_pixels.sizes());
  TORCH_CHECK(w_bits.dim() == 2 && w_bits.scalar_type() == at::kLong && w_bits.size(1) == taps * words,
              "binary_conv2d: expected a packed weight int64 [C_out, ", taps * words, "] (pack_conv_weight), got ",
              w_bits.scalar_type(), " ", w_bits.sizes());
  TORCH_CHECK(tap_sums.scalar_type() == at::kInt && tap_sums.sizes() == at::IntArrayRef({w_bits.size(0), taps}),
              "binary_conv2d: expected tap sums int32 [", w_bits.size(0), ", ", taps, "] (pack_conv_weight), got ",
              tap_sums.scalar_type(), " ", tap_sums.sizes());
  TORCH_CHECK(x_pixels.is_cpu() && w_bits.is_cpu() && tap_sums.is_cpu(),
              "binary_conv2d: CPU tensors only so far, got the input on ", x_pixels.device(), ", the weight on ",
              w_bits.device());
  const int64_t h = x_pixels.size(1), w = x_pixels.size(2);
  const int64_t oh = output_size(h, g.kernel[0], g.stride[0], g.padding[0]);
  const int64_t ow = output_size(w, g.kernel[1], g.stride[1], g.padding[1]);
  TORCH_CHECK(oh > 0 && ow > 0, "binary_conv2d: a ", h, "x", w, " input is smaller than the ", g.kernel[0], "x",
              g.kernel[1], " kernel with padding ", g.padding[0], "x", g.padding[1]);
  return {x_pixels.size(0), h, w, w_bits.size(0), oh, ow, words, taps};
}

// What the padded taps of an output position added (counted as +1 x w): output rows fall into
// classes by which kernel rows, and which kernel columns, lie outside the image; per pair of
// classes, the sum of those taps' tap_sums per output channel. Interior positions: none.
class PaddingCorrection {
 public:
  PaddingCorrection(const at::Tensor& tap_sums, const BinaryConvGeometry& g, const ConvShape& s) : out_(s.out) {
    const auto ys = classes(s.oh, g.kernel[0], g.stride[0], g.padding[0], s.h, y_class_);
    const auto xs = classes(s.ow, g.kernel[1], g.stride[1], g.padding[1], s.w, x_class_);
    x_classes_ = static_cast<int64_t>(xs.size());
    table_.assign(ys.size() * xs.size() * static_cast<size_t>(out_), 0);
    const auto sums = tap_sums.contiguous();
    const int32_t* ts = sums.const_data_ptr<int32_t>();
    for (size_t yc = 0; yc < ys.size(); ++yc) {
      for (size_t xc = 0; xc < xs.size(); ++xc) {
        int32_t* row = table_.data() + (yc * xs.size() + xc) * static_cast<size_t>(out_);
        for (int64_t ky = 0; ky < g.kernel[0]; ++ky) {
          for (int64_t kx = 0; kx < g.kernel[1]; ++kx) {
            if (!((ys[yc] >> ky) & 1U) && !((xs[xc] >> kx) & 1U)) continue;
            for (int64_t o = 0; o < out_; ++o) row[o] += ts[o * s.taps + ky * g.kernel[1] + kx];
          }
        }
      }
    }
  }

  // The correction of output position (oy, ox), or null where no tap is padded.
  const int32_t* at(int64_t oy, int64_t ox) const {
    const int64_t yc = y_class_[static_cast<size_t>(oy)], xc = x_class_[static_cast<size_t>(ox)];
    return yc == 0 && xc == 0 ? nullptr : table_.data() + (yc * x_classes_ + xc) * out_;
  }

 private:
  // Per output index, the class of its set of kernel offsets outside [0, size); class 0: none.
  static std::vector<uint64_t> classes(int64_t outputs, int64_t kernel, int64_t stride, int64_t padding, int64_t size,
                                       std::vector<int64_t>& class_of) {
    TORCH_CHECK(kernel <= 64, "binary_conv2d: kernels up to 64 wide, got ", kernel);
    std::vector<uint64_t> sets = {0};
    for (int64_t o = 0; o < outputs; ++o) {
      uint64_t set = 0;
      for (int64_t k = 0; k < kernel; ++k) {
        const int64_t i = o * stride - padding + k;
        if (i < 0 || i >= size) set |= uint64_t{1} << k;
      }
      const auto it = std::find(sets.begin(), sets.end(), set);
      class_of.push_back(it - sets.begin());
      if (it == sets.end()) sets.push_back(set);
    }
    return sets;
  }

  int64_t out_, x_classes_ = 1;
  std::vector<int64_t> y_class_, x_class_;
  std::vector<int32_t> table_;
};

#if LOWBIT_NARROW_GEMM
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The narrow GEMM's store (cpu/narrow_gemm.h) for binary_conv2d_epilogue: the padding correction,
// then binary_conv_epilogue's formula, 8 channels per vector, into the float output; with
// `signs`, also the output's signs (of y + signs_shift) packed as pack_pixels packs them, 8
// channels a byte of the pixel's words.
struct EpilogueStore {
  EpilogueConstants k;
  const float* residual;
  float* out;
  int64_t channels, oh, ow;
  const PaddingCorrection* padding;
  uint8_t* signs;             // null: none
  int64_t sign_bytes;         // per pixel
  const float* signs_shift;   // null: 0

  struct Row {
    const float* residual;
    float* out;
    const int32_t* correction;
    uint8_t* signs;
  };

  LOWBIT_NARROW_TARGET Row row(int64_t i) const {
    const int64_t ox = i % ow, oy = (i / ow) % oh;
    return {residual ? residual + i * channels : nullptr, out + i * channels, padding->at(oy, ox),
            signs ? signs + i * sign_bytes : nullptr};
  }

  LOWBIT_NARROW_TARGET void store(const Row& r, int64_t j, __m256i dots, __mmask8 m) const {
    if (r.correction) dots = _mm256_sub_epi32(dots, _mm256_maskz_loadu_epi32(m, r.correction + j));
    const __m256 c = _mm256_mul_ps(_mm256_cvtepi32_ps(dots), _mm256_maskz_loadu_ps(m, k.alpha + j));
    const __m256 x = _mm256_add_ps(_mm256_mul_ps(c, _mm256_maskz_loadu_ps(m, k.scale + j)),
                                   _mm256_maskz_loadu_ps(m, k.shift + j));
    const __m256 sum = r.residual ? _mm256_add_ps(x, _mm256_maskz_loadu_ps(m, r.residual + j)) : x;
    const __m256 t = _mm256_add_ps(sum, _mm256_maskz_loadu_ps(m, k.gamma + j));
    const __mmask8 positive = _mm256_cmp_ps_mask(t, _mm256_setzero_ps(), _CMP_GT_OQ);
    const __m256 p = _mm256_mask_blend_ps(positive, _mm256_mul_ps(_mm256_maskz_loadu_ps(m, k.slope + j), t), t);
    const __m256 y = _mm256_add_ps(p, _mm256_maskz_loadu_ps(m, k.offset + j));
    _mm256_mask_storeu_ps(r.out + j, m, y);
    if (r.signs) {
      const __m256 v = signs_shift ? _mm256_add_ps(y, _mm256_maskz_loadu_ps(m, signs_shift + j)) : y;
      r.signs[j / 8] = static_cast<uint8_t>(_mm256_cmp_ps_mask(v, _mm256_setzero_ps(), _CMP_LT_OQ) & m);
    }
  }
};
#pragma GCC diagnostic pop
#endif

}  // namespace binary_conv_detail

at::Tensor binary_conv_epilogue(const at::Tensor& acc, const ConvEpilogue& e, const at::Tensor& residual) {
  TORCH_CHECK(acc.dim() == 4 && acc.scalar_type() == at::kInt && acc.is_cpu(),
              "binary_conv_epilogue: expected CPU int32 sums [N, H, W, C], got ", acc.scalar_type(), " ", acc.sizes());
  const int64_t n = acc.size(0), h = acc.size(1), w = acc.size(2), c = acc.size(3);
  const auto o = binary_conv_detail::epilogue_operands(e, residual, n, c, h, w);
  const auto sums = acc.contiguous();
  const int32_t* ap = sums.const_data_ptr<int32_t>();
  const float* rp = o.residual.defined() ? o.residual.const_data_ptr<float>() : nullptr;
  float* yp = o.y.mutable_data_ptr<float>();
  const auto constants = o.constants();
  at::parallel_for(0, n * h * w, std::max<int64_t>(1, 16384 / c), [&](int64_t begin, int64_t end) {
    const int64_t at = begin * c;
    if (rp) {
      binary_conv_detail::epilogue_rows<true>(ap + at, rp + at, yp + at, end - begin, c, constants);
    } else {
      binary_conv_detail::epilogue_rows<false>(ap + at, nullptr, yp + at, end - begin, c, constants);
    }
  });
  return o.y;
}

at::Tensor binary_conv2d(const at::Tensor& x_pixels, const at::Tensor& w_bits, const at::Tensor& tap_sums,
                         const BinaryConvGeometry& g) {
  namespace d = binary_conv_detail;
  const auto s = d::conv_shape(x_pixels, w_bits, tap_sums, g);
  const auto cols = d::packed_im2col(x_pixels.contiguous(), g, s.oh, s.ow);
  auto y = binary_gemm(cols, w_bits, s.taps * g.in_channels).view({s.n, s.oh, s.ow, s.out});
  d::subtract_padded_taps(y, tap_sums.contiguous(), g, s.h, s.w);
  return y;
}

at::Tensor binary_conv2d_epilogue(const at::Tensor& x_pixels, const at::Tensor& w_bits, const at::Tensor& tap_sums,
                                  const BinaryConvGeometry& g, const ConvEpilogue& e, const at::Tensor& residual,
                                  at::Tensor* output_pixels, const std::optional<at::Tensor>& output_shift) {
  namespace d = binary_conv_detail;
  const auto s = d::conv_shape(x_pixels, w_bits, tap_sums, g);
  const int64_t rows = s.n * s.oh * s.ow;
  at::Tensor shift;
  if (output_pixels && output_shift) {
    TORCH_CHECK(output_shift->numel() == s.out, "binary_conv2d_epilogue: expected an output shift of ", s.out,
                " values, got ", output_shift->numel());
    shift = output_shift->to(at::kFloat).contiguous();
  }
#if LOWBIT_NARROW_GEMM
  if (cpu_binary_isa() == BinaryIsa::Avx512 && cpu::narrow_gemm_fits(rows, s.out, s.taps * s.words)) {
    const auto o = d::epilogue_operands(e, residual, s.n, s.out, s.oh, s.ow);
    const auto cols = d::packed_im2col(x_pixels.contiguous(), g, s.oh, s.ow);
    const auto bt = w_bits.t().contiguous();
    const d::PaddingCorrection padding(tap_sums, g, s);
    const int64_t out_words = d::words_of(s.out);
    if (output_pixels) *output_pixels = at::zeros({s.n, s.oh, s.ow, out_words}, x_pixels.options());
    const d::EpilogueStore store{o.constants(),
                                 o.residual.defined() ? o.residual.const_data_ptr<float>() : nullptr,
                                 o.y.mutable_data_ptr<float>(),
                                 s.out,
                                 s.oh,
                                 s.ow,
                                 &padding,
                                 output_pixels ? reinterpret_cast<uint8_t*>(output_pixels->mutable_data_ptr<int64_t>())
                                               : nullptr,
                                 out_words * 8,
                                 shift.defined() ? shift.const_data_ptr<float>() : nullptr};
    const auto* ap = reinterpret_cast<const uint64_t*>(cols.const_data_ptr<int64_t>());
    const auto* bp = reinterpret_cast<const uint64_t*>(bt.const_data_ptr<int64_t>());
    at::parallel_for(0, rows, 64, [&](int64_t begin, int64_t end) {
      cpu::narrow::rows(ap, bp, s.taps * s.words, s.out, s.taps * g.in_channels, begin, end, store);
    });
    return o.y;
  }
#endif
  (void)rows;
  auto y = binary_conv_epilogue(binary_conv2d(x_pixels, w_bits, tap_sums, g), e, residual);
  if (output_pixels) *output_pixels = pack_pixels(y, shift.defined() ? std::optional(shift) : std::nullopt);
  return y;
}

}  // namespace lowbit::kernels
