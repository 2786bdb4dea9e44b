// Tensor-side wrappers of the CUDA launchers: dtype mapping, contiguity, the current stream,
// and the reductions that follow the LSQ backward kernel, the weight quantizers' row sums and the
// AdaBin activation backward's block sums.
// Built only with a CUDA LibTorch.
#include <lowbit/csrc/kernels/activation_quantizers.h>
#include <lowbit/csrc/kernels/arguments.h>
#include <lowbit/csrc/kernels/binary_gemm.h>
#include <lowbit/csrc/kernels/bit_planes.h>
#include <lowbit/csrc/kernels/channel_moments.h>
#include <lowbit/csrc/kernels/cuda/launch.h>
#include <lowbit/csrc/kernels/lsq.h>
#include <lowbit/csrc/kernels/roi_align.h>
#include <lowbit/csrc/kernels/rprelu.h>
#include <lowbit/csrc/kernels/shifted_sign.h>
#include <lowbit/csrc/kernels/ste_backward.h>
#include <lowbit/csrc/kernels/weight_quantizers.h>
#include <lowbit/csrc/util/dtypes.h>

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cmath>
#include <vector>

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

// Float64 sums per channel of a dense tensor (or of flat per-element terms) over its memory order's
// [outer, channels, inner] view: a flat storage view, as reshaping a channels-last tensor would copy
// it into the logical order.
at::Tensor memory_order_channel_sums(const at::Tensor& t, const ChannelLayout& layout) {
  return t.as_strided({t.numel()}, {1})
      .reshape({layout.outer, layout.channels, layout.inner})
      .sum(at::IntArrayRef{0, 2}, false, at::kDouble);
}

// `values` (a gradient, per-row or per-channel parameters) in the dtype and on the device of
// `input`, contiguous.
at::Tensor matching(const at::Tensor& values, const at::Tensor& input) {
  return values.to(input.device(), input.scalar_type()).contiguous();
}

LsqLaunch lsq_launch(const at::Tensor& x, const ChannelLayout& layout, const LsqArgs& args) {
  return {x.numel(), layout.channels, layout.inner, args.qn, args.qp, args.sign};
}

ShiftLaunch shift_launch(const at::Tensor& x, const at::Tensor& shift) {
  const auto layout = ChannelLayout::of(x, 1, shift.numel());
  return {x.numel(), layout.channels, layout.inner};
}

// ---- weight quantizers ----

// w as [rows, cols]: a row per output channel (dim 0), or one row.
RowLaunch weight_rows(const char* op, const at::Tensor& w, bool per_row) {
  TORCH_CHECK(!per_row || w.dim() >= 1, "lowbit::", op, ": a per-row weight needs a dimension 0, got a scalar");
  const int64_t rows = per_row ? w.size(0) : 1;
  const int64_t cols = rows == 0 ? 0 : w.numel() / rows;
  return {rows, cols, row_chunks(cols)};
}

// Per-(row, chunk) partial sums for the row-sum launchers, and their totals [rows, terms].
at::Tensor row_partial(const RowLaunch& shape, int64_t terms, const at::Tensor& like) {
  return at::empty({shape.rows, shape.chunks, terms}, like.options().dtype(at::kDouble));
}
at::Tensor row_totals(const at::Tensor& partial) { return partial.sum(1).contiguous(); }

// ---- activation quantizers ----

// A gradient summed in double, shaped, typed and placed like its parameter (a copy, never a view).
at::Tensor like_parameter(const at::Tensor& sum, const at::Tensor& parameter) {
  return sum.to(parameter.device(), parameter.scalar_type(), /*non_blocking=*/false, /*copy=*/true)
      .reshape(parameter.sizes());
}

// dL/dw of the scaled sign into `out` (w's computable dtype; may be g itself: each element is read
// before it is written).
void scaled_sign_backward_into(const at::Tensor& g, const at::Tensor& input, const at::Tensor& alpha,
                               bool scale_by_alpha, bool add_mean, const at::Tensor& out) {
  const c10::cuda::CUDAGuard guard(input.device());
  const auto shape = weight_rows("scaled_sign_backward", input, true);
  check_per_row("scaled_sign_backward", alpha, shape.rows, "alpha");
  const auto a = matching(alpha, input);
  launch_scaled_sign_backward(dtype_of(input), g.const_data_ptr(), input.const_data_ptr(), a.const_data_ptr(),
                              out.mutable_data_ptr(), scale_by_alpha, add_mean, shape,
                              c10::cuda::getCurrentCUDAStream());
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
  const auto s = matching(step, input);
  const auto b = offset.defined() ? matching(offset, input) : at::Tensor();
  auto out = at::empty_like(input);
  const auto layout = ChannelLayout::of(input, args.channel_dim, s.numel());
  launch_lsq_forward(dtype_of(input), input.const_data_ptr(), s.const_data_ptr(), ptr_or_null(b),
                     out.mutable_data_ptr(), lsq_launch(input, layout, args), c10::cuda::getCurrentCUDAStream());
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> lsq_backward(const at::Tensor& grad, const at::Tensor& x,
                                                            const at::Tensor& step, const at::Tensor& offset,
                                                            const LsqArgs& args) {
  const c10::cuda::CUDAGuard guard(x.device());
  const auto input = x.contiguous();
  const auto g = matching(grad, input);
  const auto s = matching(step, input);
  const auto b = offset.defined() ? matching(offset, input) : at::Tensor();
  auto grad_input = at::empty_like(input);
  const auto computed = input.options().dtype(util::at_least_float(input.scalar_type()));  // launch.h's Acc
  auto terms = at::empty({b.defined() ? 2 : 1, input.numel()}, computed);
  const auto layout = ChannelLayout::of(input, args.channel_dim, s.numel());
  launch_lsq_backward(dtype_of(input), g.const_data_ptr(), input.const_data_ptr(), s.const_data_ptr(),
                      ptr_or_null(b), grad_input.mutable_data_ptr(), terms[0].mutable_data_ptr(),
                      b.defined() ? terms[1].mutable_data_ptr() : nullptr, lsq_launch(input, layout, args),
                      c10::cuda::getCurrentCUDAStream());
  // [terms, outer, channels, inner] -> per-channel sums (no -1: an empty input has no size to infer).
  auto sums = terms.view({terms.size(0), layout.outer, layout.channels, layout.inner}).sum({1, 3}, false, at::kDouble);
  auto grad_step = sums[0].to(step.scalar_type()).reshape(step.sizes());
  auto grad_offset = b.defined() ? sums[1].to(offset.scalar_type()).reshape(offset.sizes()) : at::Tensor();
  return {grad_input, grad_step, grad_offset};
}

at::Tensor shifted_sign_forward(const at::Tensor& x, const at::Tensor& shift) {
  const c10::cuda::CUDAGuard guard(x.device());
  const auto input = x.contiguous();
  const auto b = matching(shift, input);
  auto out = at::empty_like(input);
  launch_shifted_sign_forward(dtype_of(input), input.const_data_ptr(), b.const_data_ptr(), out.mutable_data_ptr(),
                              shift_launch(input, b), c10::cuda::getCurrentCUDAStream());
  return out;
}

std::tuple<at::Tensor, at::Tensor> shifted_sign_backward(const at::Tensor& grad, const at::Tensor& x,
                                                         const at::Tensor& shift, ops::Ste ste) {
  const c10::cuda::CUDAGuard guard(x.device());
  const auto input = x.contiguous();
  const auto g = matching(grad, input);
  const auto b = matching(shift, input);
  auto grad_input = at::empty_like(input);
  launch_shifted_sign_backward(dtype_of(input), g.const_data_ptr(), input.const_data_ptr(), b.const_data_ptr(),
                               grad_input.mutable_data_ptr(), ste, shift_launch(input, b),
                               c10::cuda::getCurrentCUDAStream());
  return {grad_input, memory_order_channel_sums(grad_input, ChannelLayout::of(input, 1, b.numel()))};
}

std::tuple<at::Tensor, at::Tensor> rprelu_forward(const at::Tensor& x, const at::Tensor& residual,
                                                  const at::Tensor& gamma, const at::Tensor& beta,
                                                  const at::Tensor& zeta, bool keep_input, const at::Tensor& scale,
                                                  const at::Tensor& shift, const at::Tensor& y) {
  const c10::cuda::CUDAGuard guard(x.device());
  const auto layout = ChannelLayout::in_memory(x, beta.numel());
  auto t = keep_input ? at::empty_like(x) : at::Tensor();
  auto bits = at::empty({ops::plane_bytes(x.numel())}, x.options().dtype(at::kByte));
  launch_rprelu_forward(dtype_of(x), x.const_data_ptr(), ptr_or_null(residual), ptr_or_null(scale),
                        ptr_or_null(shift), gamma.const_data_ptr(),
                        beta.const_data_ptr(), zeta.const_data_ptr(), y.mutable_data_ptr(),
                        keep_input ? t.mutable_data_ptr() : nullptr, bits.mutable_data_ptr<uint8_t>(),
                        {x.numel(), layout.channels, layout.inner}, c10::cuda::getCurrentCUDAStream());
  return {bits, t};
}

std::tuple<at::Tensor, at::Tensor> rprelu_backward(const at::Tensor& grad, const at::Tensor& saved,
                                                   const at::Tensor& positive, const at::Tensor& beta,
                                                   const at::Tensor& zeta, bool saved_is_output) {
  const c10::cuda::CUDAGuard guard(saved.device());
  const auto layout = ChannelLayout::in_memory(saved, beta.numel());
  auto grad_t = at::empty_like(saved);
  const auto computed = saved.options().dtype(util::at_least_float(saved.scalar_type()));  // launch.h's Acc
  auto beta_terms = at::empty({saved.numel()}, computed);
  launch_rprelu_backward(dtype_of(saved), grad.const_data_ptr(), saved.const_data_ptr(),
                         positive.const_data_ptr<uint8_t>(), beta.const_data_ptr(), zeta.const_data_ptr(),
                         saved_is_output, grad_t.mutable_data_ptr(), beta_terms.mutable_data_ptr(),
                         {saved.numel(), layout.channels, layout.inner}, c10::cuda::getCurrentCUDAStream());
  const auto sums = [&](const at::Tensor& t) { return memory_order_channel_sums(t, layout); };
  return {grad_t, at::stack({sums(grad_t), sums(beta_terms), sums(grad)})};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> batch_norm_rprelu_backward(
    const at::Tensor& grad, const at::Tensor& y, const at::Tensor& positive, const at::Tensor& residual,
    const at::Tensor& gamma, const at::Tensor& beta, const at::Tensor& zeta, const at::Tensor& weight,
    const at::Tensor& bias, const at::Tensor& invstd, bool batch_statistics) {
  const c10::cuda::CUDAGuard guard(y.device());
  const auto layout = ChannelLayout::in_memory(y, beta.numel());
  const ShiftLaunch shape{y.numel(), layout.channels, layout.inner};
  const auto stream = c10::cuda::getCurrentCUDAStream();
  auto grad_t = at::empty_like(y), grad_x = at::empty_like(y);
  const auto computed = y.options().dtype(util::at_least_float(y.scalar_type()));  // launch.h's Acc
  auto beta_terms = at::empty({y.numel()}, computed), weight_terms = at::empty({y.numel()}, computed);
  BatchNormRPReLUParams params{gamma.const_data_ptr(), beta.const_data_ptr(), zeta.const_data_ptr(),
                               weight.const_data_ptr(),  bias.const_data_ptr(), invstd.const_data_ptr(),
                               nullptr,                  nullptr};
  launch_batch_norm_rprelu_terms(dtype_of(y), grad.const_data_ptr(), y.const_data_ptr(), ptr_or_null(residual),
                                 positive.const_data_ptr<uint8_t>(), params, grad_t.mutable_data_ptr(),
                                 beta_terms.mutable_data_ptr(), weight_terms.mutable_data_ptr(), shape,
                                 stream);
  const auto channel_sums = [&](const at::Tensor& t) { return memory_order_channel_sums(t, layout); };
  const auto sums = at::stack({channel_sums(grad_t), channel_sums(beta_terms), channel_sums(grad),
                               channel_sums(weight_terms)});
  at::Tensor k0, k1;
  if (batch_statistics) {
    // In the compute type, as the CPU keeps them (half would round k0 and k1, which cancel in dL/dx).
    const auto k = (weight.reshape(-1).to(at::kDouble) * invstd.reshape(-1).to(at::kDouble)) /
                   static_cast<double>(layout.outer * layout.inner);
    k0 = (-k * sums[0]).to(computed);
    k1 = (-k * sums[3]).to(computed);
    params.k0 = k0.const_data_ptr(), params.k1 = k1.const_data_ptr();
  }
  launch_batch_norm_rprelu_input_grad(dtype_of(y), grad_t.const_data_ptr(), y.const_data_ptr(), ptr_or_null(residual),
                                      positive.const_data_ptr<uint8_t>(), params, grad_x.mutable_data_ptr(), shape,
                                      stream);
  return {grad_t, grad_x, sums};
}

at::Tensor channel_moments(const at::Tensor& x) {
  std::vector<int64_t> dims = {0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  const auto [var, mean] = at::var_mean(x, dims, /*correction=*/0, /*keepdim=*/false);
  return at::stack({mean, var}).to(at::kDouble);
}

namespace {

RoIAlignLaunch roi_align_launch(int64_t rois, at::IntArrayRef input_sizes, const RoIAlignArgs& a) {
  return {rois,       input_sizes[1], input_sizes[2],   input_sizes[3], a.pooled_h,
          a.pooled_w, a.sampling_ratio, a.spatial_scale, a.aligned};
}

}  // namespace

at::Tensor roi_align_forward(const at::Tensor& input, const at::Tensor& rois, const RoIAlignArgs& args) {
  const c10::cuda::CUDAGuard guard(input.device());
  auto out = at::empty({rois.size(0), input.size(1), args.pooled_h, args.pooled_w}, input.options());
  launch_roi_align_forward(dtype_of(input), input.const_data_ptr(), rois.const_data_ptr(), out.mutable_data_ptr(),
                           roi_align_launch(rois.size(0), input.sizes(), args), c10::cuda::getCurrentCUDAStream());
  return out;
}

at::Tensor roi_align_backward(const at::Tensor& grad, const at::Tensor& rois, at::IntArrayRef input_sizes,
                              const RoIAlignArgs& args) {
  const c10::cuda::CUDAGuard guard(grad.device());
  const auto acc = grad.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  auto grad_input = at::zeros(input_sizes, grad.options().dtype(acc));
  launch_roi_align_backward(dtype_of(grad), grad.const_data_ptr(), rois.const_data_ptr(), grad_input.mutable_data_ptr(),
                            roi_align_launch(rois.size(0), input_sizes, args), c10::cuda::getCurrentCUDAStream());
  return grad_input.to(grad.scalar_type());
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

namespace {

// x [rows, K] -> int64 [rows, planes, ceil(K / 64)] (launch_pack_bits).
at::Tensor pack_bits(const at::Tensor& x, const at::Tensor& shift, int planes) {
  const c10::cuda::CUDAGuard guard(x.device());
  const auto input = x.contiguous();
  const auto shifts = shift.defined() ? shift.to(input.scalar_type()).contiguous() : shift;
  const int64_t rows = input.size(0), k = input.size(1);
  auto out = at::empty({rows, planes, (k + 63) / 64}, input.options().dtype(at::kLong));
  launch_pack_bits(dtype_of(input), input.const_data_ptr(), ptr_or_null(shifts), rows, k, planes,
                   reinterpret_cast<uint64_t*>(out.mutable_data_ptr<int64_t>()), c10::cuda::getCurrentCUDAStream());
  return out;
}

bool has_b1_tensor_cores(const at::Device& device) {
  return at::cuda::getDeviceProperties(device.index())->major >= 8;
}

}  // namespace

at::Tensor pack_sign_bits(const at::Tensor& x, const std::optional<at::Tensor>& shift) {
  return pack_bits(x, shift.value_or(at::Tensor()), 1).squeeze(1);
}

at::Tensor pack_ternary_bits(const at::Tensor& x) { return pack_bits(x, at::Tensor(), 2); }

CudaBinaryPath binary_path(const at::Tensor& a_bits, const at::Tensor& b_bits) {
  const bool binary = a_bits.dim() == 2 && b_bits.dim() == 2;
  return binary && has_b1_tensor_cores(a_bits.device()) ? CudaBinaryPath::TensorCore : CudaBinaryPath::Popcount;
}

at::Tensor binary_gemm(const at::Tensor& a_bits, const at::Tensor& b_bits, int64_t k, CudaBinaryPath path) {
  const c10::cuda::CUDAGuard guard(a_bits.device());
  const auto a = a_bits.contiguous(), b = b_bits.contiguous();
  const BinaryGemmLaunch shape{a.size(0), b.size(0), a.size(-1), k, a.dim() == 3 ? 2 : 1, b.dim() == 3 ? 2 : 1};
  const bool tensor_cores = path == CudaBinaryPath::TensorCore;
  TORCH_CHECK(!tensor_cores || (shape.planes_a == 1 && shape.planes_b == 1 && has_b1_tensor_cores(a.device())),
              "lowbit::binary_gemm: the tensor-core path takes binary x binary operands on sm_80 or later, got ",
              shape.planes_a, " and ", shape.planes_b, " bit planes on ", a.device());
  TORCH_CHECK(shape.n <= int64_t{65535} * 64, "lowbit::binary_gemm: at most ", int64_t{65535} * 64,
              " rows of B on CUDA (the grid's y dimension), got ", shape.n);
  auto out = at::empty({shape.m, shape.n}, a.options().dtype(at::kInt));
  auto counts = tensor_cores ? at::empty({shape.m + shape.n}, a.options().dtype(at::kInt)) : at::Tensor();
  launch_binary_gemm(reinterpret_cast<const uint64_t*>(a.const_data_ptr<int64_t>()),
                     reinterpret_cast<const uint64_t*>(b.const_data_ptr<int64_t>()), out.mutable_data_ptr<int32_t>(),
                     shape, tensor_cores ? counts.mutable_data_ptr<int32_t>() : nullptr,
                     c10::cuda::getCurrentCUDAStream());
  return out;
}

std::tuple<at::Tensor, at::Tensor> scaled_sign_forward(const at::Tensor& w) {
  const c10::cuda::CUDAGuard guard(w.device());
  const auto input = computable(w);
  const auto shape = weight_rows("scaled_sign_forward", input, true);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  auto partial = row_partial(shape, 1, input);
  launch_magnitude_sums(dtype_of(input), input.const_data_ptr(), partial.mutable_data_ptr<double>(), shape, stream);
  const auto sums = row_totals(partial);
  auto out = at::empty_like(input);
  auto alpha = at::empty({shape.rows}, input.options());
  launch_scaled_sign_forward(dtype_of(input), input.const_data_ptr(), sums.const_data_ptr<double>(),
                             alpha.mutable_data_ptr(), out.mutable_data_ptr(), shape, stream);
  return {out.to(w.scalar_type()), alpha.to(w.scalar_type())};
}

at::Tensor scaled_sign_backward(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha,
                                bool scale_by_alpha, bool add_mean) {
  check_same_shape("scaled_sign_backward", grad, w);
  const auto input = computable(w);
  auto out = at::empty_like(input);
  scaled_sign_backward_into(matching(computable(grad), input), input, alpha, scale_by_alpha, add_mean, out);
  return out.to(grad.scalar_type());
}

void scaled_sign_backward_(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha, bool scale_by_alpha,
                           bool add_mean) {
  scaled_sign_backward_into(grad, computable(w), alpha, scale_by_alpha, add_mean, grad);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> ternarize_forward(const at::Tensor& w, double delta, bool per_row) {
  const c10::cuda::CUDAGuard guard(w.device());
  const auto input = computable(w);
  const auto shape = weight_rows("ternarize_forward", input, per_row);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  // Pass 1: sum |w|; pass 2: threshold_r, and the sum and count of |w| above it; pass 3: alpha_r and y.
  auto magnitudes = row_partial(shape, 1, input);
  launch_magnitude_sums(dtype_of(input), input.const_data_ptr(), magnitudes.mutable_data_ptr<double>(), shape,
                        stream);
  const auto sums = row_totals(magnitudes);
  auto thresholds = at::empty({shape.rows}, input.options());
  auto alphas = at::empty({shape.rows}, input.options());
  auto kept = row_partial(shape, 2, input);
  launch_ternary_kept_sums(dtype_of(input), input.const_data_ptr(), sums.const_data_ptr<double>(), delta,
                           thresholds.mutable_data_ptr(), kept.mutable_data_ptr<double>(), shape, stream);
  const auto kept_sums = row_totals(kept);
  auto out = at::empty_like(input);
  launch_ternarize(dtype_of(input), input.const_data_ptr(), thresholds.const_data_ptr(),
                   kept_sums.const_data_ptr<double>(), alphas.mutable_data_ptr(), out.mutable_data_ptr(), shape,
                   stream);
  return {out.to(w.scalar_type()), thresholds.to(w.scalar_type()), alphas.to(w.scalar_type())};
}

at::Tensor bilinear_sign_forward(const at::Tensor& w, const at::Tensor& alpha, double kappa,
                                 const std::optional<at::Tensor>& shift_c, const std::optional<at::Tensor>& shift_p) {
  const c10::cuda::CUDAGuard guard(w.device());
  const auto input = computable(w);
  const auto shape = weight_rows("bilinear_sign_forward", input, true);
  check_per_row("bilinear_sign_forward", alpha, shape.rows, "alpha");
  const bool shifted = check_shift("bilinear_sign_forward", shift_c, shift_p, w, shape.rows);
  const auto a = matching(alpha, input);
  const auto c = shifted ? matching(*shift_c, input) : at::Tensor();
  const auto p = shifted ? matching(*shift_p, input) : at::Tensor();
  auto out = at::empty_like(input);
  launch_bilinear_sign_forward(dtype_of(input), input.const_data_ptr(), a.const_data_ptr(), kappa,
                               BilinearShift{ptr_or_null(c), ptr_or_null(p)}, out.mutable_data_ptr(), shape,
                               c10::cuda::getCurrentCUDAStream());
  return out.to(w.scalar_type());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> bilinear_sign_backward(
    const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha, const at::Tensor& gamma, double kappa,
    const std::optional<at::Tensor>& shift_c, const std::optional<at::Tensor>& shift_p, double record_scale) {
  check_same_shape("bilinear_sign_backward", grad, w);
  const c10::cuda::CUDAGuard guard(w.device());
  const auto input = computable(w);
  const auto shape = weight_rows("bilinear_sign_backward", input, true);
  check_per_row("bilinear_sign_backward", alpha, shape.rows, "alpha");
  check_per_row("bilinear_sign_backward", gamma, shape.rows, "gamma");
  const bool shifted = check_shift("bilinear_sign_backward", shift_c, shift_p, w, shape.rows);
  const auto record = record_mode("bilinear_sign_backward", record_scale);
  const auto g = matching(computable(grad), input);
  const auto a = matching(alpha, input);
  const auto gm = matching(gamma, input);
  const auto c = shifted ? matching(*shift_c, input) : at::Tensor();
  const auto p = shifted ? matching(*shift_p, input) : at::Tensor();
  auto out = at::empty_like(input);
  auto recorded = record == ops::Record::None ? at::empty({0}, input.options()) : at::empty_like(input);
  auto partial = row_partial(shape, 3, input);
  launch_bilinear_sign_backward(dtype_of(input), g.const_data_ptr(), input.const_data_ptr(), a.const_data_ptr(),
                                gm.const_data_ptr(), kappa, BilinearShift{ptr_or_null(c), ptr_or_null(p)},
                                BilinearRecord{record, record_scale,
                                               record == ops::Record::None ? nullptr : recorded.mutable_data_ptr()},
                                out.mutable_data_ptr(), partial.mutable_data_ptr<double>(), shape,
                                c10::cuda::getCurrentCUDAStream());
  // dL/dalpha_r = sum g w - gamma_r sum r b, dL/dc_r = -sum dL/dW~ P, in double.
  const auto sums = row_totals(partial);
  const auto grad_alpha = sums.select(1, 0) - gm.reshape({-1}).to(at::kDouble) * sums.select(1, 1);
  const auto grad_c = shifted ? (-sums.select(1, 2)).to(shift_c->scalar_type()) : at::empty({0}, grad.options());
  return {out.to(grad.scalar_type()), grad_alpha.to(alpha.scalar_type()), grad_c, recorded.to(grad.scalar_type())};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> dorefa_weight_forward(const at::Tensor& w, int64_t bits) {
  const double levels = quantization_levels("dorefa_weight", bits, 2);
  const c10::cuda::CUDAGuard guard(w.device());
  const auto input = at::tanh(computable(w));  // t
  const int64_t n = input.numel();
  auto out = at::empty_like(input);
  if (n == 0) return {out.to(w.scalar_type()), input, at::zeros({2}, input.options().dtype(at::kDouble))};
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const RowLaunch shape{1, n, row_chunks(n)};
  auto partial = row_partial(shape, 2, input);
  launch_dorefa_max_ties(dtype_of(input), input.const_data_ptr(), partial.mutable_data_ptr<double>(), shape, stream);
  // The chunks' largest max, and the ties of the chunks that reach it (whole counts: exact in any order).
  const auto maxima = partial.select(2, 0);  // [1, chunks]
  const auto max = maxima.amax(1);           // [1]
  const auto ties = partial.select(2, 1).mul(maxima.eq(max.unsqueeze(1))).sum(1);
  const auto max_ties = at::cat({max, ties}).contiguous();  // [M, ties], float64
  launch_dorefa_weight_forward(dtype_of(input), input.const_data_ptr(), max_ties.const_data_ptr<double>(), levels,
                               out.mutable_data_ptr(), n, stream);
  return {out.to(w.scalar_type()), input, max_ties};
}

at::Tensor dorefa_weight_backward(const at::Tensor& grad, const at::Tensor& t, const at::Tensor& max_ties,
                                  int64_t bits) {
  check_same_shape("dorefa_weight_backward", grad, t);
  TORCH_CHECK(max_ties.numel() == 2, "lowbit::dorefa_weight_backward: max_ties has ", max_ties.numel(),
              " elements, expected 2 (max |t|, ties)");
  quantization_levels("dorefa_weight", bits, 2);  // checks bits
  const c10::cuda::CUDAGuard guard(t.device());
  const auto input = computable(t);
  const auto g = matching(computable(grad), input);
  const auto stats = max_ties.to(input.device(), at::kDouble).contiguous();
  const int64_t n = input.numel();
  auto out = at::empty_like(input);
  if (n > 0) {
    const auto stream = c10::cuda::getCurrentCUDAStream();
    const RowLaunch shape{1, n, row_chunks(n)};
    auto partial = row_partial(shape, 1, input);
    launch_dorefa_gt_sums(dtype_of(input), g.const_data_ptr(), input.const_data_ptr(),
                          partial.mutable_data_ptr<double>(), shape, stream);
    const auto gt_sum = row_totals(partial);  // [1, 1]
    launch_dorefa_weight_backward(dtype_of(input), g.const_data_ptr(), input.const_data_ptr(),
                                  stats.const_data_ptr<double>(), gt_sum.const_data_ptr<double>(),
                                  out.mutable_data_ptr(), n, stream);
  }
  return out.to(grad.scalar_type());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> adabin_weight_forward(const at::Tensor& w) {
  const c10::cuda::CUDAGuard guard(w.device());
  const auto input = computable(w);
  const auto shape = weight_rows("adabin_weight_forward", input, true);
  const auto dtype = dtype_of(input);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  // Pass 1: sum w; pass 2: beta_r, and sum (w - beta_r)^2; pass 3: alpha_r and y.
  auto values = row_partial(shape, 1, input);
  launch_adabin_weight_sums(dtype, input.const_data_ptr(), values.mutable_data_ptr<double>(), shape, stream);
  const auto sums = row_totals(values);
  auto beta = at::empty({shape.rows}, input.options());
  auto deviations = row_partial(shape, 1, input);
  launch_adabin_deviation_sums(dtype, input.const_data_ptr(), sums.const_data_ptr<double>(), beta.mutable_data_ptr(),
                               deviations.mutable_data_ptr<double>(), shape, stream);
  const auto deviation_sums = row_totals(deviations);
  auto alpha = at::empty({shape.rows}, input.options());
  auto out = at::empty_like(input);
  launch_adabin_weight_forward(dtype, input.const_data_ptr(), beta.const_data_ptr(),
                               deviation_sums.const_data_ptr<double>(), alpha.mutable_data_ptr(),
                               out.mutable_data_ptr(), shape, stream);
  return {out.to(w.scalar_type()), beta.to(w.scalar_type()), alpha.to(w.scalar_type())};
}

at::Tensor adabin_weight_backward(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& beta,
                                  const at::Tensor& alpha, const at::Tensor& k, const at::Tensor& t) {
  check_same_shape("adabin_weight_backward", grad, w);
  check_scalar("adabin_weight_backward", k, "k");
  check_scalar("adabin_weight_backward", t, "t");
  const c10::cuda::CUDAGuard guard(w.device());
  const auto input = computable(w);
  const auto shape = weight_rows("adabin_weight_backward", input, true);
  check_per_row("adabin_weight_backward", beta, shape.rows, "beta");
  check_per_row("adabin_weight_backward", alpha, shape.rows, "alpha");
  const auto dtype = dtype_of(input);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const auto g = matching(computable(grad), input);
  const auto b = matching(beta, input);
  const auto a = matching(alpha, input);
  const auto kk = matching(k, input);  // read on the device by the kernels: no host sync
  const auto tt = matching(t, input);
  // Pass 1: the row sums of g, g s, e, e d, d; pass 2: the per-row coefficients and dL/dw.
  auto partial = row_partial(shape, 5, input);
  launch_adabin_weight_grad_sums(dtype, g.const_data_ptr(), input.const_data_ptr(), b.const_data_ptr(),
                                 a.const_data_ptr(), kk.const_data_ptr(), tt.const_data_ptr(),
                                 partial.mutable_data_ptr<double>(), shape, stream);
  const auto sums = row_totals(partial);  // [rows, 5]
  auto scalars = at::empty({shape.rows, 3}, input.options());
  auto out = at::empty_like(input);
  launch_adabin_weight_backward(dtype, g.const_data_ptr(), input.const_data_ptr(), b.const_data_ptr(),
                                a.const_data_ptr(), kk.const_data_ptr(), tt.const_data_ptr(),
                                sums.const_data_ptr<double>(), scalars.mutable_data_ptr(), out.mutable_data_ptr(),
                                shape, stream);
  return out.to(grad.scalar_type());
}

at::Tensor dorefa_activation_forward(const at::Tensor& x, int64_t bits) {
  const double levels = quantization_levels("dorefa_activation", bits, 1);
  const c10::cuda::CUDAGuard guard(x.device());
  const auto input = computable(x);
  auto out = at::empty_like(input);
  launch_dorefa_activation_forward(dtype_of(input), input.const_data_ptr(), levels, out.mutable_data_ptr(),
                                   input.numel(), c10::cuda::getCurrentCUDAStream());
  return out.to(x.scalar_type());
}

at::Tensor dorefa_activation_backward(const at::Tensor& grad, const at::Tensor& x) {
  check_same_shape("dorefa_activation_backward", grad, x);
  const c10::cuda::CUDAGuard guard(x.device());
  const auto input = computable(x);
  const auto g = matching(computable(grad), input);
  auto out = at::empty_like(input);
  launch_dorefa_activation_backward(dtype_of(input), g.const_data_ptr(), input.const_data_ptr(),
                                    out.mutable_data_ptr(), input.numel(), c10::cuda::getCurrentCUDAStream());
  return out.to(grad.scalar_type());
}

at::Tensor adabin_activation_forward(const at::Tensor& x, const at::Tensor& alpha, const at::Tensor& beta, bool code) {
  check_scalar("adabin_activation_forward", alpha, "alpha");
  check_scalar("adabin_activation_forward", beta, "beta");
  const c10::cuda::CUDAGuard guard(x.device());
  const auto input = computable(x);
  const auto a = matching(alpha, input);  // read on the device by the kernel: no host sync
  const auto b = matching(beta, input);
  auto out = at::empty_like(input);
  launch_adabin_activation_forward(dtype_of(input), input.const_data_ptr(), a.const_data_ptr(), b.const_data_ptr(),
                                   code, out.mutable_data_ptr(), input.numel(), c10::cuda::getCurrentCUDAStream());
  return out.to(x.scalar_type());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> adabin_activation_backward(const at::Tensor& grad, const at::Tensor& x,
                                                                          const at::Tensor& alpha,
                                                                          const at::Tensor& beta, bool code) {
  check_same_shape("adabin_activation_backward", grad, x);
  check_scalar("adabin_activation_backward", alpha, "alpha");
  check_scalar("adabin_activation_backward", beta, "beta");
  const c10::cuda::CUDAGuard guard(x.device());
  const auto input = computable(x);
  const auto g = matching(computable(grad), input);
  const auto a = matching(alpha, input);
  const auto b = matching(beta, input);
  const int64_t n = input.numel();
  const int64_t blocks = row_chunks(n);  // 0 for an empty input: the sums below are then 0
  auto out = at::empty_like(input);
  auto partial = at::empty({blocks, 2}, input.options().dtype(at::kDouble));
  launch_adabin_activation_backward(dtype_of(input), g.const_data_ptr(), input.const_data_ptr(), a.const_data_ptr(),
                                    b.const_data_ptr(), code, out.mutable_data_ptr(),
                                    partial.mutable_data_ptr<double>(), n, blocks, c10::cuda::getCurrentCUDAStream());
  const auto sums = partial.sum(0);  // [2]: dL/dalpha, dL/dbeta in double
  return {out.to(grad.scalar_type()), like_parameter(sums[0], alpha), like_parameter(sums[1], beta)};
}

}  // namespace lowbit::kernels::cuda
