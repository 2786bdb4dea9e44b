#pragma once
// The parts of a (quantized) vision transformer around QAttention: ViT (Dosovitskiy et al. ICLR
// 2021) / DeiT (Touvron et al. ICML 2021) as in timm's vision_transformer.py, with the changes of
// Q-ViT (YanjingLi0202/Q-ViT quant_vision_transformer.py) and Bi-ViT (YanjingLi0202/Bi-ViT
// bi_vision_transformer.py):
//   QMlp             fc1 -> GELU -> clip(-c, c) -> fc2; Q-ViT's Q_Mlp and Bi-ViT's bi_Mlp clip at
//                    c = 10 so that fc2's input quantizer sees a bounded range (gelu_clip 0: none)
//   TransformerBlock x <- x + drop_path(attn(norm1(x)));  x <- x + drop_path(mlp(norm2(x)))
//                    with `windows` (Swin, timm 1.0.31 swin_transformer.py SwinTransformerBlock):
//                    attn runs on the (shifted) windows of the token grid (modules/layers/windows.h):
//                    attn(x) -> roll(reverse(attn(partition(roll(x, -s)), mask)), +s)
//   transformer_blocks  blocks in sequence: a layers::Stage (a Sequential that nests) with
//                    children "0", "1", ... (timm's `blocks`)
//   PatchEmbed       proj: QConv2d(kernel = stride = patch) -> [B, N, dim] tokens; the cls token
//                    (and DeiT's distillation token) prepended; + pos_embed. Swin (class_token
//                    false, norm true): the patch tokens only, then LayerNorm `norm` (timm's
//                    PatchEmbed with norm_layer; eps 1e-5)
//   VitHeads         head(x[:, 0]); distilled: head_dist(x[:, 1]) too. forward() returns the cls
//                    logits in training and the mean of both heads in eval (timm / DeiT);
//                    outputs() (NamedOutputs) also returns the distillation head's as
//                    "dist_logits", which DeiT's hard distillation reads
// Linear weights start as timm's: truncated normal (std 0.02, cut at +-2), biases 0 (vit_linear);
// the patch convolution and QAttention's linears keep torch's default; cls/dist tokens and
// pos_embed truncated normal (0.02).
// Names follow timm (norm1, attn, norm2, mlp.fc1, mlp.fc2, patch_embed.proj, cls_token,
// dist_token, pos_embed, head, head_dist), so timm / DeiT / Q-ViT checkpoints map by name.

#include <lowbit/modules/layers/named_outputs.h>
#include <lowbit/modules/layers/qattention.h>
#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/layers/stage.h>
#include <lowbit/modules/layers/windows.h>

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/normalization.h>

namespace lowbit::layers {

// timm's trunc_normal_ (= torch.nn.init.trunc_normal_): normal(mean, std) cut at the absolute
// bounds [a, b], by inverse-CDF sampling.
torch::Tensor trunc_normal_(torch::Tensor tensor, double std, double mean = 0.0, double a = -2.0, double b = 2.0);

// A QLinear initialised as timm's _init_vit_weights / init_weights_vit_timm: weight truncated
// normal (std 0.02), bias 0.
QLinear vit_linear(int64_t in, int64_t out, bool bias, const LinearQuantizers& quantizers);

struct QMlpOptions {
  QMlpOptions(int64_t features, int64_t hidden) : features_(features), hidden_(hidden) {}
  TORCH_ARG(int64_t, features);  // input and output width
  TORCH_ARG(int64_t, hidden);
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(double, gelu_clip) = 0.0;  // > 0: clamp GELU's output to [-gelu_clip, gelu_clip]
  TORCH_ARG(LinearQuantizers, fc1);
  TORCH_ARG(LinearQuantizers, fc2);
};

class QMlpImpl : public torch::nn::Cloneable<QMlpImpl> {
 public:
  explicit QMlpImpl(QMlpOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  QMlpOptions options;
  QLinear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(QMlp);

struct TransformerBlockOptions {
  TransformerBlockOptions(QAttentionOptions attn, QMlpOptions mlp) : attn_(std::move(attn)), mlp_(std::move(mlp)) {}
  TORCH_ARG(QAttentionOptions, attn);
  TORCH_ARG(QMlpOptions, mlp);
  TORCH_ARG(double, drop_path) = 0.0;  // stochastic depth: a residual branch is dropped per sample
  TORCH_ARG(double, norm_eps) = 1e-6;  // timm's ViT LayerNorm (Swin: torch's default 1e-5)
  // window > 0: input [B, side * side, dim] on this grid; attn's window_size must equal window
  TORCH_ARG(ShiftedWindows, windows);
};

class TransformerBlockImpl : public torch::nn::Cloneable<TransformerBlockImpl> {
 public:
  explicit TransformerBlockImpl(TransformerBlockOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  TransformerBlockOptions options;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  QAttention attn{nullptr};
  QMlp mlp{nullptr};

 private:
  torch::Tensor attend(const torch::Tensor& x);  // attn, on windows when there are
  DerivedTensor attn_mask_;                      // shifted windows only (timm's attn_mask)
};
TORCH_MODULE(TransformerBlock);

Stage transformer_blocks(const std::vector<TransformerBlockOptions>& options);

struct PatchEmbedOptions {
  PatchEmbedOptions(int64_t image_size, int64_t patch_size, int64_t in_channels, int64_t dim)
      : image_size_(image_size), patch_size_(patch_size), in_channels_(in_channels), dim_(dim) {}
  TORCH_ARG(int64_t, image_size);  // square images; patch_size must divide it
  TORCH_ARG(int64_t, patch_size);
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(bool, distilled) = false;  // DeiT's distillation token after the cls token
  TORCH_ARG(bool, class_token) = true;  // cls (+ dist) token and pos_embed; false: patches only (Swin)
  TORCH_ARG(bool, norm) = false;        // LayerNorm `norm` on the patch tokens (Swin)
  TORCH_ARG(LinearQuantizers, proj);    // quantizers of the patch convolution
};

class PatchEmbedImpl : public torch::nn::Cloneable<PatchEmbedImpl> {
 public:
  explicit PatchEmbedImpl(PatchEmbedOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& images);  // [B, C, S, S] -> [B, tokens, dim]
  int64_t patches() const;
  int64_t tokens() const { return patches() + (options.class_token() ? (options.distilled() ? 2 : 1) : 0); }
  PatchEmbedOptions options;
  QConv2d proj{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::Tensor cls_token, dist_token, pos_embed;
};
TORCH_MODULE(PatchEmbed);

struct VitHeadsOptions {
  VitHeadsOptions(int64_t dim, int64_t classes) : dim_(dim), classes_(classes) {}
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(int64_t, classes);
  TORCH_ARG(bool, distilled) = false;
  TORCH_ARG(LinearQuantizers, head);
  TORCH_ARG(LinearQuantizers, head_dist);
};

class VitHeadsImpl : public torch::nn::Cloneable<VitHeadsImpl>, public NamedOutputs {
 public:
  explicit VitHeadsImpl(VitHeadsOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& tokens);  // [B, T, dim] (normalised) -> [B, classes]
  // {"logits": forward(tokens)} and, distilled, {"dist_logits": head_dist(tokens[:, 1])}.
  std::vector<std::pair<std::string, torch::Tensor>> outputs(const torch::Tensor& tokens) override;
  VitHeadsOptions options;
  QLinear head{nullptr}, head_dist{nullptr};
};
TORCH_MODULE(VitHeads);

}  // namespace lowbit::layers
