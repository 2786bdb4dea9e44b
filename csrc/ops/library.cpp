// The autograd ops of csrc/ops as PyTorch operators (torch.ops.lowbit.* once liblowbit is loaded,
// e.g. from Python with torch.ops.load_library): CompositeImplicitAutograd kernels that call the
// C++ functions, whose autograd Functions record the backward; underneath, the fused kernels are
// operators of their own (csrc/kernels/library.cpp). Enumerations are named as in recipes.

#include <lowbit/csrc/ops/adabin.h>
#include <lowbit/csrc/ops/bilinear_sign.h>
#include <lowbit/csrc/ops/dorefa.h>
#include <lowbit/csrc/ops/lsq.h>
#include <lowbit/csrc/ops/roi_align.h>
#include <lowbit/csrc/ops/rprelu.h>
#include <lowbit/csrc/ops/scaled_sign.h>
#include <lowbit/csrc/ops/shifted_sign.h>
#include <lowbit/csrc/ops/sign.h>
#include <lowbit/csrc/ops/ternarize.h>

#include <torch/library.h>

#include <optional>
#include <string>

namespace lowbit::ops {
namespace {

using Tensor = at::Tensor;

TORCH_LIBRARY_FRAGMENT(lowbit, m) {
  m.def("sign(Tensor x, str ste='clipped') -> Tensor");
  m.def("shifted_sign(Tensor x, Tensor shift, str ste='approx') -> Tensor");
  m.def("scaled_sign(Tensor w, str scale_grad='xnor') -> Tensor");
  m.def("ternarize(Tensor w, float delta=0.7, bool per_channel=True, str ste='identity') -> Tensor");
  m.def("bilinear_sign(Tensor w, Tensor scale, float gamma, float kappa=0.02, bool scale_sign_grad=True) -> Tensor");
  m.def("lsq_quantize(Tensor x, Tensor step, Tensor? offset, int bits, bool is_signed, float grad_scale, "
        "int channel_dim=0) -> Tensor");
  m.def("dorefa_weight(Tensor w, int bits) -> Tensor");
  m.def("dorefa_activation(Tensor x, int bits) -> Tensor");
  m.def("adabin_weight(Tensor w, Tensor k, Tensor t) -> Tensor");
  m.def("adabin_activation(Tensor x, Tensor alpha, Tensor beta, bool code=True) -> Tensor");
  m.def("rprelu(Tensor x, Tensor? residual, Tensor gamma, Tensor beta, Tensor zeta) -> Tensor");
  m.def("roi_align(Tensor input, Tensor rois, float spatial_scale, int pooled_height, int pooled_width, "
        "int sampling_ratio, bool aligned) -> Tensor");
}

TORCH_LIBRARY_IMPL(lowbit, CompositeImplicitAutograd, m) {
  m.impl("sign", [](const Tensor& x, std::string ste) { return sign(x, parse_ste(ste)); });
  m.impl("shifted_sign",
         [](const Tensor& x, const Tensor& shift, std::string ste) { return shifted_sign(x, shift, parse_ste(ste)); });
  m.impl("scaled_sign", [](const Tensor& w, std::string mode) { return scaled_sign(w, parse_scale_grad(mode)); });
  m.impl("ternarize", [](const Tensor& w, double delta, bool per_channel, std::string ste) {
    return ternarize(w, delta, per_channel, parse_ste(ste));
  });
  m.impl("bilinear_sign", [](const Tensor& w, const Tensor& scale, double gamma, double kappa, bool scale_sign_grad) {
    return bilinear_sign(w, scale, gamma, BilinearSignOptions().kappa(kappa).scale_sign_grad(scale_sign_grad));
  });
  m.impl("lsq_quantize", [](const Tensor& x, const Tensor& step, const std::optional<Tensor>& offset, int64_t bits,
                            bool is_signed, double grad_scale, int64_t channel_dim) {
    return lsq_quantize(x, step, offset.value_or(Tensor()), lsq_range(bits, is_signed), grad_scale, channel_dim);
  });
  m.impl("dorefa_weight", &dorefa_weight);
  m.impl("dorefa_activation", &dorefa_activation);
  m.impl("adabin_weight", &adabin_weight);
  m.impl("adabin_activation", &adabin_activation);
  m.impl("rprelu", [](const Tensor& x, const std::optional<Tensor>& residual, const Tensor& gamma, const Tensor& beta,
                      const Tensor& zeta) { return rprelu(x, residual.value_or(Tensor()), gamma, beta, zeta); });
  m.impl("roi_align", [](const Tensor& input, const Tensor& rois, double spatial_scale, int64_t pooled_height,
                         int64_t pooled_width, int64_t sampling_ratio, bool aligned) {
    return roi_align(input, rois,
                     RoIAlignOptions(pooled_height, pooled_width)
                         .spatial_scale(spatial_scale)
                         .sampling_ratio(sampling_ratio)
                         .aligned(aligned));
  });
}

}  // namespace
}  // namespace lowbit::ops
