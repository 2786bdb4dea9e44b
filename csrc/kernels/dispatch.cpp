// Device dispatch for the fused kernels: CPU always, CUDA when lowbit is built against a CUDA
// LibTorch (LOWBIT_WITH_CUDA).
#include <lowbit/config.h>
#include <lowbit/csrc/kernels/lsq.h>
#include <lowbit/csrc/kernels/ste_backward.h>

#include <ATen/ATen.h>

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

}  // namespace lowbit::kernels
