#include <lowbit/csrc/kernels/cpu/channel_runs.h>
#include <lowbit/csrc/kernels/cpu/simd.h>
#include <lowbit/csrc/kernels/shifted_sign.h>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>

#include <tuple>

namespace lowbit::kernels::cpu {
namespace {

// Written as selects, which vectorise (the bool arithmetic of (v > 0) - (v < 0) does not).
template <typename T>
inline T sign_of(T v) {
  return v > T(0) ? T(1) : (v < T(0) ? T(-1) : T(0));
}

// One run of a channel: writes dL/dx and returns its sum. The estimator is a template argument so
// that the loop has no branch on it and vectorises.
template <typename scalar_t, ops::Ste kSte>
LOWBIT_CPU_CLONES double backward_run(const scalar_t* g, const scalar_t* x, scalar_t* gx, int64_t n,
                                      at::opmath_type<scalar_t> shift) {
  using acc_t = at::opmath_type<scalar_t>;
  double sum = 0;
  LOWBIT_SIMD_SUM(sum)
  for (int64_t i = 0; i < n; ++i) {
    // At x + b rounded to the dtype, as the forward saw it.
    const acc_t v = static_cast<scalar_t>(static_cast<acc_t>(x[i]) + shift);
    const auto d = static_cast<scalar_t>(static_cast<acc_t>(g[i]) * ops::ste_derivative(v, kSte));
    gx[i] = d;
    sum += static_cast<double>(d);
  }
  return sum;
}

}  // namespace

at::Tensor shifted_sign_forward(const at::Tensor& x, const at::Tensor& shift) {
  const auto layout = ChannelLayout::of(x, 1, shift.numel());
  const auto input = x.contiguous();
  const auto b = shift.to(x.scalar_type()).contiguous();
  auto out = at::empty_like(input);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "shifted_sign_forward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* xp = input.const_data_ptr<scalar_t>();
    const scalar_t* bp = b.const_data_ptr<scalar_t>();
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    for_each_run(layout, [&](int64_t, int64_t c, int64_t first, int64_t last) {
      const acc_t shift_c = bp[c];
      for (int64_t i = first; i < last; ++i) {
        // x + b rounded to the dtype first, as at::sign(x + b) sees it.
        op[i] = static_cast<scalar_t>(sign_of<acc_t>(static_cast<scalar_t>(static_cast<acc_t>(xp[i]) + shift_c)));
      }
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> shifted_sign_backward(const at::Tensor& grad, const at::Tensor& x,
                                                         const at::Tensor& shift, ops::Ste ste) {
  const auto layout = ChannelLayout::of(x, 1, shift.numel());
  const auto input = x.contiguous();
  const auto g = grad.contiguous().to(x.scalar_type());
  const auto b = shift.to(x.scalar_type()).contiguous();
  auto grad_input = at::empty_like(input);
  auto partial = at::zeros({blocks_of(layout), layout.channels}, x.options().dtype(at::kDouble));
  double* pp = partial.mutable_data_ptr<double>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "shifted_sign_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    const scalar_t* xp = input.const_data_ptr<scalar_t>();
    const scalar_t* bp = b.const_data_ptr<scalar_t>();
    scalar_t* gxp = grad_input.mutable_data_ptr<scalar_t>();
    const auto run = ste == ops::Ste::Identity  ? backward_run<scalar_t, ops::Ste::Identity>
                     : ste == ops::Ste::Clipped ? backward_run<scalar_t, ops::Ste::Clipped>
                                                : backward_run<scalar_t, ops::Ste::ApproxSign>;
    for_each_run(layout, [&](int64_t block, int64_t c, int64_t first, int64_t last) {
      pp[block * layout.channels + c] += run(gp + first, xp + first, gxp + first, last - first, static_cast<acc_t>(bp[c]));
    });
  });
  return {grad_input, partial.sum(0)};
}

}  // namespace lowbit::kernels::cpu
