#include <lowbit/csrc/ops/roi_align.h>

#include <lowbit/csrc/kernels/roi_align.h>
#include <lowbit/csrc/util/dtypes.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <vector>

namespace lowbit::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

kernels::RoIAlignArgs args_of(const RoIAlignOptions& o) {
  return {o.spatial_scale(), o.pooled_h(), o.pooled_w(), o.sampling_ratio(), o.aligned()};
}

class RoIAlignFunction : public torch::autograd::Function<RoIAlignFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& features, const at::Tensor& rois,
                            const RoIAlignOptions& options) {
    ctx->saved_data["spatial_scale"] = options.spatial_scale();
    ctx->saved_data["pooled"] = std::vector<int64_t>{options.pooled_h(), options.pooled_w(), options.sampling_ratio()};
    ctx->saved_data["aligned"] = options.aligned();
    ctx->saved_data["sizes"] = features.sizes().vec();
    ctx->save_for_backward({rois});
    return kernels::roi_align_forward(features, rois, args_of(options));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto pooled = ctx->saved_data["pooled"].toIntVector();
    RoIAlignOptions options(pooled[0], pooled[1]);
    options.spatial_scale(ctx->saved_data["spatial_scale"].toDouble())
        .sampling_ratio(pooled[2])
        .aligned(ctx->saved_data["aligned"].toBool());
    const auto sizes = ctx->saved_data["sizes"].toIntVector();
    const auto rois = ctx->get_saved_variables()[0];
    return {kernels::roi_align_backward(grad[0], rois, sizes, args_of(options)), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

// float16 / bfloat16 features pooled in float, as torchvision's autocast runs roi_align: the kernels
// take the RoIs in the features' dtype, and float16 RoIs move by up to a pixel past 1024 px.
at::Tensor roi_align(const at::Tensor& features, const at::Tensor& rois, const RoIAlignOptions& options) {
  const auto dtype = util::at_least_float(features.scalar_type());
  return RoIAlignFunction::apply(features.to(dtype), rois.detach().to(dtype), options).to(features.scalar_type());
}

}  // namespace lowbit::ops
