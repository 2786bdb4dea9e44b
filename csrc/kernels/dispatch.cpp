// Device dispatch for the fused kernels: CPU always, CUDA when lowbit is built against a CUDA
// LibTorch (LOWBIT_WITH_CUDA).
#include <lowbit/config.h>
#include <lowbit/csrc/kernels/activation_quantizers.h>
#include <lowbit/csrc/kernels/bit_planes.h>
#include <lowbit/csrc/kernels/lsq.h>
#include <lowbit/csrc/kernels/shifted_sign.h>
#include <lowbit/csrc/kernels/ste_backward.h>
#include <lowbit/csrc/kernels/weight_quantizers.h>

#include <ATen/ATen.h>
#include <c10/util/accumulate.h>

namespace lowbit::kernels {
namespace {

template <typename CpuFn, typename CudaFn>
decltype(auto) on_device(const at::Tensor& x, const char* op, CpuFn&& cpu_fn, CudaFn&& cuda_fn) {
  if (x.is_cuda()) {
#ifdef LOWBIT_WITH_CUDA
    return cuda_fn();
#else
    TORCH_CHECK(false, "lowbit::", op, ": this lowbit was built without CUDA (against a CPU-only LibTorch "
                "or without nvcc), but got a CUDA tensor");
#endif
  }
  TORCH_CHECK(x.is_cpu(), "lowbit::", op, ": unsupported device ", x.device());
  return cpu_fn();
}

// planes: uint8 [at least `count`, plane_bytes(n)].
void check_planes(const char* op, const at::Tensor& planes, int64_t count, int64_t n) {
  TORCH_CHECK(planes.scalar_type() == at::kByte && planes.dim() == 2 && planes.size(0) >= count &&
                  planes.size(1) == ops::plane_bytes(n),
              "lowbit::", op, ": expected uint8 bit planes [", count, ", ", ops::plane_bytes(n), "] for ", n,
              " elements, got ", planes.scalar_type(), " ", planes.sizes());
}

}  // namespace

ChannelLayout ChannelLayout::of(const at::Tensor& x, int64_t channel_dim, int64_t channels) {
  if (channels == 1) return {1, 1, x.numel()};
  const int64_t dim = at::maybe_wrap_dim(channel_dim, x.dim());
  TORCH_CHECK(x.size(dim) == channels, "per-channel state has ", channels, " entries but the input has ",
              x.size(dim), " along dim ", dim, " (input shape ", x.sizes(), ")");
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= x.size(d);
  for (int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.size(d);
  return {outer, channels, inner};
}

at::Tensor ste_backward(const at::Tensor& grad, const at::Tensor& x, ops::Ste ste) {
  TORCH_CHECK(grad.sizes() == x.sizes(), "ste_backward: gradient shape ", grad.sizes(), " != input shape ",
              x.sizes());
  return on_device(
      x, "ste_backward", [&] { return cpu::ste_backward(grad, x, ste); },
      [&] { return cuda::ste_backward(grad, x, ste); });
}

at::Tensor lsq_forward(const at::Tensor& x, const at::Tensor& step, const at::Tensor& offset,
                       const LsqArgs& args) {
  return on_device(
      x, "lsq_forward", [&] { return cpu::lsq_forward(x, step, offset, args); },
      [&] { return cuda::lsq_forward(x, step, offset, args); });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> lsq_backward(const at::Tensor& grad, const at::Tensor& x,
                                                            const at::Tensor& step, const at::Tensor& offset,
                                                            const LsqArgs& args) {
  return on_device(
      x, "lsq_backward", [&] { return cpu::lsq_backward(grad, x, step, offset, args); },
      [&] { return cuda::lsq_backward(grad, x, step, offset, args); });
}

at::Tensor shifted_sign_forward(const at::Tensor& x, const at::Tensor& shift) {
  return on_device(
      x, "shifted_sign_forward", [&] { return cpu::shifted_sign_forward(x, shift); },
      [&] { return cuda::shifted_sign_forward(x, shift); });
}

std::tuple<at::Tensor, at::Tensor> shifted_sign_backward(const at::Tensor& grad, const at::Tensor& x,
                                                         const at::Tensor& shift, ops::Ste ste) {
  TORCH_CHECK(grad.sizes() == x.sizes(), "shifted_sign_backward: gradient shape ", grad.sizes(), " != input shape ",
              x.sizes());
  auto grad_input = on_device(
      x, "shifted_sign_backward", [&] { return cpu::shifted_sign_grad_input(grad, x, shift, ste); },
      [&] { return cuda::shifted_sign_grad_input(grad, x, shift, ste); });
  // dL/db: ATen's vectorised per-channel sums of dL/dx (a sum inside the element-wise pass would
  // not vectorise on the CPU: floating-point sums are ordered).
  const auto layout = ChannelLayout::of(x, 1, shift.numel());
  const auto sums = grad_input.view({layout.outer, layout.channels, layout.inner}).sum(at::IntArrayRef{0, 2});
  return {grad_input, sums.to(shift.scalar_type()).reshape(shift.sizes())};
}

at::Tensor pack_planes(const at::Tensor& x, ops::Planes kind) {
  return on_device(
      x, "pack_planes", [&] { return cpu::pack_planes(x, kind); }, [&] { return cuda::pack_planes(x, kind); });
}

at::Tensor unpack_signs(const at::Tensor& planes, at::IntArrayRef sizes, at::ScalarType dtype) {
  check_planes("unpack_signs", planes, ops::plane_count(ops::Planes::Signs), c10::multiply_integers(sizes));
  return on_device(
      planes, "unpack_signs", [&] { return cpu::unpack_signs(planes, sizes, dtype); },
      [&] { return cuda::unpack_signs(planes, sizes, dtype); });
}

at::Tensor mask_by_plane(const at::Tensor& grad, const at::Tensor& planes) {
  check_planes("mask_by_plane", planes, 1, grad.numel());
  TORCH_CHECK(planes.device() == grad.device(), "lowbit::mask_by_plane: bit planes on ", planes.device(),
              ", the gradient on ", grad.device());
  return on_device(
      grad, "mask_by_plane", [&] { return cpu::mask_by_plane(grad, planes); },
      [&] { return cuda::mask_by_plane(grad, planes); });
}

std::tuple<at::Tensor, at::Tensor> scaled_sign_forward(const at::Tensor& w) {
  return on_device(
      w, "scaled_sign_forward", [&] { return cpu::scaled_sign_forward(w); },
      [&] { return cuda::scaled_sign_forward(w); });
}

at::Tensor scaled_sign_backward(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha,
                                bool scale_by_alpha, bool add_mean) {
  return on_device(
      w, "scaled_sign_backward", [&] { return cpu::scaled_sign_backward(grad, w, alpha, scale_by_alpha, add_mean); },
      [&] { return cuda::scaled_sign_backward(grad, w, alpha, scale_by_alpha, add_mean); });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> ternarize_forward(const at::Tensor& w, double delta, bool per_row) {
  TORCH_CHECK_VALUE(delta > 0, "ternarize: threshold factor delta must be > 0, got ", delta);
  TORCH_CHECK(!per_row || w.dim() >= 2, "ternarize: per-channel ternarization needs a weight with an output-channel "
              "dim and at least one more, got shape ", w.sizes());
  return on_device(
      w, "ternarize_forward", [&] { return cpu::ternarize_forward(w, delta, per_row); },
      [&] { return cuda::ternarize_forward(w, delta, per_row); });
}

at::Tensor bilinear_sign_forward(const at::Tensor& w, const at::Tensor& alpha, double kappa) {
  return on_device(
      w, "bilinear_sign_forward", [&] { return cpu::bilinear_sign_forward(w, alpha, kappa); },
      [&] { return cuda::bilinear_sign_forward(w, alpha, kappa); });
}

std::tuple<at::Tensor, at::Tensor> bilinear_sign_backward(const at::Tensor& grad, const at::Tensor& w,
                                                          const at::Tensor& alpha, const at::Tensor& gamma,
                                                          double kappa) {
  return on_device(
      w, "bilinear_sign_backward", [&] { return cpu::bilinear_sign_backward(grad, w, alpha, gamma, kappa); },
      [&] { return cuda::bilinear_sign_backward(grad, w, alpha, gamma, kappa); });
}

std::tuple<at::Tensor, at::Tensor> dorefa_weight_forward(const at::Tensor& t, int64_t bits) {
  return on_device(
      t, "dorefa_weight_forward", [&] { return cpu::dorefa_weight_forward(t, bits); },
      [&] { return cuda::dorefa_weight_forward(t, bits); });
}

at::Tensor dorefa_weight_backward(const at::Tensor& grad, const at::Tensor& t, const at::Tensor& max_ties,
                                  int64_t bits) {
  return on_device(
      t, "dorefa_weight_backward", [&] { return cpu::dorefa_weight_backward(grad, t, max_ties, bits); },
      [&] { return cuda::dorefa_weight_backward(grad, t, max_ties, bits); });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> adabin_weight_forward(const at::Tensor& w) {
  TORCH_CHECK(w.dim() >= 2, "adabin: expects a weight [C_out, ...] with at least 2 dims, got shape ", w.sizes());
  return on_device(
      w, "adabin_weight_forward", [&] { return cpu::adabin_weight_forward(w); },
      [&] { return cuda::adabin_weight_forward(w); });
}

at::Tensor adabin_weight_backward(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& beta,
                                  const at::Tensor& alpha, const at::Tensor& k, const at::Tensor& t) {
  return on_device(
      w, "adabin_weight_backward", [&] { return cpu::adabin_weight_backward(grad, w, beta, alpha, k, t); },
      [&] { return cuda::adabin_weight_backward(grad, w, beta, alpha, k, t); });
}

at::Tensor dorefa_activation_forward(const at::Tensor& x, int64_t bits) {
  return on_device(
      x, "dorefa_activation_forward", [&] { return cpu::dorefa_activation_forward(x, bits); },
      [&] { return cuda::dorefa_activation_forward(x, bits); });
}

at::Tensor dorefa_activation_backward(const at::Tensor& grad, const at::Tensor& x) {
  return on_device(
      x, "dorefa_activation_backward", [&] { return cpu::dorefa_activation_backward(grad, x); },
      [&] { return cuda::dorefa_activation_backward(grad, x); });
}

at::Tensor adabin_activation_forward(const at::Tensor& x, const at::Tensor& alpha, const at::Tensor& beta, bool code) {
  return on_device(
      x, "adabin_activation_forward", [&] { return cpu::adabin_activation_forward(x, alpha, beta, code); },
      [&] { return cuda::adabin_activation_forward(x, alpha, beta, code); });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> adabin_activation_backward(const at::Tensor& grad, const at::Tensor& x,
                                                                          const at::Tensor& alpha,
                                                                          const at::Tensor& beta, bool code) {
  return on_device(
      x, "adabin_activation_backward", [&] { return cpu::adabin_activation_backward(grad, x, alpha, beta, code); },
      [&] { return cuda::adabin_activation_backward(grad, x, alpha, beta, code); });
}

}  // namespace lowbit::kernels
