#include <lowbit/csrc/kernels/cpu/channel_runs.h>
#include <lowbit/csrc/kernels/cpu/simd.h>
#include <lowbit/csrc/kernels/rprelu.h>
#include <lowbit/csrc/ops/bit_planes.h>
#include <lowbit/csrc/ops/rprelu_math.h>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>

#include <array>
#include <cstring>
#include <vector>

namespace lowbit::kernels::cpu {
namespace {

// A block's 1[t > 0] as one byte per element while its runs are computed, then as bits. Blocks hold
// a multiple of 8 elements, so every block owns whole bytes of the bit tensor.
static_assert(kChannelRunBlock % 8 == 0);
using Flags = std::array<uint8_t, kChannelRunBlock>;

// Flags (0 or 1) to bits, bit k of a byte from flag k: eight flags read as one little-endian word,
// gathered into its top byte by one multiplication.
void pack_flags(const uint8_t* flags, int64_t count, uint8_t* bits) {
  int64_t byte = 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  for (; (byte + 1) * 8 <= count; ++byte) {
    uint64_t word;
    std::memcpy(&word, flags + byte * 8, 8);
    bits[byte] = static_cast<uint8_t>((word * 0x0102040810204080ULL) >> 56);
  }
#endif
  for (; byte * 8 < count; ++byte) {
    uint8_t b = 0;
    for (int64_t k = 0; k < 8 && byte * 8 + k < count; ++k) b |= static_cast<uint8_t>(flags[byte * 8 + k] << k);
    bits[byte] = b;
  }
}

// Bits back to flags: the byte copied into every byte of a word, each masked to its own bit, then
// every nonzero byte made 1 (adding 0x7f sets bit 7 of a nonzero byte and never carries).
void unpack_flags(const uint8_t* bits, int64_t count, uint8_t* flags) {
  int64_t byte = 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  for (; (byte + 1) * 8 <= count; ++byte) {
    const uint64_t spread = (bits[byte] * 0x0101010101010101ULL) & 0x8040201008040201ULL;
    const uint64_t word = ((spread + 0x7f7f7f7f7f7f7f7fULL) >> 7) & 0x0101010101010101ULL;
    std::memcpy(flags + byte * 8, &word, 8);
  }
#endif
  for (int64_t i = byte * 8; i < count; ++i) flags[i] = (bits[i / 8] >> (i % 8)) & 1;
}

// One run of a channel; with kNormalise, x is a batch norm's input (scale and shift its constants).
template <typename T, bool kNormalise, bool kResidual, bool kKeepInput>
LOWBIT_CPU_CLONES void forward_run(const T* x, const T* r, T* y, T* t_out, uint8_t* positive, int64_t n,
                                   at::opmath_type<T> scale, at::opmath_type<T> shift, at::opmath_type<T> gamma,
                                   at::opmath_type<T> beta, at::opmath_type<T> zeta) {
  LOWBIT_SIMD
  for (int64_t i = 0; i < n; ++i) {
    const T xi = kNormalise ? ops::batch_norm_value(x[i], scale, shift) : x[i];
    const T t = ops::rprelu_input(xi, kResidual ? r[i] : T(0), gamma, kResidual);
    y[i] = ops::rprelu_value(t, beta, zeta);
    positive[i] = static_cast<at::opmath_type<T>>(t) > 0;
    if constexpr (kKeepInput) t_out[i] = t;
  }
}

template <typename T, bool kNormalise>
auto forward_run_for(bool residual, bool keep_input) {
  return residual ? (keep_input ? forward_run<T, kNormalise, true, true> : forward_run<T, kNormalise, true, false>)
                  : (keep_input ? forward_run<T, kNormalise, false, true> : forward_run<T, kNormalise, false, false>);
}

// Writes dL/dt of one run and returns its sums of dL/dgamma, dL/dbeta and dL/dzeta terms.
template <typename T, bool kSavedIsOutput>
LOWBIT_CPU_CLONES std::array<double, 3> backward_run(const T* g, const T* saved, const uint8_t* positive, T* grad_t,
                                                     int64_t n, at::opmath_type<T> beta, at::opmath_type<T> zeta,
                                                     at::opmath_type<T> inv_beta) {
  using acc_t = at::opmath_type<T>;
  return lane_sums<3>(n, [&](int64_t i) {
    const acc_t gi = g[i];
    const bool pos = positive[i] != 0;
    const T gt = pos ? g[i] : T(beta * gi);
    grad_t[i] = gt;
    const acc_t t = ops::rprelu_negative_input(saved[i], zeta, inv_beta, kSavedIsOutput);
    return std::array<double, 3>{static_cast<double>(gt), pos ? 0.0 : static_cast<double>(gi * t),
                                 static_cast<double>(gi)};
  });
}

template <typename T>
void forward_loops(const ChannelLayout& layout, const T* x, const T* r, const T* scale, const T* shift, const T* gamma,
                   const T* beta, const T* zeta, T* y, T* t_out, uint8_t* bits) {
  const auto run = scale ? forward_run_for<T, true>(r, t_out) : forward_run_for<T, false>(r, t_out);
  for_each_block(layout, [&](int64_t block) {
    Flags flags;
    const int64_t start = block * kChannelRunBlock;
    for_each_run_of_block(layout, block, [&](int64_t c, int64_t first, int64_t last) {
      run(x + first, r ? r + first : nullptr, y + first, t_out ? t_out + first : nullptr, flags.data() + (first - start),
          last - first, scale ? scale[c] : T(1), shift ? shift[c] : T(0), gamma[c], beta[c], zeta[c]);
    });
    pack_flags(flags.data(), std::min(kChannelRunBlock, numel_of(layout) - start), bits + start / 8);
  });
}

// The fused batch norm's backward, pass 1 over one run: writes dL/dt and returns the sums of the
// dL/dgamma, dL/dbeta, dL/dzeta and dL/dweight terms.
template <typename T, bool kResidual>
LOWBIT_CPU_CLONES std::array<double, 4> normalised_backward_run(const T* g, const T* y, const T* r,
                                                                const uint8_t* positive, T* grad_t, int64_t n,
                                                                const ops::BatchNormRPReLUChannel<at::opmath_type<T>>& ch) {
  using acc_t = at::opmath_type<T>;
  return lane_sums<4>(n, [&](int64_t i) {
    const acc_t gi = g[i];
    const bool pos = positive[i] != 0;
    const T gt = pos ? g[i] : T(ch.beta * gi);
    grad_t[i] = gt;
    const acc_t t = ops::recovered_input(y[i], pos, ch);
    const acc_t c_hat = ops::normalised_input(t, kResidual ? r[i] : T(0), ch);
    return std::array<double, 4>{static_cast<double>(gt), pos ? 0.0 : static_cast<double>(gi * t),
                                 static_cast<double>(gi), static_cast<double>(acc_t(gt) * c_hat)};
  });
}

// Pass 2 over one run: dL/dx.
template <typename T, bool kResidual>
LOWBIT_CPU_CLONES void normalised_input_grad_run(const T* grad_t, const T* y, const T* r, const uint8_t* positive,
                                                 T* grad_x, int64_t n,
                                                 const ops::BatchNormRPReLUChannel<at::opmath_type<T>>& ch) {
  LOWBIT_SIMD
  for (int64_t i = 0; i < n; ++i) {
    const auto c_hat = ops::normalised_input(ops::recovered_input(y[i], positive[i] != 0, ch), kResidual ? r[i] : T(0), ch);
    grad_x[i] = ops::batch_norm_input_grad(grad_t[i], c_hat, ch);
  }
}

// Calls fn(block, the run's flags, channel, first, last) for every run, the block's bits unpacked.
template <typename Fn>
void for_each_run_with_flags(const ChannelLayout& layout, const uint8_t* bits, const Fn& fn) {
  for_each_block(layout, [&](int64_t block) {
    Flags flags;
    const int64_t start = block * kChannelRunBlock;
    unpack_flags(bits + start / 8, std::min(kChannelRunBlock, numel_of(layout) - start), flags.data());
    for_each_run_of_block(layout, block, [&](int64_t c, int64_t first, int64_t last) {
      fn(block, flags.data() + (first - start), c, first, last);
    });
  });
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> rprelu_forward(const at::Tensor& x, const at::Tensor& residual,
                                                  const at::Tensor& gamma, const at::Tensor& beta,
                                                  const at::Tensor& zeta, bool keep_input, const at::Tensor& scale,
                                                  const at::Tensor& shift, const at::Tensor& y) {
  const auto layout = ChannelLayout::in_memory(x, beta.numel());
  auto t = keep_input ? at::empty_like(x) : at::Tensor();
  auto bits = at::empty({ops::plane_bytes(x.numel())}, x.options().dtype(at::kByte));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "rprelu_forward_cpu", [&] {
    const auto data_or_null = [](const at::Tensor& t) { return t.defined() ? t.const_data_ptr<scalar_t>() : nullptr; };
    forward_loops<scalar_t>(layout, x.const_data_ptr<scalar_t>(), data_or_null(residual), data_or_null(scale),
                            data_or_null(shift), gamma.const_data_ptr<scalar_t>(), beta.const_data_ptr<scalar_t>(),
                            zeta.const_data_ptr<scalar_t>(), y.mutable_data_ptr<scalar_t>(),
                            keep_input ? t.mutable_data_ptr<scalar_t>() : nullptr, bits.mutable_data_ptr<uint8_t>());
  });
  return {bits, t};
}

std::tuple<at::Tensor, at::Tensor> rprelu_backward(const at::Tensor& grad, const at::Tensor& saved,
                                                   const at::Tensor& positive, const at::Tensor& beta,
                                                   const at::Tensor& zeta, bool saved_is_output) {
  const auto layout = ChannelLayout::in_memory(saved, beta.numel());
  auto grad_t = at::empty_like(saved);
  auto partial = at::zeros({blocks_of(layout), layout.channels, 3}, saved.options().dtype(at::kDouble));
  double* partial_p = partial.mutable_data_ptr<double>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, saved.scalar_type(), "rprelu_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* gp = grad.const_data_ptr<scalar_t>();
    const scalar_t* sp = saved.const_data_ptr<scalar_t>();
    const scalar_t* bp = beta.const_data_ptr<scalar_t>();
    const scalar_t* zp = zeta.const_data_ptr<scalar_t>();
    const uint8_t* bits = positive.const_data_ptr<uint8_t>();
    scalar_t* gtp = grad_t.mutable_data_ptr<scalar_t>();
    const auto run = saved_is_output ? backward_run<scalar_t, true> : backward_run<scalar_t, false>;
    for_each_run_with_flags(layout, bits, [&](int64_t block, const uint8_t* flags, int64_t c, int64_t first, int64_t last) {
      const acc_t b = bp[c];
      const auto sums =
          run(gp + first, sp + first, flags, gtp + first, last - first, b, static_cast<acc_t>(zp[c]), acc_t(1) / b);
      double* p = partial_p + (block * layout.channels + c) * 3;
      for (int k = 0; k < 3; ++k) p[k] += sums[k];
    });
  });
  return {grad_t, partial.sum(0).t().contiguous()};  // [3, C]
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> batch_norm_rprelu_backward(
    const at::Tensor& grad, const at::Tensor& y, const at::Tensor& positive, const at::Tensor& residual,
    const at::Tensor& gamma, const at::Tensor& beta, const at::Tensor& zeta, const at::Tensor& weight,
    const at::Tensor& bias, const at::Tensor& invstd, bool batch_statistics) {
  const auto layout = ChannelLayout::in_memory(y, beta.numel());
  auto grad_t = at::empty_like(y), grad_x = at::empty_like(y);
  auto partial = at::zeros({blocks_of(layout), layout.channels, 4}, y.options().dtype(at::kDouble));
  double* partial_p = partial.mutable_data_ptr<double>();
  at::Tensor sums;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, y.scalar_type(), "batch_norm_rprelu_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const auto value = [](const at::Tensor& t, int64_t c) { return static_cast<acc_t>(t.const_data_ptr<scalar_t>()[c]); };
    std::vector<ops::BatchNormRPReLUChannel<acc_t>> channels(layout.channels);
    for (int64_t c = 0; c < layout.channels; ++c) {
      auto& ch = channels[c];
      ch.beta = value(beta, c), ch.inv_beta = acc_t(1) / ch.beta, ch.zeta = value(zeta, c), ch.gamma = value(gamma, c);
      ch.bias = value(bias, c), ch.inv_weight = acc_t(1) / value(weight, c);
      ch.k = value(weight, c) * value(invstd, c);
    }
    const scalar_t* r = residual.defined() ? residual.const_data_ptr<scalar_t>() : nullptr;
    const scalar_t* yp = y.const_data_ptr<scalar_t>();
    scalar_t* gtp = grad_t.mutable_data_ptr<scalar_t>();
    const uint8_t* bits = positive.const_data_ptr<uint8_t>();
    const auto pass1 = r ? normalised_backward_run<scalar_t, true> : normalised_backward_run<scalar_t, false>;
    const scalar_t* gp = grad.const_data_ptr<scalar_t>();
    for_each_run_with_flags(layout, bits, [&](int64_t block, const uint8_t* flags, int64_t c, int64_t first, int64_t last) {
      const auto s = pass1(gp + first, yp + first, r ? r + first : nullptr, flags, gtp + first, last - first, channels[c]);
      double* p = partial_p + (block * layout.channels + c) * 4;
      for (int k = 0; k < 4; ++k) p[k] += s[k];
    });
    sums = partial.sum(0).t().contiguous();  // [4, C]
    if (batch_statistics) {
      const double count = static_cast<double>(layout.outer * layout.inner);
      const double* sp = sums.const_data_ptr<double>();
      for (int64_t c = 0; c < layout.channels; ++c) {
        auto& ch = channels[c];
        ch.k0 = static_cast<acc_t>(-static_cast<double>(ch.k) * sp[c] / count);
        ch.k1 = static_cast<acc_t>(-static_cast<double>(ch.k) * sp[3 * layout.channels + c] / count);
      }
    }
    const auto pass2 = r ? normalised_input_grad_run<scalar_t, true> : normalised_input_grad_run<scalar_t, false>;
    scalar_t* gxp = grad_x.mutable_data_ptr<scalar_t>();
    for_each_run_with_flags(layout, bits, [&](int64_t, const uint8_t* flags, int64_t c, int64_t first, int64_t last) {
      pass2(gtp + first, yp + first, r ? r + first : nullptr, flags, gxp + first, last - first, channels[c]);
    });
  });
  return {grad_t, grad_x, sums};
}

}  // namespace lowbit::kernels::cpu
