// lowbit's kernels as PyTorch operators in the namespace `lowbit` (torch.ops.lowbit.* once
// liblowbit is loaded), as torchvision's csrc/ops: the schemas; the CPU kernels (kernels/cpu), the
// CUDA kernels (kernels/cuda, when lowbit is built against a CUDA LibTorch: LOWBIT_WITH_CUDA) and
// shape-only Meta kernels (for meta and fake tensors: tracing, export), registered per dispatch
// key. The functions of the kernel headers check their arguments and call the operators through
// the dispatcher. Autocast needs no kernel of its own: every kernel takes float16 and bfloat16,
// computes in float and returns its inputs' dtype.
#include <lowbit/config.h>
#include <lowbit/csrc/kernels/activation_quantizers.h>
#include <lowbit/csrc/kernels/binary_gemm.h>
#include <lowbit/csrc/kernels/bit_planes.h>
#include <lowbit/csrc/kernels/channel_moments.h>
#include <lowbit/csrc/kernels/lsq.h>
#include <lowbit/csrc/kernels/roi_align.h>
#include <lowbit/csrc/kernels/rprelu.h>
#include <lowbit/csrc/kernels/shifted_sign.h>
#include <lowbit/csrc/kernels/ste_backward.h>
#include <lowbit/csrc/kernels/weight_quantizers.h>
#include <lowbit/csrc/ops/bit_planes.h>

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/accumulate.h>
#include <torch/library.h>

#include <optional>

namespace lowbit::kernels {
namespace {

using Tensor = at::Tensor;
using OptionalTensor = std::optional<at::Tensor>;
using Tensors2 = std::tuple<at::Tensor, at::Tensor>;
using Tensors3 = std::tuple<at::Tensor, at::Tensor, at::Tensor>;
using Tensors4 = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

// The operator `lowbit::<name>` with the C++ signature Fn, looked up once per call site.
#define LOWBIT_OP(name, Fn)                                                                            \
  ([]() -> const c10::TypedOperatorHandle<Fn>& {                                                       \
    static const auto handle = c10::Dispatcher::singleton().findSchemaOrThrow("lowbit::" name, "").typed<Fn>(); \
    return handle;                                                                                     \
  }())

Tensor value_or_undefined(const OptionalTensor& t) { return t.has_value() ? *t : Tensor(); }
OptionalTensor optional_of(const Tensor& t) { return t.defined() ? OptionalTensor(t) : std::nullopt; }

// planes: uint8 [at least `count`, plane_bytes(n)].
void check_planes(const char* op, const at::Tensor& planes, int64_t count, int64_t n) {
  TORCH_CHECK(planes.scalar_type() == at::kByte && planes.dim() == 2 && planes.size(0) >= count &&
                  planes.size(1) == ops::plane_bytes(n),
              "lowbit::", op, ": expected uint8 bit planes [", count, ", ", ops::plane_bytes(n), "] for ", n,
              " elements, got ", planes.scalar_type(), " ", planes.sizes());
}

TORCH_LIBRARY_FRAGMENT(lowbit, m) {
  m.def("ste_backward(Tensor grad, Tensor x, int ste) -> Tensor");
  m.def("lsq_forward(Tensor x, Tensor step, Tensor? offset, float qn, float qp, int channel_dim, bool sign) -> Tensor");
  m.def("lsq_backward(Tensor grad, Tensor x, Tensor step, Tensor? offset, float qn, float qp, int channel_dim, "
        "bool sign) -> (Tensor, Tensor, Tensor)");
  m.def("rprelu_forward(Tensor x, Tensor? residual, Tensor gamma, Tensor beta, Tensor zeta, bool keep_input, "
        "Tensor? scale=None, Tensor? shift=None) -> (Tensor, Tensor, Tensor)");
  m.def("rprelu_forward_(Tensor(a!) x, Tensor? residual, Tensor gamma, Tensor beta, Tensor zeta, bool keep_input, "
        "Tensor? scale=None, Tensor? shift=None) -> (Tensor, Tensor)");
  m.def("rprelu_backward(Tensor grad, Tensor saved, Tensor positive, Tensor beta, Tensor zeta, bool saved_is_output) "
        "-> (Tensor, Tensor)");
  m.def("batch_norm_rprelu_backward(Tensor grad, Tensor y, Tensor positive, Tensor? residual, Tensor gamma, "
        "Tensor beta, Tensor zeta, Tensor weight, Tensor bias, Tensor invstd, bool batch_statistics) "
        "-> (Tensor, Tensor, Tensor)");
  m.def("channel_moments(Tensor x) -> Tensor");
  m.def("roi_align_forward(Tensor input, Tensor rois, float spatial_scale, int pooled_h, int pooled_w, "
        "int sampling_ratio, bool aligned) -> Tensor");
  m.def("roi_align_backward(Tensor grad, Tensor rois, int[] input_sizes, float spatial_scale, int pooled_h, "
        "int pooled_w, int sampling_ratio, bool aligned) -> Tensor");
  m.def("shifted_sign_forward(Tensor x, Tensor shift) -> Tensor");
  m.def("shifted_sign_backward(Tensor grad, Tensor x, Tensor shift, int ste) -> (Tensor, Tensor)");
  m.def("pack_planes(Tensor x, int kind) -> Tensor");
  m.def("pack_sign_bits(Tensor x, Tensor? shift=None) -> Tensor");
  m.def("pack_ternary_bits(Tensor x) -> Tensor");
  m.def("binary_gemm(Tensor a_bits, Tensor b_bits, int k) -> Tensor");
  m.def("unpack_signs(Tensor planes, int[] sizes, ScalarType dtype) -> Tensor");
  m.def("mask_by_plane(Tensor grad, Tensor planes) -> Tensor");
  m.def("scaled_sign_forward(Tensor w) -> (Tensor, Tensor)");
  m.def("scaled_sign_backward(Tensor grad, Tensor w, Tensor alpha, bool scale_by_alpha, bool add_mean) -> Tensor");
  m.def("scaled_sign_backward_(Tensor(a!) grad, Tensor w, Tensor alpha, bool scale_by_alpha, bool add_mean) -> ()");
  m.def("ternarize_forward(Tensor w, float delta, bool per_row) -> (Tensor, Tensor, Tensor)");
  m.def("bilinear_sign_forward(Tensor w, Tensor alpha, float kappa, Tensor? shift_c=None, Tensor? shift_p=None) -> "
        "Tensor");
  m.def("bilinear_sign_backward(Tensor grad, Tensor w, Tensor alpha, Tensor gamma, float kappa, Tensor? shift_c=None, "
        "Tensor? shift_p=None, float record_scale=0) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def("dorefa_weight_forward(Tensor w, int bits) -> (Tensor, Tensor, Tensor)");
  m.def("dorefa_weight_backward(Tensor grad, Tensor t, Tensor max_ties, int bits) -> Tensor");
  m.def("adabin_weight_forward(Tensor w) -> (Tensor, Tensor, Tensor)");
  m.def("adabin_weight_backward(Tensor grad, Tensor w, Tensor beta, Tensor alpha, Tensor k, Tensor t) -> Tensor");
  m.def("dorefa_activation_forward(Tensor x, int bits) -> Tensor");
  m.def("dorefa_activation_backward(Tensor grad, Tensor x) -> Tensor");
  m.def("adabin_activation_forward(Tensor x, Tensor alpha, Tensor beta, bool code) -> Tensor");
  m.def("adabin_activation_backward(Tensor grad, Tensor x, Tensor alpha, Tensor beta, bool code) -> "
        "(Tensor, Tensor, Tensor)");
}

// The kernels of namespace `ns` (cpu or cuda, which declare the same functions) for the schemas
// above; enums and LsqArgs travel as integers and floats.
#define LOWBIT_DEVICE_KERNELS(ns)                                                                              \
  m.impl("ste_backward", [](const Tensor& g, const Tensor& x, int64_t ste) {                                   \
    return ns::ste_backward(g, x, static_cast<ops::Ste>(ste));                                                 \
  });                                                                                                          \
  m.impl("lsq_forward", [](const Tensor& x, const Tensor& step, const OptionalTensor& offset, double qn,       \
                           double qp, int64_t dim, bool sign) {                                                \
    return ns::lsq_forward(x, step, value_or_undefined(offset), LsqArgs{qn, qp, dim, sign});                  \
  });                                                                                                          \
  m.impl("lsq_backward", [](const Tensor& g, const Tensor& x, const Tensor& step, const OptionalTensor& offset, \
                            double qn, double qp, int64_t dim, bool sign) {                                    \
    return ns::lsq_backward(g, x, step, value_or_undefined(offset), LsqArgs{qn, qp, dim, sign});              \
  });                                                                                                          \
  m.impl("rprelu_forward", [](const Tensor& x, const OptionalTensor& residual, const Tensor& gamma,              \
                             const Tensor& beta, const Tensor& zeta, bool keep_input, const OptionalTensor& scale, \
                             const OptionalTensor& shift) {                                                    \
    auto y = at::empty_like(x);                                                                                \
    auto [bits, t] = ns::rprelu_forward(x, value_or_undefined(residual), gamma, beta, zeta, keep_input,        \
                                        value_or_undefined(scale), value_or_undefined(shift), y);              \
    return Tensors3{y, bits, t};                                                                               \
  });                                                                                                          \
  m.impl("rprelu_forward_", [](const Tensor& x, const OptionalTensor& residual, const Tensor& gamma,             \
                              const Tensor& beta, const Tensor& zeta, bool keep_input, const OptionalTensor& scale, \
                              const OptionalTensor& shift) {                                                   \
    return ns::rprelu_forward(x, value_or_undefined(residual), gamma, beta, zeta, keep_input,                  \
                              value_or_undefined(scale), value_or_undefined(shift), x);                        \
  });                                                                                                          \
  m.impl("rprelu_backward", &ns::rprelu_backward);                                                             \
  m.impl("batch_norm_rprelu_backward",                                                                         \
         [](const Tensor& g, const Tensor& y, const Tensor& positive, const OptionalTensor& residual,          \
            const Tensor& gamma, const Tensor& beta, const Tensor& zeta, const Tensor& weight, const Tensor& bias, \
            const Tensor& invstd, bool batch_statistics) {                                                     \
           return ns::batch_norm_rprelu_backward(g, y, positive, value_or_undefined(residual), gamma, beta, zeta, \
                                                 weight, bias, invstd, batch_statistics);                      \
         });                                                                                                   \
  m.impl("channel_moments", &ns::channel_moments);                                                             \
  m.impl("roi_align_forward", [](const Tensor& input, const Tensor& rois, double scale, int64_t ph, int64_t pw,  \
                                 int64_t sampling_ratio, bool aligned) {                                       \
    return ns::roi_align_forward(input, rois, RoIAlignArgs{scale, ph, pw, sampling_ratio, aligned});           \
  });                                                                                                          \
  m.impl("roi_align_backward", [](const Tensor& grad, const Tensor& rois, at::IntArrayRef sizes, double scale,  \
                                  int64_t ph, int64_t pw, int64_t sampling_ratio, bool aligned) {              \
    return ns::roi_align_backward(grad, rois, sizes, RoIAlignArgs{scale, ph, pw, sampling_ratio, aligned});    \
  });                                                                                                          \
  m.impl("shifted_sign_forward", &ns::shifted_sign_forward);                                                   \
  m.impl("shifted_sign_backward", [](const Tensor& g, const Tensor& x, const Tensor& shift, int64_t ste) {     \
    return ns::shifted_sign_backward(g, x, shift, static_cast<ops::Ste>(ste));                                 \
  });                                                                                                          \
  m.impl("pack_planes",                                                                                        \
         [](const Tensor& x, int64_t kind) { return ns::pack_planes(x, static_cast<ops::Planes>(kind)); });    \
  m.impl("unpack_signs", &ns::unpack_signs);                                                                   \
  m.impl("mask_by_plane", &ns::mask_by_plane);                                                                 \
  m.impl("scaled_sign_forward", &ns::scaled_sign_forward);                                                     \
  m.impl("scaled_sign_backward", &ns::scaled_sign_backward);                                                   \
  m.impl("scaled_sign_backward_", &ns::scaled_sign_backward_);                                                 \
  m.impl("ternarize_forward", &ns::ternarize_forward);                                                         \
  m.impl("bilinear_sign_forward", &ns::bilinear_sign_forward);                                                 \
  m.impl("bilinear_sign_backward", &ns::bilinear_sign_backward);                                               \
  m.impl("dorefa_weight_forward", &ns::dorefa_weight_forward);                                                 \
  m.impl("dorefa_weight_backward", &ns::dorefa_weight_backward);                                               \
  m.impl("adabin_weight_forward", &ns::adabin_weight_forward);                                                 \
  m.impl("adabin_weight_backward", &ns::adabin_weight_backward);                                               \
  m.impl("dorefa_activation_forward", &ns::dorefa_activation_forward);                                         \
  m.impl("dorefa_activation_backward", &ns::dorefa_activation_backward);                                       \
  m.impl("adabin_activation_forward", &ns::adabin_activation_forward);                                         \
  m.impl("adabin_activation_backward", &ns::adabin_activation_backward)

TORCH_LIBRARY_IMPL(lowbit, CPU, m) {
  LOWBIT_DEVICE_KERNELS(cpu);
  // The bit kernels (binary_gemm.h).
  m.impl("pack_sign_bits", &cpu::pack_sign_bits);
  m.impl("pack_ternary_bits", &cpu::pack_ternary_bits);
  m.impl("binary_gemm", [](const Tensor& a, const Tensor& b, int64_t k) { return cpu::binary_gemm(a, b, k, cpu_binary_isa()); });
}
#ifdef LOWBIT_WITH_CUDA
TORCH_LIBRARY_IMPL(lowbit, CUDA, m) {
  LOWBIT_DEVICE_KERNELS(cuda);
  m.impl("pack_sign_bits", &cuda::pack_sign_bits);
  m.impl("pack_ternary_bits", &cuda::pack_ternary_bits);
  m.impl("binary_gemm", [](const Tensor& a, const Tensor& b, int64_t k) {
    return cuda::binary_gemm(a, b, k, cuda::binary_path(a, b));
  });
}
#endif

// Shapes and dtypes only: what each kernel returns, for meta (and fake) tensors.
namespace meta {

Tensor like(const Tensor& t) { return at::empty_like(t); }
Tensor rows_of(const Tensor& w, int64_t rows) { return at::empty({rows}, w.options()); }

}  // namespace meta

TORCH_LIBRARY_IMPL(lowbit, Meta, m) {  // the bit kernels
  m.impl("pack_sign_bits", [](const Tensor& x, const std::optional<Tensor>&) {
    return at::empty({x.size(0), (x.size(1) + 63) / 64}, x.options().dtype(at::kLong));
  });
  m.impl("pack_ternary_bits", [](const Tensor& x) {
    return at::empty({x.size(0), 2, (x.size(1) + 63) / 64}, x.options().dtype(at::kLong));
  });
  m.impl("binary_gemm", [](const Tensor& a, const Tensor& b, int64_t) {
    return at::empty({a.size(0), b.size(0)}, a.options().dtype(at::kInt));
  });
}

TORCH_LIBRARY_IMPL(lowbit, Meta, m) {
  m.impl("ste_backward", [](const Tensor& g, const Tensor&, int64_t) { return meta::like(g); });
  m.impl("lsq_forward", [](const Tensor& x, const Tensor&, const OptionalTensor&, double, double, int64_t, bool) {
    return meta::like(x);
  });
  m.impl("lsq_backward", [](const Tensor&, const Tensor& x, const Tensor& step, const OptionalTensor& offset, double,
                            double, int64_t, bool) {
    return Tensors3{meta::like(x), meta::like(step), offset.has_value() ? meta::like(*offset) : Tensor()};
  });
  m.impl("rprelu_forward", [](const Tensor& x, const OptionalTensor&, const Tensor&, const Tensor&, const Tensor&,
                               bool keep_input, const OptionalTensor&, const OptionalTensor&) {
    return Tensors3{meta::like(x), at::empty({ops::plane_bytes(x.numel())}, x.options().dtype(at::kByte)),
                    keep_input ? meta::like(x) : Tensor()};
  });
  m.impl("rprelu_forward_", [](const Tensor& x, const OptionalTensor&, const Tensor&, const Tensor&, const Tensor&,
                                bool keep_input, const OptionalTensor&, const OptionalTensor&) {
    return Tensors2{at::empty({ops::plane_bytes(x.numel())}, x.options().dtype(at::kByte)),
                    keep_input ? meta::like(x) : Tensor()};
  });
  m.impl("rprelu_backward", [](const Tensor&, const Tensor& saved, const Tensor&, const Tensor& beta, const Tensor&,
                                bool) {
    return Tensors2{meta::like(saved), at::empty({3, beta.numel()}, saved.options().dtype(at::kDouble))};
  });
  m.impl("batch_norm_rprelu_backward", [](const Tensor&, const Tensor& y, const Tensor&, const OptionalTensor&,
                                           const Tensor&, const Tensor& beta, const Tensor&, const Tensor&,
                                           const Tensor&, const Tensor&, bool) {
    return Tensors3{meta::like(y), meta::like(y), at::empty({4, beta.numel()}, y.options().dtype(at::kDouble))};
  });
  m.impl("channel_moments",
         [](const Tensor& x) { return at::empty({2, x.size(1)}, x.options().dtype(at::kDouble)); });
  m.impl("roi_align_forward", [](const Tensor& input, const Tensor& rois, double, int64_t ph, int64_t pw, int64_t,
                                  bool) { return at::empty({rois.size(0), input.size(1), ph, pw}, input.options()); });
  m.impl("roi_align_backward", [](const Tensor& grad, const Tensor&, at::IntArrayRef sizes, double, int64_t, int64_t,
                                   int64_t, bool) { return at::empty(sizes, grad.options()); });
  m.impl("shifted_sign_forward", [](const Tensor& x, const Tensor&) { return meta::like(x); });
  m.impl("shifted_sign_backward", [](const Tensor& g, const Tensor&, const Tensor& shift, int64_t) {
    return Tensors2{meta::like(g), at::empty({shift.numel()}, g.options().dtype(at::kDouble))};
  });
  m.impl("pack_planes", [](const Tensor& x, int64_t kind) {
    return at::empty({ops::plane_count(static_cast<ops::Planes>(kind)), ops::plane_bytes(x.numel())},
                     x.options().dtype(at::kByte));
  });
  m.impl("unpack_signs", [](const Tensor& planes, at::IntArrayRef sizes, at::ScalarType dtype) {
    return at::empty(sizes, planes.options().dtype(dtype));
  });
  m.impl("mask_by_plane", [](const Tensor& g, const Tensor&) { return meta::like(g); });
  m.impl("dorefa_activation_forward", [](const Tensor& x, int64_t) { return meta::like(x); });
  m.impl("dorefa_activation_backward", [](const Tensor& g, const Tensor&) { return meta::like(g); });
  m.impl("adabin_activation_forward",
         [](const Tensor& x, const Tensor&, const Tensor&, bool) { return meta::like(x); });
  m.impl("adabin_activation_backward", [](const Tensor& g, const Tensor&, const Tensor& alpha, const Tensor& beta, bool) {
    return Tensors3{meta::like(g), meta::like(alpha), meta::like(beta)};
  });
}

TORCH_LIBRARY_IMPL(lowbit, Meta, m) {  // the weight quantizers
  m.impl("scaled_sign_forward", [](const Tensor& w) { return Tensors2{meta::like(w), meta::rows_of(w, w.size(0))}; });
  m.impl("scaled_sign_backward",
         [](const Tensor& g, const Tensor&, const Tensor&, bool, bool) { return meta::like(g); });
  m.impl("scaled_sign_backward_", [](const Tensor&, const Tensor&, const Tensor&, bool, bool) {});
  m.impl("ternarize_forward", [](const Tensor& w, double, bool per_row) {
    const int64_t rows = per_row ? w.size(0) : 1;
    return Tensors3{meta::like(w), meta::rows_of(w, rows), meta::rows_of(w, rows)};
  });
  m.impl("bilinear_sign_forward", [](const Tensor& w, const Tensor&, double, const OptionalTensor&,
                                     const OptionalTensor&) { return meta::like(w); });
  m.impl("bilinear_sign_backward", [](const Tensor& g, const Tensor&, const Tensor& alpha, const Tensor&, double,
                                      const OptionalTensor& c, const OptionalTensor&, double record_scale) {
    const bool shifted = c.has_value() && c->defined();
    const auto grad_c = shifted ? at::empty({c->numel()}, c->options()) : at::empty({0}, g.options());
    const auto recorded = record_scale > 0 ? meta::like(g) : at::empty({0}, g.options());
    return Tensors4{meta::like(g), at::empty({alpha.numel()}, alpha.options()), grad_c, recorded};  // dL/dalpha [rows]
  });
  m.impl("dorefa_weight_forward", [](const Tensor& w, int64_t) {
    return Tensors3{meta::like(w), at::empty_like(w, w.options().dtype(at::promote_types(w.scalar_type(), at::kFloat))),
                    at::empty({2}, w.options().dtype(at::kDouble))};
  });
  m.impl("dorefa_weight_backward", [](const Tensor& g, const Tensor&, const Tensor&, int64_t) { return meta::like(g); });
  m.impl("adabin_weight_forward", [](const Tensor& w) {
    return Tensors3{meta::like(w), meta::rows_of(w, w.size(0)), meta::rows_of(w, w.size(0))};
  });
  m.impl("adabin_weight_backward",
         [](const Tensor& g, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
           return meta::like(g);
         });
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

ChannelLayout ChannelLayout::in_memory(const at::Tensor& x, int64_t channels) {
  if (x.dim() == 4 && !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast)) {
    TORCH_CHECK(x.size(1) == channels, "per-channel state has ", channels, " entries but the input has ", x.size(1),
                " along dim 1 (input shape ", x.sizes(), ")");
    return {x.size(0) * x.size(2) * x.size(3), channels, 1};
  }
  return of(x, 1, channels);
}

at::Tensor ste_backward(const at::Tensor& grad, const at::Tensor& x, ops::Ste ste) {
  TORCH_CHECK(grad.sizes() == x.sizes(), "ste_backward: gradient shape ", grad.sizes(), " != input shape ",
              x.sizes());
  return LOWBIT_OP("ste_backward", Tensor(const Tensor&, const Tensor&, int64_t)).call(grad, x, static_cast<int64_t>(ste));
}

at::Tensor lsq_forward(const at::Tensor& x, const at::Tensor& step, const at::Tensor& offset,
                       const LsqArgs& args) {
  return LOWBIT_OP("lsq_forward", Tensor(const Tensor&, const Tensor&, const OptionalTensor&, double, double, int64_t, bool))
      .call(x, step, optional_of(offset), args.qn, args.qp, args.channel_dim, args.sign);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> lsq_backward(const at::Tensor& grad, const at::Tensor& x,
                                                            const at::Tensor& step, const at::Tensor& offset,
                                                            const LsqArgs& args) {
  return LOWBIT_OP("lsq_backward", Tensors3(const Tensor&, const Tensor&, const Tensor&, const OptionalTensor&, double,
                                            double, int64_t, bool))
      .call(grad, x, step, optional_of(offset), args.qn, args.qp, args.channel_dim, args.sign);
}

namespace {

// The memory format the fused RPReLU keeps: channels-last where x is (and not also contiguous).
at::MemoryFormat rprelu_format(const at::Tensor& x) {
  return x.dim() == 4 && !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast)
             ? at::MemoryFormat::ChannelsLast
             : at::MemoryFormat::Contiguous;
}

at::Tensor per_channel(const char* name, const at::Tensor& t, int64_t channels, at::ScalarType dtype,
                       const at::Tensor& x) {
  TORCH_CHECK(t.numel() == channels, "lowbit::rprelu: ", name, " has ", t.numel(), " values, the input ", channels,
              " channels along dim 1 (input shape ", x.sizes(), ")");
  TORCH_CHECK(t.device() == x.device(), "lowbit::rprelu: ", name, " is on ", t.device(), ", the input on ", x.device());
  return t.to(dtype).contiguous();
}

}  // namespace

namespace {

// The forward's arguments checked and brought to one dtype (x, the residual and the parameters
// promoted together) and x's memory format.
struct RPReLUArgs {
  at::ScalarType dtype;
  at::MemoryFormat format;
  OptionalTensor residual;
  at::Tensor gamma, beta, zeta;
  OptionalTensor scale, shift;
};

RPReLUArgs rprelu_args(const at::Tensor& x, const at::Tensor& residual, const at::Tensor& gamma,
                       const at::Tensor& beta, const at::Tensor& zeta, const at::Tensor& scale,
                       const at::Tensor& shift) {
  TORCH_CHECK(scale.defined() == shift.defined(), "lowbit::rprelu: a batch norm's scale and shift go together, got ",
              scale.defined() ? "a scale without a shift" : "a shift without a scale");
  TORCH_CHECK(x.dim() >= 2, "lowbit::rprelu: expected an input [N, C, ...], got shape ", x.sizes());
  TORCH_CHECK(!residual.defined() || residual.sizes() == x.sizes(), "lowbit::rprelu: the residual's shape ",
              residual.defined() ? residual.sizes() : at::IntArrayRef{}, " differs from the input's ", x.sizes());
  TORCH_CHECK(!residual.defined() || residual.device() == x.device(), "lowbit::rprelu: the residual is on ",
              residual.defined() ? residual.device() : x.device(), ", the input on ", x.device());
  auto dtype = at::promote_types(x.scalar_type(), gamma.scalar_type());
  if (residual.defined()) dtype = at::promote_types(dtype, residual.scalar_type());
  const auto format = rprelu_format(x);
  const int64_t channels = x.size(1);
  const auto optional_per_channel = [&](const char* name, const at::Tensor& t) {
    return t.defined() ? OptionalTensor(per_channel(name, t, channels, dtype, x)) : std::nullopt;
  };
  return {dtype,
          format,
          residual.defined() ? OptionalTensor(residual.to(dtype).contiguous(format)) : std::nullopt,
          per_channel("gamma", gamma, channels, dtype, x),
          per_channel("beta", beta, channels, dtype, x),
          per_channel("zeta", zeta, channels, dtype, x),
          optional_per_channel("scale", scale),
          optional_per_channel("shift", shift)};
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> rprelu_forward(const at::Tensor& x, const at::Tensor& residual,
                                                              const at::Tensor& gamma, const at::Tensor& beta,
                                                              const at::Tensor& zeta, bool keep_input,
                                                              const at::Tensor& scale, const at::Tensor& shift) {
  const auto a = rprelu_args(x, residual, gamma, beta, zeta, scale, shift);
  return LOWBIT_OP("rprelu_forward", Tensors3(const Tensor&, const OptionalTensor&, const Tensor&, const Tensor&,
                                              const Tensor&, bool, const OptionalTensor&, const OptionalTensor&))
      .call(x.to(a.dtype).contiguous(a.format), a.residual, a.gamma, a.beta, a.zeta, keep_input, a.scale, a.shift);
}

std::tuple<at::Tensor, at::Tensor> rprelu_forward_(const at::Tensor& x, const at::Tensor& residual,
                                                   const at::Tensor& gamma, const at::Tensor& beta,
                                                   const at::Tensor& zeta, bool keep_input, const at::Tensor& scale,
                                                   const at::Tensor& shift) {
  const auto a = rprelu_args(x, residual, gamma, beta, zeta, scale, shift);
  TORCH_CHECK(x.scalar_type() == a.dtype && x.is_contiguous(a.format), "lowbit::rprelu_: can write its output over ",
              "a dense input of the dtype it computes in (", a.dtype, "), got ", x.scalar_type(), " with strides ",
              x.strides());
  return LOWBIT_OP("rprelu_forward_", Tensors2(const Tensor&, const OptionalTensor&, const Tensor&, const Tensor&,
                                               const Tensor&, bool, const OptionalTensor&, const OptionalTensor&))
      .call(x, a.residual, a.gamma, a.beta, a.zeta, keep_input, a.scale, a.shift);
}

std::tuple<at::Tensor, at::Tensor> rprelu_backward(const at::Tensor& grad, const at::Tensor& saved,
                                                   const at::Tensor& positive, const at::Tensor& beta,
                                                   const at::Tensor& zeta, bool saved_is_output) {
  TORCH_CHECK(grad.sizes() == saved.sizes(), "lowbit::rprelu_backward: gradient shape ", grad.sizes(),
              " != saved shape ", saved.sizes());
  check_planes("rprelu_backward", positive.reshape({1, -1}), 1, saved.numel());
  const auto dtype = saved.scalar_type();
  const auto format = rprelu_format(saved);
  const int64_t channels = saved.size(1);
  return LOWBIT_OP("rprelu_backward", Tensors2(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                               const Tensor&, bool))
      .call(grad.to(dtype).contiguous(format), saved.contiguous(format), positive.contiguous(),
            per_channel("beta", beta, channels, dtype, saved), per_channel("zeta", zeta, channels, dtype, saved),
            saved_is_output);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> batch_norm_rprelu_backward(
    const at::Tensor& grad, const at::Tensor& y, const at::Tensor& positive, const at::Tensor& residual,
    const at::Tensor& gamma, const at::Tensor& beta, const at::Tensor& zeta, const at::Tensor& weight,
    const at::Tensor& bias, const at::Tensor& invstd, bool batch_statistics) {
  TORCH_CHECK(grad.sizes() == y.sizes(), "lowbit::batch_norm_rprelu_backward: gradient shape ", grad.sizes(),
              " != output shape ", y.sizes());
  TORCH_CHECK(!residual.defined() || residual.sizes() == y.sizes(), "lowbit::batch_norm_rprelu_backward: the "
              "residual's shape ", residual.defined() ? residual.sizes() : at::IntArrayRef{}, " != output shape ",
              y.sizes());
  check_planes("batch_norm_rprelu_backward", positive.reshape({1, -1}), 1, y.numel());
  const auto dtype = y.scalar_type();
  const auto format = rprelu_format(y);
  const int64_t channels = y.size(1);
  const auto c = [&](const char* name, const at::Tensor& t) { return per_channel(name, t, channels, dtype, y); };
  return LOWBIT_OP("batch_norm_rprelu_backward",
                   Tensors3(const Tensor&, const Tensor&, const Tensor&, const OptionalTensor&, const Tensor&,
                            const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool))
      .call(grad.to(dtype).contiguous(format), y.contiguous(format), positive.contiguous(),
            residual.defined() ? OptionalTensor(residual.to(dtype).contiguous(format)) : std::nullopt,
            c("gamma", gamma), c("beta", beta), c("zeta", zeta), c("weight", weight), c("bias", bias),
            c("invstd", invstd), batch_statistics);
}

at::Tensor channel_moments(const at::Tensor& x) {
  TORCH_CHECK(x.dim() >= 2, "lowbit::channel_moments: expected an input [N, C, ...], got shape ", x.sizes());
  return LOWBIT_OP("channel_moments", Tensor(const Tensor&)).call(x.contiguous(rprelu_format(x)));
}

namespace {

void check_roi_align(const at::Tensor& rois, const at::Tensor& features, int64_t batch, const RoIAlignArgs& a) {
  TORCH_CHECK(rois.dim() == 2 && rois.size(1) == 5, "lowbit::roi_align: expected RoIs [K, 5] (batch index, x1, y1, ",
              "x2, y2), got shape ", rois.sizes());
  TORCH_CHECK(rois.device() == features.device(), "lowbit::roi_align: the RoIs are on ", rois.device(),
              ", the features on ", features.device());
  TORCH_CHECK_VALUE(a.pooled_h > 0 && a.pooled_w > 0, "lowbit::roi_align: the output size must be positive, got ",
                    a.pooled_h, "x", a.pooled_w);
  TORCH_CHECK_VALUE(a.sampling_ratio >= 0, "lowbit::roi_align: sampling_ratio must be >= 0 (0: adaptive), got ",
                    a.sampling_ratio);
  if (rois.size(0) == 0) return;
  // One host read (a synchronisation on CUDA): a batch index outside the input would read or write
  // outside it.
  const auto index = rois.select(1, 0).to(at::kDouble);
  const auto [low, high] = at::aminmax(index);
  const double first = low.item<double>(), last = high.item<double>();
  TORCH_CHECK(first >= 0 && last < static_cast<double>(batch) && (index == index.floor()).all().item<bool>(),
              "lowbit::roi_align: RoI batch indices must be integers in [0, ", batch, "), got values in [", first,
              ", ", last, "]");
}

}  // namespace

at::Tensor roi_align_forward(const at::Tensor& input, const at::Tensor& rois, const RoIAlignArgs& args) {
  TORCH_CHECK(input.dim() == 4, "lowbit::roi_align: expected features [N, C, H, W], got shape ", input.sizes());
  check_roi_align(rois, input, input.size(0), args);
  return LOWBIT_OP("roi_align_forward", Tensor(const Tensor&, const Tensor&, double, int64_t, int64_t, int64_t, bool))
      .call(input.contiguous(), rois.to(input.scalar_type()).contiguous(), args.spatial_scale, args.pooled_h,
            args.pooled_w, args.sampling_ratio, args.aligned);
}

at::Tensor roi_align_backward(const at::Tensor& grad, const at::Tensor& rois, at::IntArrayRef input_sizes,
                              const RoIAlignArgs& args) {
  TORCH_CHECK(input_sizes.size() == 4, "lowbit::roi_align_backward: expected input sizes [N, C, H, W], got ",
              input_sizes);
  TORCH_CHECK(grad.dim() == 4 && grad.size(0) == rois.size(0) && grad.size(1) == input_sizes[1] &&
                  grad.size(2) == args.pooled_h && grad.size(3) == args.pooled_w,
              "lowbit::roi_align_backward: expected a gradient [", rois.size(0), ", ", input_sizes[1], ", ",
              args.pooled_h, ", ", args.pooled_w, "], got shape ", grad.sizes());
  check_roi_align(rois, grad, input_sizes[0], args);
  return LOWBIT_OP("roi_align_backward",
                   Tensor(const Tensor&, const Tensor&, at::IntArrayRef, double, int64_t, int64_t, int64_t, bool))
      .call(grad.contiguous(), rois.to(grad.scalar_type()).contiguous(), input_sizes, args.spatial_scale,
            args.pooled_h, args.pooled_w, args.sampling_ratio, args.aligned);
}

at::Tensor shifted_sign_forward(const at::Tensor& x, const at::Tensor& shift) {
  return LOWBIT_OP("shifted_sign_forward", Tensor(const Tensor&, const Tensor&)).call(x, shift);
}

std::tuple<at::Tensor, at::Tensor> shifted_sign_backward(const at::Tensor& grad, const at::Tensor& x,
                                                         const at::Tensor& shift, ops::Ste ste) {
  TORCH_CHECK(grad.sizes() == x.sizes(), "shifted_sign_backward: gradient shape ", grad.sizes(), " != input shape ",
              x.sizes());
  auto [grad_input, sums] = LOWBIT_OP("shifted_sign_backward", Tensors2(const Tensor&, const Tensor&, const Tensor&, int64_t))
                                .call(grad, x, shift, static_cast<int64_t>(ste));
  return {grad_input, sums.to(shift.scalar_type()).reshape(shift.sizes())};
}

at::Tensor pack_planes(const at::Tensor& x, ops::Planes kind) {
  return LOWBIT_OP("pack_planes", Tensor(const Tensor&, int64_t)).call(x, static_cast<int64_t>(kind));
}

namespace {

void check_bit_matrix(const char* op, const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 2 && at::isFloatingType(x.scalar_type()), "lowbit::", op,
              ": expected a floating-point matrix [rows, K], got ", x.scalar_type(), " ", x.sizes());
}

}  // namespace

at::Tensor pack_sign_bits(const at::Tensor& x, const std::optional<at::Tensor>& shift) {
  check_bit_matrix("pack_sign_bits", x);
  TORCH_CHECK(!shift || (shift->dim() == 1 && shift->size(0) == x.size(1) && shift->device() == x.device()),
              "lowbit::pack_sign_bits: expected a shift [", x.size(1), "] on ", x.device(), ", got ",
              shift ? shift->sizes() : at::IntArrayRef{}, shift ? " on " + shift->device().str() : std::string());
  return LOWBIT_OP("pack_sign_bits", Tensor(const Tensor&, const std::optional<Tensor>&)).call(x, shift);
}

at::Tensor pack_ternary_bits(const at::Tensor& x) {
  check_bit_matrix("pack_ternary_bits", x);
  return LOWBIT_OP("pack_ternary_bits", Tensor(const Tensor&)).call(x);
}

at::Tensor binary_gemm(const at::Tensor& a_bits, const at::Tensor& b_bits, int64_t k) {
  const int64_t words = (k + 63) / 64;
  for (const auto* t : {&a_bits, &b_bits}) {
    const bool planes_ok = t->dim() == 2 || (t->dim() == 3 && t->size(1) == 2);
    TORCH_CHECK(t->scalar_type() == at::kLong && planes_ok && t->size(-1) >= words &&
                    t->size(-1) == a_bits.size(-1) && k >= 1,
                "lowbit::binary_gemm: expected int64 packed rows [rows, W] or [rows, 2, W] of one width W >= ", words,
                " words for K = ", k, " (pack_sign_bits, pack_ternary_bits), got ", a_bits.scalar_type(), " ",
                a_bits.sizes(), " and ", b_bits.scalar_type(), " ", b_bits.sizes());
  }
  TORCH_CHECK(a_bits.device() == b_bits.device(), "lowbit::binary_gemm: operands on ", a_bits.device(), " and ",
              b_bits.device());
  return LOWBIT_OP("binary_gemm", Tensor(const Tensor&, const Tensor&, int64_t)).call(a_bits, b_bits, k);
}

at::Tensor unpack_signs(const at::Tensor& planes, at::IntArrayRef sizes, at::ScalarType dtype) {
  check_planes("unpack_signs", planes, ops::plane_count(ops::Planes::Signs), c10::multiply_integers(sizes));
  return LOWBIT_OP("unpack_signs", Tensor(const Tensor&, at::IntArrayRef, at::ScalarType)).call(planes, sizes, dtype);
}

at::Tensor mask_by_plane(const at::Tensor& grad, const at::Tensor& planes) {
  check_planes("mask_by_plane", planes, 1, grad.numel());
  TORCH_CHECK(planes.device() == grad.device(), "lowbit::mask_by_plane: bit planes on ", planes.device(),
              ", the gradient on ", grad.device());
  return LOWBIT_OP("mask_by_plane", Tensor(const Tensor&, const Tensor&)).call(grad, planes);
}

std::tuple<at::Tensor, at::Tensor> scaled_sign_forward(const at::Tensor& w) {
  return LOWBIT_OP("scaled_sign_forward", Tensors2(const Tensor&)).call(w);
}

at::Tensor scaled_sign_backward(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha,
                                bool scale_by_alpha, bool add_mean) {
  return LOWBIT_OP("scaled_sign_backward", Tensor(const Tensor&, const Tensor&, const Tensor&, bool, bool))
      .call(grad, w, alpha, scale_by_alpha, add_mean);
}

void scaled_sign_backward_(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha, bool scale_by_alpha,
                           bool add_mean) {
  TORCH_CHECK(grad.sizes() == w.sizes() && grad.is_contiguous() && grad.device() == w.device() &&
                  grad.scalar_type() == w.scalar_type() &&
                  (w.scalar_type() == at::kFloat || w.scalar_type() == at::kDouble),
              "scaled_sign_backward_: writes over a contiguous float or double gradient shaped and typed as the "
              "weight, got ", grad.scalar_type(), " ", grad.sizes(), " for a ", w.scalar_type(), " ", w.sizes());
  LOWBIT_OP("scaled_sign_backward_", void(const Tensor&, const Tensor&, const Tensor&, bool, bool))
      .call(grad, w, alpha, scale_by_alpha, add_mean);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> ternarize_forward(const at::Tensor& w, double delta, bool per_row) {
  TORCH_CHECK_VALUE(delta > 0, "ternarize: threshold factor delta must be > 0, got ", delta);
  TORCH_CHECK(!per_row || w.dim() >= 2, "ternarize: per-channel ternarization needs a weight with an output-channel "
              "dim and at least one more, got shape ", w.sizes());
  return LOWBIT_OP("ternarize_forward", Tensors3(const Tensor&, double, bool)).call(w, delta, per_row);
}

at::Tensor bilinear_sign_forward(const at::Tensor& w, const at::Tensor& alpha, double kappa,
                                 const OptionalTensor& shift_c, const OptionalTensor& shift_p) {
  return LOWBIT_OP("bilinear_sign_forward",
                   Tensor(const Tensor&, const Tensor&, double, const OptionalTensor&, const OptionalTensor&))
      .call(w, alpha, kappa, shift_c, shift_p);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> bilinear_sign_backward(
    const at::Tensor& grad, const at::Tensor& w, const at::Tensor& alpha, const at::Tensor& gamma, double kappa,
    const OptionalTensor& shift_c, const OptionalTensor& shift_p, double record_scale) {
  using Fn = Tensors4(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double, const OptionalTensor&,
                      const OptionalTensor&, double);
  return LOWBIT_OP("bilinear_sign_backward", Fn).call(grad, w, alpha, gamma, kappa, shift_c, shift_p, record_scale);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> dorefa_weight_forward(const at::Tensor& w, int64_t bits) {
  return LOWBIT_OP("dorefa_weight_forward", Tensors3(const Tensor&, int64_t)).call(w, bits);
}

at::Tensor dorefa_weight_backward(const at::Tensor& grad, const at::Tensor& t, const at::Tensor& max_ties,
                                  int64_t bits) {
  return LOWBIT_OP("dorefa_weight_backward", Tensor(const Tensor&, const Tensor&, const Tensor&, int64_t))
      .call(grad, t, max_ties, bits);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> adabin_weight_forward(const at::Tensor& w) {
  TORCH_CHECK(w.dim() >= 2, "adabin: expects a weight [C_out, ...] with at least 2 dims, got shape ", w.sizes());
  return LOWBIT_OP("adabin_weight_forward", Tensors3(const Tensor&)).call(w);
}

at::Tensor adabin_weight_backward(const at::Tensor& grad, const at::Tensor& w, const at::Tensor& beta,
                                  const at::Tensor& alpha, const at::Tensor& k, const at::Tensor& t) {
  return LOWBIT_OP("adabin_weight_backward",
                   Tensor(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&))
      .call(grad, w, beta, alpha, k, t);
}

at::Tensor dorefa_activation_forward(const at::Tensor& x, int64_t bits) {
  return LOWBIT_OP("dorefa_activation_forward", Tensor(const Tensor&, int64_t)).call(x, bits);
}

at::Tensor dorefa_activation_backward(const at::Tensor& grad, const at::Tensor& x) {
  return LOWBIT_OP("dorefa_activation_backward", Tensor(const Tensor&, const Tensor&)).call(grad, x);
}

at::Tensor adabin_activation_forward(const at::Tensor& x, const at::Tensor& alpha, const at::Tensor& beta, bool code) {
  return LOWBIT_OP("adabin_activation_forward", Tensor(const Tensor&, const Tensor&, const Tensor&, bool))
      .call(x, alpha, beta, code);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> adabin_activation_backward(const at::Tensor& grad, const at::Tensor& x,
                                                                          const at::Tensor& alpha,
                                                                          const at::Tensor& beta, bool code) {
  return LOWBIT_OP("adabin_activation_backward", Tensors3(const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool))
      .call(grad, x, alpha, beta, code);
}

}  // namespace lowbit::kernels
