#include <lowbit/csrc/kernels/cpu/channel_runs.h>
#include <lowbit/csrc/kernels/cpu/simd.h>
#include <lowbit/csrc/kernels/lsq.h>
#include <lowbit/csrc/ops/lsq_math.h>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <array>

namespace lowbit::kernels::cpu {
namespace {

// One run of a channel; the level function is a template argument so that the loop has no branch on it.
template <typename scalar_t, bool kSign>
LOWBIT_CPU_CLONES void lsq_forward_run(const scalar_t* x, scalar_t* out, int64_t n, at::opmath_type<scalar_t> step,
                                       at::opmath_type<scalar_t> offset, double qn, double qp) {
  using acc_t = at::opmath_type<scalar_t>;
  LOWBIT_SIMD
  for (int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<scalar_t>(ops::lsq_forward_value<acc_t>(x[i], step, offset, qn, qp, kSign));
  }
}

// Writes dL/dx of one run and returns its sums of dL/ds and dL/dbeta terms (in double).
template <typename scalar_t, bool kSign>
LOWBIT_CPU_CLONES std::array<double, 2> lsq_backward_run(const scalar_t* grad, const scalar_t* x, scalar_t* grad_x,
                                                         int64_t n, at::opmath_type<scalar_t> step,
                                                         at::opmath_type<scalar_t> offset, double qn, double qp) {
  using acc_t = at::opmath_type<scalar_t>;
  double step_sum = 0, offset_sum = 0;
  LOWBIT_SIMD_SUM(step_sum, offset_sum)
  for (int64_t i = 0; i < n; ++i) {
    const auto d = ops::lsq_backward_value<acc_t>(grad[i], x[i], step, offset, qn, qp, kSign);
    grad_x[i] = static_cast<scalar_t>(d.input);
    step_sum += static_cast<double>(d.step);
    offset_sum += static_cast<double>(d.offset);
  }
  return {step_sum, offset_sum};
}

// The same over a piece of a row of channels (inner == 1): per-element step and offset, per-element sums.
template <typename scalar_t, bool kSign>
LOWBIT_CPU_CLONES void lsq_forward_row(const scalar_t* x, scalar_t* out, int64_t n, const scalar_t* step,
                                       const scalar_t* offset, double qn, double qp) {
  using acc_t = at::opmath_type<scalar_t>;
  LOWBIT_SIMD
  for (int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<scalar_t>(ops::lsq_forward_value<acc_t>(x[i], step[i], offset[i], qn, qp, kSign));
  }
}

template <typename scalar_t, bool kSign>
LOWBIT_CPU_CLONES void lsq_backward_row(const scalar_t* grad, const scalar_t* x, scalar_t* grad_x, int64_t n,
                                        const scalar_t* step, const scalar_t* offset, double qn, double qp,
                                        double* step_sums, double* offset_sums) {
  using acc_t = at::opmath_type<scalar_t>;
  LOWBIT_SIMD
  for (int64_t i = 0; i < n; ++i) {
    const auto d = ops::lsq_backward_value<acc_t>(grad[i], x[i], step[i], offset[i], qn, qp, kSign);
    grad_x[i] = static_cast<scalar_t>(d.input);
    step_sums[i] += static_cast<double>(d.step);
    offset_sums[i] += static_cast<double>(d.offset);
  }
}

}  // namespace

at::Tensor lsq_forward(const at::Tensor& x, const at::Tensor& step, const at::Tensor& offset,
                       const LsqArgs& args) {
  const auto layout = ChannelLayout::of(x, args.channel_dim, step.numel());
  const auto input = x.contiguous();
  const auto s = step.to(x.scalar_type()).contiguous();
  const auto b = offset.defined() ? offset.to(x.scalar_type()).contiguous() : at::zeros_like(s);
  auto out = at::empty_like(input);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "lsq_forward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* xp = input.const_data_ptr<scalar_t>();
    const scalar_t* sp = s.const_data_ptr<scalar_t>();
    const scalar_t* bp = b.const_data_ptr<scalar_t>();
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    const auto run = args.sign ? lsq_forward_run<scalar_t, true> : lsq_forward_run<scalar_t, false>;
    const auto row = args.sign ? lsq_forward_row<scalar_t, true> : lsq_forward_row<scalar_t, false>;
    for_each_block(layout, [&](int64_t block) {
      if (layout.inner == 1) {
        return for_each_row_piece_of_block(layout, block, [&](int64_t c, int64_t first, int64_t last) {
          row(xp + first, op + first, last - first, sp + c, bp + c, args.qn, args.qp);
        });
      }
      for_each_run_of_block(layout, block, [&](int64_t c, int64_t first, int64_t last) {
        run(xp + first, op + first, last - first, static_cast<acc_t>(sp[c]), static_cast<acc_t>(bp[c]), args.qn,
            args.qp);
      });
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> lsq_backward(const at::Tensor& grad, const at::Tensor& x,
                                                            const at::Tensor& step, const at::Tensor& offset,
                                                            const LsqArgs& args) {
  const auto layout = ChannelLayout::of(x, args.channel_dim, step.numel());
  const auto input = x.contiguous();
  const auto g = grad.contiguous().to(x.scalar_type());
  const auto s = step.to(x.scalar_type()).contiguous();
  const auto b = offset.defined() ? offset.to(x.scalar_type()).contiguous() : at::zeros_like(s);
  auto grad_input = at::empty_like(input);

  auto partial = at::zeros({2, blocks_of(layout), layout.channels}, x.options().dtype(at::kDouble));
  double* step_partial = partial[0].data_ptr<double>();
  double* offset_partial = partial[1].data_ptr<double>();

  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "lsq_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* xp = input.const_data_ptr<scalar_t>();
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    const scalar_t* sp = s.const_data_ptr<scalar_t>();
    const scalar_t* bp = b.const_data_ptr<scalar_t>();
    scalar_t* gip = grad_input.mutable_data_ptr<scalar_t>();
    const auto run = args.sign ? lsq_backward_run<scalar_t, true> : lsq_backward_run<scalar_t, false>;
    const auto row = args.sign ? lsq_backward_row<scalar_t, true> : lsq_backward_row<scalar_t, false>;
    for_each_block(layout, [&](int64_t block) {
      double* step_sums = step_partial + block * layout.channels;
      double* offset_sums = offset_partial + block * layout.channels;
      if (layout.inner == 1) {
        return for_each_row_piece_of_block(layout, block, [&](int64_t c, int64_t first, int64_t last) {
          row(gp + first, xp + first, gip + first, last - first, sp + c, bp + c, args.qn, args.qp, step_sums + c,
              offset_sums + c);
        });
      }
      for_each_run_of_block(layout, block, [&](int64_t c, int64_t first, int64_t last) {
        const auto sums = run(gp + first, xp + first, gip + first, last - first, static_cast<acc_t>(sp[c]),
                              static_cast<acc_t>(bp[c]), args.qn, args.qp);
        step_sums[c] += sums[0];
        offset_sums[c] += sums[1];
      });
    });
  });
  auto sums = partial.sum(1).to(step.scalar_type());  // [2, channels]
  auto grad_step = sums[0].reshape(step.sizes());
  auto grad_offset = offset.defined() ? sums[1].reshape(offset.sizes()) : at::Tensor();
  return {grad_input, grad_step, grad_offset};
}

}  // namespace lowbit::kernels::cpu
