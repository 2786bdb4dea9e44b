#include <lowbit/csrc/kernels/cpu/channel_runs.h>
#include <lowbit/csrc/kernels/lsq.h>
#include <lowbit/csrc/ops/lsq_math.h>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

namespace lowbit::kernels::cpu {


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
    for_each_run(layout, [&](int64_t, int64_t c, int64_t first, int64_t last) {
      const acc_t step_c = sp[c], offset_c = bp[c];
      for (int64_t i = first; i < last; ++i) {
        op[i] = static_cast<scalar_t>(
            ops::lsq_forward_value<acc_t>(xp[i], step_c, offset_c, args.qn, args.qp, args.sign));
      }
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
    for_each_run(layout, [&](int64_t block, int64_t c, int64_t first, int64_t last) {
      const acc_t step_c = sp[c], offset_c = bp[c];
      acc_t step_sum = 0, offset_sum = 0;
      for (int64_t i = first; i < last; ++i) {
        const auto d = ops::lsq_backward_value<acc_t>(gp[i], xp[i], step_c, offset_c, args.qn, args.qp, args.sign);
        gip[i] = static_cast<scalar_t>(d.input);
        step_sum += d.step;
        offset_sum += d.offset;
      }
      step_partial[block * layout.channels + c] += step_sum;
      offset_partial[block * layout.channels + c] += offset_sum;
    });
  });
  auto sums = partial.sum(1).to(step.scalar_type());  // [2, channels]
  auto grad_step = sums[0].reshape(step.sizes());
  auto grad_offset = offset.defined() ? sums[1].reshape(offset.sizes()) : at::Tensor();
  return {grad_input, grad_step, grad_offset};
}

}  // namespace lowbit::kernels::cpu
