#pragma once
// The parts of a (quantized) Swin Transformer (Liu et al. ICCV 2021) besides its blocks, which are
// transformer_blocks on shifted windows (modules/layers/transformer.h, windows.h), as timm 1.0.31's
// swin_transformer.py, with timm's names:
//   PatchMerging    tokens [B, S S, C] on an S x S grid (S even) -> [B, S/2 S/2, out]: each 2x2
//                   neighbourhood concatenated as [x(2i, 2j), x(2i+1, 2j), x(2i, 2j+1), x(2i+1, 2j+1)]
//                   (timm's reshape(B, S/2, 2, S/2, 2, C).permute(0, 1, 3, 4, 2, 5).flatten(3), the
//                   official x0, x1, x2, x3), then LayerNorm(4C) `norm` and QLinear(4C -> out, no
//                   bias) `reduction`
//   ClassifierHead  timm's ClassifierHead with average pooling: fc(mean over tokens), child `fc`
// Linear weights start as timm's (vit_linear: truncated normal 0.02).

#include <lowbit/modules/layers/qattention.h>
#include <lowbit/modules/layers/qlinear.h>

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/normalization.h>

namespace lowbit::layers {

struct PatchMergingOptions {
  PatchMergingOptions(int64_t side, int64_t dim, int64_t out) : side_(side), dim_(dim), out_(out) {}
  TORCH_ARG(int64_t, side);  // the input grid is side x side; side must be even
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(int64_t, out);               // timm: 2 dim
  TORCH_ARG(LinearQuantizers, reduction);  // quantizers of the 4 dim -> out linear
};

class PatchMergingImpl : public torch::nn::Cloneable<PatchMergingImpl> {
 public:
  explicit PatchMergingImpl(PatchMergingOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);  // [B, side^2, dim] -> [B, side^2 / 4, out]
  PatchMergingOptions options;
  torch::nn::LayerNorm norm{nullptr};
  QLinear reduction{nullptr};
};
TORCH_MODULE(PatchMerging);

struct ClassifierHeadOptions {
  ClassifierHeadOptions(int64_t dim, int64_t classes) : dim_(dim), classes_(classes) {}
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(int64_t, classes);
  TORCH_ARG(LinearQuantizers, fc);
};

class ClassifierHeadImpl : public torch::nn::Cloneable<ClassifierHeadImpl> {
 public:
  explicit ClassifierHeadImpl(ClassifierHeadOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& tokens);  // [B, N, dim] -> [B, classes]
  ClassifierHeadOptions options;
  QLinear fc{nullptr};
};
TORCH_MODULE(ClassifierHead);

}  // namespace lowbit::layers
