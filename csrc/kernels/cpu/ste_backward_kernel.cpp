#include <lowbit/csrc/kernels/ste_backward.h>

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/TensorIterator.h>  // at::internal::GRAIN_SIZE
#include <ATen/ops/empty_like.h>

namespace lowbit::kernels::cpu {
namespace {

// The estimator is a template argument so that the inner loop has no branch on it and vectorises.
template <typename scalar_t, ops::Ste kSte>
void ste_backward_loop(const scalar_t* __restrict__ grad, const scalar_t* __restrict__ x, scalar_t* __restrict__ out,
                       int64_t n) {
  using acc_t = at::opmath_type<scalar_t>;
  at::parallel_for(0, n, at::internal::GRAIN_SIZE, [=](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      out[i] = static_cast<scalar_t>(static_cast<acc_t>(grad[i]) * ops::ste_derivative(static_cast<acc_t>(x[i]), kSte));
    }
  });
}

}  // namespace

at::Tensor ste_backward(const at::Tensor& grad, const at::Tensor& x, ops::Ste ste) {
  const auto g = grad.contiguous();
  const auto input = x.contiguous().to(g.scalar_type());
  auto out = at::empty_like(g);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, g.scalar_type(), "ste_backward_cpu", [&] {
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    const scalar_t* xp = input.const_data_ptr<scalar_t>();
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    switch (ste) {
      case ops::Ste::Identity: return ste_backward_loop<scalar_t, ops::Ste::Identity>(gp, xp, op, g.numel());
      case ops::Ste::Clipped: return ste_backward_loop<scalar_t, ops::Ste::Clipped>(gp, xp, op, g.numel());
      case ops::Ste::ApproxSign: return ste_backward_loop<scalar_t, ops::Ste::ApproxSign>(gp, xp, op, g.numel());
    }
  });
  return out;
}

}  // namespace lowbit::kernels::cpu
