#pragma once
// Q-DETR's Distribution Alignment (DA), the inner level of Distribution Rectification
// Distillation (Xu et al., CVPR 2023, Eq. 2.32 of the authors' book chapter):
//   q* = gamma ∘ (q - mu(q)) / sqrt(var(q) + eps) + beta,   eps = 1e-5,
// per token and per head: mu and the *unbiased* var are taken over the head dimension (the last
// axis of x). gamma, beta ∈ R^{head_dim} start at 1 and 0 and are shared by the heads (one
// module per attention block). Modelling a query as Gaussian, standardising maximises its
// entropy; gamma and beta move it to where training wants it (a BN-style affine).
// Backward: autograd through the composition (mean, var, sqrt are differentiable).
//
// Placement (a layer's business, not this module's): q after the in-projection and before its
// 8-bit quantizer. Input [..., head_dim], e.g. q split into heads as [B, H, L, head_dim]; a
// [L, B, H * head_dim] projection must be viewed as [L, B, H, head_dim] first.
//
// Names: `scale` [1, 1, 1, head_dim] (gamma) and `bias` [head_dim] (beta), the names and shapes
// of DistributionAlignment in models/quant_smca_detr/quant_attention_layer.py of the third-party
// Q-DETR release (Hzbupahaozi/Q-DETR; no official code exists), so its state dicts load by name.
// That code's `init_state` buffer (re-initialising gamma, beta at the first training forward)
// is not kept: the parameters are initialised at construction.

#include <torch/arg.h>
#include <torch/nn/cloneable.h>

namespace lowbit::layers {

struct DistributionAlignmentOptions {
  DistributionAlignmentOptions(int64_t head_dim) : head_dim_(head_dim) {}  // NOLINT: implicit, as torch's options
  TORCH_ARG(int64_t, head_dim);
  TORCH_ARG(double, eps) = 1e-5;
};

class DistributionAlignmentImpl : public torch::nn::Cloneable<DistributionAlignmentImpl> {
 public:
  explicit DistributionAlignmentImpl(DistributionAlignmentOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  DistributionAlignmentOptions options;
  torch::Tensor scale, bias;  // gamma, beta
};
TORCH_MODULE(DistributionAlignment);

}  // namespace lowbit::layers
