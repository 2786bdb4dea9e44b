#include <lowbit/csrc/kernels/ste_backward.h>

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty_like.h>

namespace lowbit::kernels::cpu {

at::Tensor ste_backward(const at::Tensor& grad, const at::Tensor& x, ops::Ste ste) {
  const auto g = grad.contiguous();
  const auto input = x.contiguous().to(g.scalar_type());
  auto out = at::empty_like(g);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, g.scalar_type(), "ste_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    const scalar_t* xp = input.const_data_ptr<scalar_t>();
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, g.numel(), at::internal::GRAIN_SIZE, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        op[i] = static_cast<scalar_t>(static_cast<acc_t>(gp[i]) *
                                      ops::ste_derivative(static_cast<acc_t>(xp[i]), ste));
      }
    });
  });
  return out;
}

}  // namespace lowbit::kernels::cpu
