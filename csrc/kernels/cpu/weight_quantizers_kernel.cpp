#include <lowbit/csrc/kernels/arguments.h>
#include <lowbit/csrc/kernels/cpu/fast_tanh.h>
#include <lowbit/csrc/kernels/cpu/row_chunks.h>
#include <lowbit/csrc/kernels/cpu/simd.h>
#include <lowbit/csrc/kernels/weight_quantizers.h>
#include <lowbit/csrc/ops/weight_math.h>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>

#include <cmath>
#include <type_traits>

namespace lowbit::kernels::cpu {
namespace {

RowChunks rows_of(const at::Tensor& w, bool per_row) {
  const int64_t rows = per_row ? w.size(0) : 1;
  return {rows, rows == 0 ? 0 : w.numel() / rows};
}

// ---- the loops (one row chunk each) ----

template <typename T>
LOWBIT_CPU_CLONES std::array<double, 1> sum_magnitudes(const T* w, int64_t n) {
  return lane_sums<1>(n, [&](int64_t i) { return std::array<T, 1>{ops::magnitude_of(w[i])}; });
}

template <typename T>
LOWBIT_CPU_CLONES std::array<double, 2> sum_kept_magnitudes(const T* w, int64_t n, T threshold) {
  return lane_sums<2>(n, [&](int64_t i) {
    const T magnitude = ops::magnitude_of(w[i]);
    const bool kept = magnitude > threshold;
    return std::array<T, 2>{kept ? magnitude : T(0), kept ? T(1) : T(0)};  // counts exact: blocks of 4 per lane
  });
}

template <typename T>
LOWBIT_CPU_CLONES void scaled_sign_loop(const T* w, T* out, int64_t n, T alpha) {
  LOWBIT_SIMD
  for (int64_t i = 0; i < n; ++i) out[i] = ops::scaled_sign_value(w[i], alpha);
}

template <typename T, bool kScaleByAlpha, bool kAddMean>
LOWBIT_CPU_CLONES void scaled_sign_grad_loop(const T* g, const T* w, T* out, int64_t n, T alpha, T inv_cols) {
  LOWBIT_SIMD
  for (int64_t i = 0; i < n; ++i) out[i] = ops::scaled_sign_grad(g[i], w[i], alpha, inv_cols, kScaleByAlpha, kAddMean);
}

template <typename T>
LOWBIT_CPU_CLONES void ternary_loop(const T* w, T* out, int64_t n, T threshold, T alpha) {
  LOWBIT_SIMD
  for (int64_t i = 0; i < n; ++i) out[i] = ops::ternary_value(w[i], threshold, alpha);
}

// The input of the bilinear binarization: w, or with kShift RBONN's W~ = w - c p.
template <bool kShift, typename T>
inline T bilinear_input(const T* w, const T* p, T c, int64_t i) {
  if constexpr (kShift) return ops::recurrent_value(w[i], c, p[i]);
  return w[i];
}

// fn(std::bool_constant<flag>{}), fn(std::integral_constant<ops::Record, record>{}): a run-time choice
// made once per chunk, for loops compiled per choice.
template <typename Fn>
auto with_flag(bool flag, const Fn& fn) {
  return flag ? fn(std::true_type{}) : fn(std::false_type{});
}
template <typename Fn>
auto with_record(ops::Record record, const Fn& fn) {
  using R = ops::Record;
  if (record == R::TimesInverse) return fn(std::integral_constant<R, R::TimesInverse>{});
  if (record == R::Divided) return fn(std::integral_constant<R, R::Divided>{});
  return fn(std::integral_constant<R, R::None>{});
}

template <typename T, bool kShift>
LOWBIT_CPU_CLONES void bilinear_loop(const T* w, const T* p, T c, T* out, int64_t n, T kappa, T alpha) {
  LOWBIT_SIMD
  for (int64_t i = 0; i < n; ++i) out[i] = ops::bilinear_value(bilinear_input<kShift>(w, p, c, i), kappa, alpha);
}

// dL/dw into `out` and the chunk's sums g w and r b, and with kShift sum dL/dw p; `recorded` as kRecord.
template <typename T, bool kShift, ops::Record kRecord>
LOWBIT_CPU_CLONES std::array<double, kShift ? 3 : 2> bilinear_grad_loop(const T* g, const T* w, const T* p, T c,
                                                                        T* out, T* recorded, int64_t n, T kappa,
                                                                        T alpha, T gamma, T scale) {
  return lane_sums<kShift ? 3 : 2>(n, [&](int64_t i) {
    const auto terms = ops::bilinear_terms(g[i], bilinear_input<kShift>(w, p, c, i), kappa, alpha, gamma);
    out[i] = terms.grad_w;
    if constexpr (kRecord == ops::Record::TimesInverse) recorded[i] = terms.grad_w * scale;  // scale = 1 / S
    if constexpr (kRecord == ops::Record::Divided) recorded[i] = terms.grad_w / scale;
    std::array<double, kShift ? 3 : 2> sums{static_cast<double>(terms.g_w), static_cast<double>(terms.r_b)};
    if constexpr (kShift) sums[2] = static_cast<double>(terms.grad_w * p[i]);
    return sums;
  });
}

// max |t| and the count of its ties.
template <typename T>
LOWBIT_CPU_CLONES std::array<double, 2> max_magnitude(const T* t, int64_t n) {
  T m = 0;
  LOWBIT_SIMD_MAX(m)
  for (int64_t i = 0; i < n; ++i) m = std::max(m, ops::magnitude_of(t[i]));
  double ties = 0;
  LOWBIT_SIMD_SUM(ties)
  for (int64_t i = 0; i < n; ++i) ties += ops::magnitude_of(t[i]) == m ? 1.0 : 0.0;
  return {static_cast<double>(m), ties};
}

template <typename T>
LOWBIT_CPU_CLONES void tanh_loop(const T* w, T* t, int64_t n) {
  LOWBIT_SIMD
  for (int64_t i = 0; i < n; ++i) t[i] = fast_tanh(w[i]);
}

template <typename T>
LOWBIT_CPU_CLONES void dorefa_weight_loop(const T* t, T* out, int64_t n, T inv_two_max, T levels, T two_over_levels) {
  LOWBIT_SIMD
  for (int64_t i = 0; i < n; ++i) out[i] = ops::dorefa_weight_value(t[i], inv_two_max, levels, two_over_levels);
}

// dL/dw without the max's share (written into `out`), and the chunk's sum g t and count of ties.
template <typename T>
LOWBIT_CPU_CLONES std::array<double, 2> dorefa_weight_grad_loop(const T* g, const T* t, T* out, int64_t n, T max,
                                                                T inv_max) {
  return lane_sums<2>(n, [&](int64_t i) {
    out[i] = ops::dorefa_weight_grad(g[i], t[i], max, inv_max, T(0));
    return std::array<double, 2>{static_cast<double>(g[i] * t[i]), ops::magnitude_of(t[i]) == max ? 1.0 : 0.0};
  });
}

template <typename T>
LOWBIT_CPU_CLONES std::array<double, 1> sum_values(const T* w, int64_t n) {
  return lane_sums<1>(n, [&](int64_t i) { return std::array<T, 1>{w[i]}; });
}

template <typename T>
LOWBIT_CPU_CLONES std::array<double, 1> sum_squared_deviations(const T* w, int64_t n, T centre) {
  return lane_sums<1>(n, [&](int64_t i) {
    const T d = w[i] - centre;
    return std::array<T, 1>{d * d};
  });
}

template <typename T>
LOWBIT_CPU_CLONES void adabin_loop(const T* w, T* out, int64_t n, T beta, T alpha) {
  LOWBIT_SIMD
  for (int64_t i = 0; i < n; ++i) out[i] = ops::adabin_value(w[i], beta, alpha);
}

// e (ops::adabin_e), written into `e`, and the row sums of g, g sign(u), e, e d and d. In these
// gradient terms t u is (t / alpha) d (within a rounding of t (d / alpha)) and sign(u) is sign(d)
// (alpha > 0; they differ only where d / alpha underflows to 0, a denormal d): a division per
// element would bound the loop.
template <typename T>
LOWBIT_CPU_CLONES std::array<double, 5> adabin_e_sums(const T* g, const T* w, T* e, int64_t n, T beta, T alpha, T kt,
                                                     T t_over_alpha) {
  return lane_sums<5>(n, [&](int64_t i) {
    const T d = w[i] - beta;
    e[i] = ops::adabin_e(g[i], alpha, kt, fast_tanh(t_over_alpha * d));
    return std::array<T, 5>{g[i], g[i] * ops::sign_of(d), e[i], e[i] * d, d};  // float blocks (simd.h)
  });
}

// dL/dw = e a + d b + c, e read from (and dL/dw written over) `grad_w`.
template <typename T>
LOWBIT_CPU_CLONES void adabin_grad_loop(const T* w, T* grad_w, int64_t n, T beta, T a, T b, T c) {
  LOWBIT_SIMD
  for (int64_t i = 0; i < n; ++i) grad_w[i] = grad_w[i] * a + (w[i] - beta) * b + c;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> scaled_sign_forward(const at::Tensor& w) {
  const auto input = computable(w);
  const auto rows = rows_of(input, true);
  auto out = at::empty_like(input);
  auto alpha = at::empty({rows.rows}, input.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "scaled_sign_forward_cpu", [&] {
    const scalar_t* wp = input.const_data_ptr<scalar_t>();
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    scalar_t* ap = alpha.mutable_data_ptr<scalar_t>();
    const double cols = static_cast<double>(rows.cols);
    rows.reduce_then_apply(
        [&](int64_t r, int64_t first, int64_t last) { scaled_sign_loop(wp + first, op + first, last - first, ap[r]); },
        reduction([&](int64_t, int64_t first, int64_t last) { return sum_magnitudes(wp + first, last - first); },
                  [&](int64_t r, const std::array<double, 1>& s) { ap[r] = static_cast<scalar_t>(s[0] / cols); }));
  });
  return {out.to(w.scalar_type()), alpha.to(w.scalar_type())};
}

namespace {

// dL/dw into `out` (w's computable dtype; may be g itself: each element is read before it is written).
void scaled_sign_backward_into(const at::Tensor& g, const at::Tensor& input, const at::Tensor& alpha,
                               bool scale_by_alpha, bool add_mean, const at::Tensor& out) {
  const auto rows = rows_of(input, true);
  check_per_row("scaled_sign_backward", alpha, rows.rows, "alpha");
  const auto a = alpha.to(input.scalar_type()).contiguous();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "scaled_sign_backward_cpu", [&] {
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    const scalar_t* wp = input.const_data_ptr<scalar_t>();
    const scalar_t* ap = a.const_data_ptr<scalar_t>();
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    const auto cols = static_cast<scalar_t>(1.0 / static_cast<double>(rows.cols));  // 1 / cols
    rows.for_each([&](int64_t r, int64_t, int64_t first, int64_t last) {
      const int64_t n = last - first;
      if (!scale_by_alpha) return scaled_sign_grad_loop<scalar_t, false, false>(gp + first, wp + first, op + first, n, ap[r], cols);
      if (!add_mean) return scaled_sign_grad_loop<scalar_t, true, false>(gp + first, wp + first, op + first, n, ap[r], cols);
      scaled_sign_grad_loop<scalar_t, true, true>(gp + first, wp + first, op + first, n, ap[r], cols);
    });
  });
}

}  // namespace

at::Tensor scaled_sign_backward(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha,
                                bool scale_by_alpha, bool add_mean) {
  check_same_shape("scaled_sign_backward", grad, w);
  const auto input = computable(w);
  const auto g = computable(grad).to(input.scalar_type());
  auto out = at::empty_like(input);
  scaled_sign_backward_into(g, input, alpha, scale_by_alpha, add_mean, out);
  return out.to(grad.scalar_type());
}

void scaled_sign_backward_(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha, bool scale_by_alpha,
                           bool add_mean) {
  scaled_sign_backward_into(grad, computable(w), alpha, scale_by_alpha, add_mean, grad);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> ternarize_forward(const at::Tensor& w, double delta, bool per_row) {
  const auto input = computable(w);
  const auto rows = rows_of(input, per_row);
  auto out = at::empty_like(input);
  auto thresholds = at::empty({rows.rows}, input.options()), alphas = at::empty({rows.rows}, input.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "ternarize_forward_cpu", [&] {
    const scalar_t* wp = input.const_data_ptr<scalar_t>();
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    scalar_t* threshold = thresholds.mutable_data_ptr<scalar_t>();
    scalar_t* alpha = alphas.mutable_data_ptr<scalar_t>();
    const double cols = static_cast<double>(rows.cols);
    rows.reduce_then_apply(
        [&](int64_t r, int64_t first, int64_t last) {
          ternary_loop(wp + first, op + first, last - first, threshold[r], alpha[r]);
        },
        reduction([&](int64_t, int64_t first, int64_t last) { return sum_magnitudes(wp + first, last - first); },
                  [&](int64_t r, const std::array<double, 1>& s) {
                    threshold[r] = static_cast<scalar_t>(delta) * static_cast<scalar_t>(s[0] / cols);
                  }),
        reduction(
            [&](int64_t r, int64_t first, int64_t last) {
              return sum_kept_magnitudes(wp + first, last - first, threshold[r]);
            },
            [&](int64_t r, const std::array<double, 2>& s) {
              alpha[r] = static_cast<scalar_t>(s[0] / std::max(1.0, s[1]));
            }));
  });
  return {out.to(w.scalar_type()), thresholds.to(w.scalar_type()), alphas.to(w.scalar_type())};
}

at::Tensor bilinear_sign_forward(const at::Tensor& w, const at::Tensor& alpha, double kappa,
                                 const std::optional<at::Tensor>& shift_c, const std::optional<at::Tensor>& shift_p) {
  const auto input = computable(w);
  const auto rows = rows_of(input, true);
  check_per_row("bilinear_sign_forward", alpha, rows.rows, "alpha");
  const bool shifted = check_shift("bilinear_sign_forward", shift_c, shift_p, w, rows.rows);
  const auto a = alpha.to(input.scalar_type()).contiguous();
  const auto c = shifted ? shift_c->to(input.scalar_type()).contiguous() : at::Tensor();
  const auto p = shifted ? computable(*shift_p).to(input.scalar_type()) : at::Tensor();
  auto out = at::empty_like(input);
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "bilinear_sign_forward_cpu", [&] {
    const scalar_t* wp = input.const_data_ptr<scalar_t>();
    const scalar_t* ap = a.const_data_ptr<scalar_t>();
    const scalar_t* pp = shifted ? p.const_data_ptr<scalar_t>() : nullptr;
    const scalar_t* cp = shifted ? c.const_data_ptr<scalar_t>() : nullptr;
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    const auto k = static_cast<scalar_t>(kappa);
    rows.for_each([&](int64_t r, int64_t, int64_t first, int64_t last) {
      with_flag(shifted, [&](auto shift) {
        constexpr bool kShift = decltype(shift)::value;
        bilinear_loop<scalar_t, kShift>(wp + first, kShift ? pp + first : nullptr, kShift ? cp[r] : scalar_t(0),
                                        op + first, last - first, k, ap[r]);
      });
    });
  });
  return out.to(w.scalar_type());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> bilinear_sign_backward(
    const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha, const at::Tensor& gamma, double kappa,
    const std::optional<at::Tensor>& shift_c, const std::optional<at::Tensor>& shift_p, double record_scale) {
  check_same_shape("bilinear_sign_backward", grad, w);
  const auto input = computable(w);
  const auto rows = rows_of(input, true);
  check_per_row("bilinear_sign_backward", alpha, rows.rows, "alpha");
  check_per_row("bilinear_sign_backward", gamma, rows.rows, "gamma");
  const bool shifted = check_shift("bilinear_sign_backward", shift_c, shift_p, w, rows.rows);
  const auto record = record_mode("bilinear_sign_backward", record_scale);
  const auto g = computable(grad).to(input.scalar_type());
  const auto a = alpha.to(input.scalar_type()).contiguous();
  const auto gm = gamma.to(input.scalar_type()).contiguous();
  const auto c = shifted ? shift_c->to(input.scalar_type()).contiguous() : at::Tensor();
  const auto p = shifted ? computable(*shift_p).to(input.scalar_type()) : at::Tensor();
  auto out = at::empty_like(input);
  auto recorded = record == ops::Record::None ? at::empty({0}, input.options()) : at::empty_like(input);
  auto grad_alpha = at::empty({rows.rows}, input.options().dtype(at::kDouble));
  auto grad_c = at::empty({shifted ? rows.rows : 0}, input.options().dtype(at::kDouble));
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "bilinear_sign_backward_cpu", [&] {
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    const scalar_t* wp = input.const_data_ptr<scalar_t>();
    const scalar_t* ap = a.const_data_ptr<scalar_t>();
    const scalar_t* gmp = gm.const_data_ptr<scalar_t>();
    const scalar_t* pp = shifted ? p.const_data_ptr<scalar_t>() : nullptr;
    const scalar_t* cp = shifted ? c.const_data_ptr<scalar_t>() : nullptr;
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    scalar_t* rp = record == ops::Record::None ? nullptr : recorded.mutable_data_ptr<scalar_t>();
    const auto k = static_cast<scalar_t>(kappa);
    const auto scale = static_cast<scalar_t>(ops::record_operand(record, record_scale));
    // One instantiation per (shift, record) pair; the row's sums padded to three.
    const auto sums = rows.sums([&](int64_t r, int64_t first, int64_t last) {
      return with_flag(shifted, [&](auto shift) {
        return with_record(record, [&](auto mode) {
          constexpr bool kShift = decltype(shift)::value;
          const auto s = bilinear_grad_loop<scalar_t, kShift, decltype(mode)::value>(
              gp + first, wp + first, kShift ? pp + first : nullptr, kShift ? cp[r] : scalar_t(0), op + first,
              rp == nullptr ? nullptr : rp + first, last - first, k, ap[r], gmp[r], scale);
          std::array<double, 3> padded{s[0], s[1], 0.0};
          if constexpr (kShift) padded[2] = s[2];
          return padded;
        });
      });
    });
    double* gap = grad_alpha.mutable_data_ptr<double>();
    double* gcp = grad_c.mutable_data_ptr<double>();
    for (int64_t r = 0; r < rows.rows; ++r) {
      gap[r] = sums[r][0] - static_cast<double>(gmp[r]) * sums[r][1];
      if (shifted) gcp[r] = -sums[r][2];  // dL/dc_r = -sum dL/dW~ P
    }
  });
  return {out.to(grad.scalar_type()), grad_alpha.to(alpha.scalar_type()),
          shifted ? grad_c.to(shift_c->scalar_type()) : at::empty({0}, grad.options()),
          recorded.to(grad.scalar_type())};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> dorefa_weight_forward(const at::Tensor& w, int64_t bits) {
  const double levels = quantization_levels("dorefa_weight", bits, 2);
  const auto input = computable(w);
  const RowChunks rows(1, input.numel());
  auto out = at::empty_like(input);
  auto t = at::empty_like(input);
  auto max_ties = at::empty({2}, input.options().dtype(at::kDouble));
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "dorefa_weight_forward_cpu", [&] {
    const scalar_t* wp = input.const_data_ptr<scalar_t>();
    scalar_t* tp = t.mutable_data_ptr<scalar_t>();
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    // Per chunk: t, then its max and ties while the chunk is in cache; combined in chunk order.
    std::vector<std::array<double, 2>> partial(static_cast<size_t>(rows.per_row), {0.0, 0.0});
    rows.for_each([&](int64_t, int64_t chunk, int64_t first, int64_t last) {
      tanh_loop(wp + first, tp + first, last - first);
      partial[chunk] = max_magnitude(tp + first, last - first);
    });
    double max = 0, ties = 0;
    for (const auto& p : partial) {
      if (p[0] > max) max = p[0], ties = 0;
      if (p[0] == max) ties += p[1];
    }
    max_ties.mutable_data_ptr<double>()[0] = max;
    max_ties.mutable_data_ptr<double>()[1] = ties;
    const auto m = static_cast<scalar_t>(max), lv = static_cast<scalar_t>(levels);
    const auto inv_two_max = static_cast<scalar_t>(1) / (static_cast<scalar_t>(2) * m);
    const auto two_over_levels = static_cast<scalar_t>(2) / lv;
    rows.for_each([&](int64_t, int64_t, int64_t first, int64_t last) {
      dorefa_weight_loop(tp + first, op + first, last - first, inv_two_max, lv, two_over_levels);
    });
  });
  return {out.to(w.scalar_type()), t, max_ties};
}

// One pass writes dL/dw without the max's share and sums g t per chunk; the chunks holding a tie of
// the max then rewrite their ties with it (torch's max shares its gradient among the ties).
at::Tensor dorefa_weight_backward(const at::Tensor& grad, const at::Tensor& t, const at::Tensor& max_ties,
                                  int64_t bits) {
  check_same_shape("dorefa_weight_backward", grad, t);
  quantization_levels("dorefa_weight", bits, 2);  // checks bits
  const auto input = computable(t);
  const auto g = computable(grad).to(input.scalar_type());
  const RowChunks rows(1, input.numel());
  const auto stats = max_ties.to(at::kDouble).cpu();
  const double max = stats[0].item<double>(), ties = stats[1].item<double>();
  auto out = at::empty_like(input);
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "dorefa_weight_backward_cpu", [&] {
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    const scalar_t* tp = input.const_data_ptr<scalar_t>();
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    const auto m = static_cast<scalar_t>(max), inv_max = static_cast<scalar_t>(1) / m;
    std::vector<std::array<double, 2>> partial(static_cast<size_t>(rows.per_row));
    rows.for_each([&](int64_t, int64_t chunk, int64_t first, int64_t last) {
      partial[chunk] = dorefa_weight_grad_loop(gp + first, tp + first, op + first, last - first, m, inv_max);
    });
    double gt = 0;
    for (const auto& p : partial) gt += p[0];
    const auto per_tie = static_cast<scalar_t>(ties > 0 ? -gt / (max * max) / ties : 0.0);
    for (int64_t chunk = 0; chunk < rows.per_row; ++chunk) {
      if (partial[chunk][1] == 0) continue;
      const int64_t last = std::min(rows.cols, (chunk + 1) * rows.length);
      for (int64_t i = chunk * rows.length; i < last; ++i) {
        if (ops::magnitude_of(tp[i]) == m) op[i] = ops::dorefa_weight_grad(gp[i], tp[i], m, inv_max, per_tie);
      }
    }
  });
  return out.to(grad.scalar_type());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> adabin_weight_forward(const at::Tensor& w) {
  const auto input = computable(w);
  const auto rows = rows_of(input, true);
  auto out = at::empty_like(input);
  auto betas = at::empty({rows.rows}, input.options()), alphas = at::empty({rows.rows}, input.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "adabin_weight_forward_cpu", [&] {
    const scalar_t* wp = input.const_data_ptr<scalar_t>();
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    scalar_t* beta = betas.mutable_data_ptr<scalar_t>();
    scalar_t* alpha = alphas.mutable_data_ptr<scalar_t>();
    const double cols = static_cast<double>(rows.cols);
    rows.reduce_then_apply(
        [&](int64_t r, int64_t first, int64_t last) { adabin_loop(wp + first, op + first, last - first, beta[r], alpha[r]); },
        reduction([&](int64_t, int64_t first, int64_t last) { return sum_values(wp + first, last - first); },
                  [&](int64_t r, const std::array<double, 1>& s) { beta[r] = static_cast<scalar_t>(s[0] / cols); }),
        reduction(
            [&](int64_t r, int64_t first, int64_t last) {
              return sum_squared_deviations(wp + first, last - first, beta[r]);
            },
            [&](int64_t r, const std::array<double, 1>& s) {
              const auto variance = std::max(static_cast<scalar_t>(s[0] / cols), static_cast<scalar_t>(1e-24));
              alpha[r] = std::sqrt(variance);
            }));
  });
  return {out.to(w.scalar_type()), betas.to(w.scalar_type()), alphas.to(w.scalar_type())};
}

at::Tensor adabin_weight_backward(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& beta,
                                  const at::Tensor& alpha, const at::Tensor& k, const at::Tensor& t) {
  check_same_shape("adabin_weight_backward", grad, w);
  const auto input = computable(w);
  const auto rows = rows_of(input, true);
  check_per_row("adabin_weight_backward", beta, rows.rows, "beta");
  check_per_row("adabin_weight_backward", alpha, rows.rows, "alpha");
  const auto g = computable(grad).to(input.scalar_type());
  const auto b = beta.to(input.scalar_type()).contiguous();
  const auto a = alpha.to(input.scalar_type()).contiguous();
  auto out = at::empty_like(input);
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "adabin_weight_backward_cpu", [&] {
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    const scalar_t* wp = input.const_data_ptr<scalar_t>();
    const scalar_t* bp = b.const_data_ptr<scalar_t>();
    const scalar_t* ap = a.const_data_ptr<scalar_t>();
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    const auto t_value = static_cast<scalar_t>(t.item<double>());
    const auto kt = static_cast<scalar_t>(k.item<double>()) * t_value;
    const double cols = static_cast<double>(rows.cols);
    std::vector<std::array<scalar_t, 3>> coefficients(static_cast<size_t>(rows.rows));  // a, b, c of adabin_grad_loop
    rows.reduce_then_apply(
        [&](int64_t r, int64_t first, int64_t last) {
          const auto& c = coefficients[r];
          adabin_grad_loop(wp + first, op + first, last - first, bp[r], c[0], c[1], c[2]);
        },
        reduction(
            [&](int64_t r, int64_t first, int64_t last) {
              return adabin_e_sums(gp + first, wp + first, op + first, last - first, bp[r], ap[r], kt, t_value / ap[r]);
            },
            [&](int64_t r, const std::array<double, 5>& s) {
              const double alpha_r = static_cast<double>(ap[r]);
              const double grad_alpha = s[1] - s[3] / (alpha_r * alpha_r);
              const bool clamped = !(alpha_r * alpha_r > 1e-24);  // no gradient through the clamped variance
              const double grad_variance = clamped ? 0.0 : grad_alpha / (2 * alpha_r);
              const double grad_beta = s[0] - s[2] / alpha_r - grad_variance * 2 * s[4] / cols;
              coefficients[r] = {static_cast<scalar_t>(1 / alpha_r), static_cast<scalar_t>(grad_variance * 2 / cols),
                                 static_cast<scalar_t>(grad_beta / cols)};
            }));
  });
  return out.to(grad.scalar_type());
}

}  // namespace lowbit::kernels::cpu
