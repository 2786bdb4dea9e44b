#include <lowbit/modules/layers/swin.h>

#include <lowbit/modules/layers/transformer.h>

#include <torch/torch.h>

namespace lowbit::layers {

PatchMergingImpl::PatchMergingImpl(PatchMergingOptions options_) : options(std::move(options_)) { reset(); }

void PatchMergingImpl::reset() {
  const auto& o = options;
  TORCH_CHECK_VALUE(o.side() > 0 && o.side() % 2 == 0 && o.dim() > 0 && o.out() > 0,
                    "PatchMerging: side must be positive and even, dim and out positive, got side ", o.side(),
                    ", dim ", o.dim(), ", out ", o.out());
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({4 * o.dim()})));
  reduction = register_module("reduction", vit_linear(4 * o.dim(), o.out(), false, o.reduction()));
}

torch::Tensor PatchMergingImpl::forward(const torch::Tensor& x) {
  const int64_t side = options.side(), half = side / 2, dim = options.dim();
  TORCH_CHECK(x.dim() == 3 && x.size(1) == side * side && x.size(2) == dim, "PatchMerging: expected tokens [B, ",
              side * side, ", ", dim, "] on a ", side, "x", side, " grid, got shape ", x.sizes());
  const auto merged = x.reshape({x.size(0), half, 2, half, 2, dim})
                          .permute({0, 1, 3, 4, 2, 5})
                          .reshape({x.size(0), half * half, 4 * dim});
  return reduction(norm(merged));
}

ClassifierHeadImpl::ClassifierHeadImpl(ClassifierHeadOptions options_) : options(std::move(options_)) { reset(); }

void ClassifierHeadImpl::reset() {
  TORCH_CHECK_VALUE(options.dim() > 0 && options.classes() > 0, "ClassifierHead: dim and classes must be positive, got ",
                    options.dim(), ", ", options.classes());
  fc = register_module("fc", vit_linear(options.dim(), options.classes(), true, options.fc()));
}

torch::Tensor ClassifierHeadImpl::forward(const torch::Tensor& tokens) {
  TORCH_CHECK(tokens.dim() == 3 && tokens.size(2) == options.dim(), "ClassifierHead: expected tokens [B, N, ",
              options.dim(), "], got shape ", tokens.sizes());
  return fc(tokens.mean(1));
}

}  // namespace lowbit::layers
