// Tensor-side wrappers of the CUDA launchers: dtype mapping, contiguity, the current stream,
// and the reductions that follow the LSQ backward kernel. Built only with a CUDA LibTorch.
#include <lowbit/csrc/kernels/bit_planes.h>
#include <lowbit/csrc/kernels/cuda/launch.h>
#include <lowbit/csrc/kernels/lsq.h>
#include <lowbit/csrc/kernels/shifted_sign.h>
#include <lowbit/csrc/kernels/ste_backward.h>

#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace lowbit::kernels::cuda {
namespace {

DType dtype_of(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return DType::Float;
    case at::kDouble: return DType::Double;
    case at::kHalf: return DType::Half;
    case at::kBFloat16: return DType::BFloat16;
    default: TORCH_CHECK(false, "lowbit CUDA kernels support float, double, half and bfloat16, got ", t.scalar_type());
  }
}

const void* ptr_or_null(const at::Tensor& t) { return t.defined() ? t.const_data_ptr() : nullptr; }

LsqLaunch lsq_launch(const at::Tensor& x, const at::Tensor& step, const LsqArgs& args) {
  const auto layout = ChannelLayout::of(x, args.channel_dim, step.numel());
  return {x.numel(), layout.channels, layout.inner, args.qn, args.qp, args.sign};
}

ShiftLaunch shift_launch(const at::Tensor& x, const at::Tensor& shift) {
  const auto layout = ChannelLayout::of(x, 1, shift.numel());
  return {x.numel(), layout.channels, layout.inner};
}

}  // namespace

at::Tensor ste_backward(const at::Tensor& grad, const at::Tensor& x, ops::Ste ste) {
  const c10::cuda::CUDAGuard guard(x.device());
  const auto g = grad.contiguous();
  const auto input = x.contiguous().to(g.scalar_type());
  auto out = at::empty_like(g);
  launch_ste_backward(dtype_of(g), g.const_data_ptr(), input.const_data_ptr(), out.mutable_data_ptr(), g.numel(),
                      ste, c10::cuda::getCurrentCUDAStream());
  return out;
}

at::Tensor lsq_forward(const at::Tensor& x, const at::Tensor& step, const at::Tensor& offset,
                       const LsqArgs& args) {
  const c10::cuda::CUDAGuard guard(x.device());
  const auto input = x.contiguous();
  const auto s = step.to(x.scalar_type()).contiguous();
  const auto b = offset.defined() ? offset.to(x.scalar_type()).contiguous() : at::Tensor();
  auto out = at::empty_like(input);
  launch_lsq_forward(dtype_of(input), input.const_data_ptr(), s.const_data_ptr(), ptr_or_null(b),
                     out.mutable_data_ptr(), lsq_launch(input, s, args), c10::cuda::getCurrentCUDAStream());
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> lsq_backward(const at::Tensor& grad, const at::Tensor& x,
                                                            const at::Tensor& step, const at::Tensor& offset,
                                                            const LsqArgs& args) {
  const c10::cuda::CUDAGuard guard(x.device());
  const auto input = x.contiguous();
  const auto g = grad.contiguous().to(x.scalar_type());
  const auto s = step.to(x.scalar_type()).contiguous();
  const auto b = offset.defined() ? offset.to(x.scalar_type()).contiguous() : at::Tensor();
  auto grad_input = at::empty_like(input);
  auto terms = at::empty({b.defined() ? 2 : 1, input.numel()}, input.options().dtype(at::kFloat));
  const auto launch = lsq_launch(input, s, args);
  launch_lsq_backward(dtype_of(input), g.const_data_ptr(), input.const_data_ptr(), s.const_data_ptr(),
                      ptr_or_null(b), grad_input.mutable_data_ptr(), terms[0].mutable_data_ptr<float>(),
                      b.defined() ? terms[1].mutable_data_ptr<float>() : nullptr, launch,
                      c10::cuda::getCurrentCUDAStream());
  // [terms, outer, channels, inner] -> per-channel sums.
  auto sums = terms.view({terms.size(0), -1, launch.channels, launch.inner}).sum({1, 3}, false, at::kDouble);
  auto grad_step = sums[0].to(step.scalar_type()).reshape(step.sizes());
  auto grad_offset = b.defined() ? sums[1].to(offset.scalar_type()).reshape(offset.sizes()) : at::Tensor();
  return {grad_input, grad_step, grad_offset};
}

at::Tensor shifted_sign_forward(const at::Tensor& x, const at::Tensor& shift) {
  const c10::cuda::CUDAGuard guard(x.device());
  const auto input = x.contiguous();
  const auto b = shift.to(x.scalar_type()).contiguous();
  auto out = at::empty_like(input);
  launch_shifted_sign_forward(dtype_of(input), input.const_data_ptr(), b.const_data_ptr(), out.mutable_data_ptr(),
                              shift_launch(input, b), c10::cuda::getCurrentCUDAStream());
  return out;
}

at::Tensor shifted_sign_grad_input(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& shift, ops::Ste ste) {
  const c10::cuda::CUDAGuard guard(x.device());
  const auto input = x.contiguous();
  const auto g = grad.contiguous().to(x.scalar_type());
  const auto b = shift.to(x.scalar_type()).contiguous();
  auto grad_input = at::empty_like(input);
  launch_shifted_sign_backward(dtype_of(input), g.const_data_ptr(), input.const_data_ptr(), b.const_data_ptr(),
                               grad_input.mutable_data_ptr(), ste, shift_launch(input, b),
                               c10::cuda::getCurrentCUDAStream());
  return grad_input;
}

at::Tensor pack_planes(const at::Tensor& x, ops::Planes kind) {
  const c10::cuda::CUDAGuard guard(x.device());
  const auto input = x.contiguous();
  auto out = at::empty({ops::plane_count(kind), ops::plane_bytes(input.numel())}, input.options().dtype(at::kByte));
  launch_pack_planes(dtype_of(input), input.const_data_ptr(), input.numel(), kind, out.mutable_data_ptr<uint8_t>(),
                     c10::cuda::getCurrentCUDAStream());
  return out;
}

at::Tensor unpack_signs(const at::Tensor& packed, at::IntArrayRef sizes, at::ScalarType dtype) {
  const c10::cuda::CUDAGuard guard(packed.device());
  const auto planes = packed.contiguous();
  auto out = at::empty(sizes, planes.options().dtype(dtype));
  launch_unpack_signs(dtype_of(out), planes.const_data_ptr<uint8_t>(), out.numel(), out.mutable_data_ptr(),
                      c10::cuda::getCurrentCUDAStream());
  return out;
}

at::Tensor mask_by_plane(const at::Tensor& grad, const at::Tensor& packed) {
  const c10::cuda::CUDAGuard guard(grad.device());
  const auto planes = packed.contiguous();
  const auto g = grad.contiguous();
  auto out = at::empty_like(g);
  launch_mask_by_plane(dtype_of(g), g.const_data_ptr(), planes.const_data_ptr<uint8_t>(), g.numel(),
                       out.mutable_data_ptr(), c10::cuda::getCurrentCUDAStream());
  return out;
}

}  // namespace lowbit::kernels::cuda
