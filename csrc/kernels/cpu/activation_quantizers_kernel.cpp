#include <lowbit/csrc/kernels/activation_quantizers.h>
#include <lowbit/csrc/kernels/arguments.h>
#include <lowbit/csrc/kernels/cpu/row_chunks.h>
#include <lowbit/csrc/kernels/cpu/simd.h>
#include <lowbit/csrc/ops/activation_math.h>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/TensorIterator.h>  // at::internal::GRAIN_SIZE

#include <cmath>

namespace lowbit::kernels::cpu {
namespace {

template <typename Fn>
void parallel_range(int64_t n, const Fn& fn) {
  at::parallel_for(0, n, at::internal::GRAIN_SIZE, fn);
}

template <typename T>
LOWBIT_CPU_CLONES void dorefa_activation_loop(const T* x, T* out, int64_t n, T levels) {
  LOWBIT_SIMD
  for (int64_t i = 0; i < n; ++i) out[i] = ops::dorefa_activation_value(x[i], levels);
}

template <typename T>
LOWBIT_CPU_CLONES void dorefa_activation_grad_loop(const T* g, const T* x, T* out, int64_t n) {
  LOWBIT_SIMD
  for (int64_t i = 0; i < n; ++i) out[i] = ops::dorefa_activation_grad(g[i], x[i]);
}

template <typename T, bool kCode>
LOWBIT_CPU_CLONES void adabin_act_loop(const T* x, T* out, int64_t n, T alpha, T beta) {
  LOWBIT_SIMD
  for (int64_t i = 0; i < n; ++i) out[i] = ops::adabin_act_value(x[i], alpha, beta, kCode);
}

template <typename T, bool kCode>
LOWBIT_CPU_CLONES std::array<double, 2> adabin_act_grad_loop(const T* g, const T* x, T* out, int64_t n, T alpha,
                                                             T beta) {
  return lane_sums<2>(n, [&](int64_t i) {
    const auto d = ops::adabin_act_grads(g[i], x[i], alpha, beta, kCode);
    out[i] = d.input;
    return std::array<double, 2>{static_cast<double>(d.alpha), static_cast<double>(d.beta)};
  });
}

}  // namespace

at::Tensor dorefa_activation_forward(const at::Tensor& x, int64_t bits) {
  const double levels = quantization_levels("dorefa_activation", bits, 1);
  const auto input = computable(x);
  auto out = at::empty_like(input);
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "dorefa_activation_forward_cpu", [&] {
    const scalar_t* xp = input.const_data_ptr<scalar_t>();
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    parallel_range(input.numel(), [&](int64_t begin, int64_t end) {
      dorefa_activation_loop(xp + begin, op + begin, end - begin, static_cast<scalar_t>(levels));
    });
  });
  return out.to(x.scalar_type());
}

at::Tensor dorefa_activation_backward(const at::Tensor& grad, const at::Tensor& x) {
  check_same_shape("dorefa_activation_backward", grad, x);
  const auto input = computable(x);
  const auto g = computable(grad).to(input.scalar_type());
  auto out = at::empty_like(input);
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "dorefa_activation_backward_cpu", [&] {
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    const scalar_t* xp = input.const_data_ptr<scalar_t>();
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    parallel_range(input.numel(), [&](int64_t begin, int64_t end) {
      dorefa_activation_grad_loop(gp + begin, xp + begin, op + begin, end - begin);
    });
  });
  return out.to(grad.scalar_type());
}

at::Tensor adabin_activation_forward(const at::Tensor& x, const at::Tensor& alpha, const at::Tensor& beta, bool code) {
  check_scalar("adabin_activation_forward", alpha, "alpha");
  check_scalar("adabin_activation_forward", beta, "beta");
  const auto input = computable(x);
  auto out = at::empty_like(input);
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "adabin_activation_forward_cpu", [&] {
    const scalar_t* xp = input.const_data_ptr<scalar_t>();
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    const auto a = static_cast<scalar_t>(alpha.item<double>()), b = static_cast<scalar_t>(beta.item<double>());
    const auto loop = code ? adabin_act_loop<scalar_t, true> : adabin_act_loop<scalar_t, false>;
    parallel_range(input.numel(), [&](int64_t begin, int64_t end) { loop(xp + begin, op + begin, end - begin, a, b); });
  });
  return out.to(x.scalar_type());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> adabin_activation_backward(const at::Tensor& grad, const at::Tensor& x,
                                                                          const at::Tensor& alpha,
                                                                          const at::Tensor& beta, bool code) {
  check_same_shape("adabin_activation_backward", grad, x);
  check_scalar("adabin_activation_backward", alpha, "alpha");
  check_scalar("adabin_activation_backward", beta, "beta");
  const auto input = computable(x);
  const auto g = computable(grad).to(input.scalar_type());
  auto out = at::empty_like(input);
  std::array<double, 2> sums{};
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "adabin_activation_backward_cpu", [&] {
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    const scalar_t* xp = input.const_data_ptr<scalar_t>();
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    const auto a = static_cast<scalar_t>(alpha.item<double>()), b = static_cast<scalar_t>(beta.item<double>());
    const auto loop = code ? adabin_act_grad_loop<scalar_t, true> : adabin_act_grad_loop<scalar_t, false>;
    sums = RowChunks(1, input.numel()).sums([&](int64_t, int64_t first, int64_t last) {
      return loop(gp + first, xp + first, op + first, last - first, a, b);
    })[0];
  });
  return {out.to(grad.scalar_type()), at::scalar_tensor(sums[0], alpha.options()).reshape(alpha.sizes()),
          at::scalar_tensor(sums[1], beta.options()).reshape(beta.sizes())};
}

}  // namespace lowbit::kernels::cpu
