#include <lowbit/modules/layers/transformer.h>

#include <lowbit/modules/taps/taps.h>

#include <torch/torch.h>

#include <cmath>

namespace lowbit::layers {
namespace {

// Stochastic depth (timm's drop_path): the branch of each sample is kept with probability 1 - p
// and then scaled by 1 / (1 - p).
torch::Tensor drop_path(const torch::Tensor& branch, double p, bool training) {
  if (p == 0.0 || !training) return branch;
  std::vector<int64_t> shape(branch.dim(), 1);
  shape[0] = branch.size(0);
  const auto keep = torch::empty(shape, branch.options()).bernoulli_(1.0 - p);
  return branch * keep / (1.0 - p);
}

}  // namespace

torch::Tensor trunc_normal_(torch::Tensor tensor, double std, double mean, double a, double b) {
  torch::NoGradGuard no_grad;
  const auto cdf = [](double x) { return (1.0 + std::erf(x / std::sqrt(2.0))) / 2.0; };
  const double low = cdf((a - mean) / std), high = cdf((b - mean) / std);
  tensor.uniform_(2 * low - 1, 2 * high - 1);
  tensor.erfinv_();
  tensor.mul_(std * std::sqrt(2.0)).add_(mean);
  return tensor.clamp_(a, b);
}

QLinear vit_linear(int64_t in, int64_t out, bool bias, const LinearQuantizers& quantizers) {
  QLinear linear(QLinearOptions(in, out).bias(bias).weight_quantizer(quantizers.weight).input_quantizer(quantizers.input));
  torch::NoGradGuard no_grad;
  trunc_normal_(linear->weight, 0.02);
  if (linear->bias.defined()) linear->bias.zero_();
  return linear;
}

QMlpImpl::QMlpImpl(QMlpOptions options_) : options(std::move(options_)) { reset(); }

void QMlpImpl::reset() {
  const auto& o = options;
  TORCH_CHECK_VALUE(o.features() > 0 && o.hidden() > 0, "QMlp: features and hidden must be positive, got ",
                    o.features(), ", ", o.hidden());
  TORCH_CHECK_VALUE(o.gelu_clip() >= 0, "QMlp: gelu_clip must be >= 0 (0: no clip), got ", o.gelu_clip());
  fc1 = register_module("fc1", vit_linear(o.features(), o.hidden(), o.bias(), o.fc1()));
  fc2 = register_module("fc2", vit_linear(o.hidden(), o.features(), o.bias(), o.fc2()));
}

torch::Tensor QMlpImpl::forward(const torch::Tensor& x) {
  auto hidden = torch::gelu(fc1(x));
  if (options.gelu_clip() > 0) hidden = hidden.clamp(-options.gelu_clip(), options.gelu_clip());
  return fc2(hidden);
}

TransformerBlockImpl::TransformerBlockImpl(TransformerBlockOptions options_) : options(std::move(options_)) {
  reset();
}

void TransformerBlockImpl::reset() {
  const auto& o = options;
  TORCH_CHECK_VALUE(o.attn().dim() == o.mlp().features(), "TransformerBlock: attention width ", o.attn().dim(),
                    " differs from the MLP's ", o.mlp().features());
  TORCH_CHECK_VALUE(o.drop_path() >= 0 && o.drop_path() < 1, "TransformerBlock: drop_path must be in [0, 1), got ",
                    o.drop_path());
  const auto& w = o.windows();
  TORCH_CHECK_VALUE(o.attn().window_size() == w.window, "TransformerBlock: attention window_size ",
                    o.attn().window_size(), " differs from the windows' ", w.window);
  TORCH_CHECK_VALUE(w.window == 0 || (w.side > 0 && w.window > 0 && w.side % w.window == 0 && w.shift >= 0 &&
                                      w.shift < w.window),
                    "TransformerBlock: windows of side ", w.window, " shifted by ", w.shift,
                    " do not tile a grid of side ", w.side, " (need window | side, 0 <= shift < window)");
  const auto norm = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.attn().dim()}).eps(o.norm_eps())); };
  norm1 = register_module("norm1", norm());
  attn = register_module("attn", QAttention(o.attn()));
  norm2 = register_module("norm2", norm());
  mlp = register_module("mlp", QMlp(o.mlp()));
  attn_mask_ = w.shift > 0 ? DerivedTensor(shifted_window_mask(w)) : DerivedTensor();
}

torch::Tensor TransformerBlockImpl::attend(const torch::Tensor& x) {
  const auto& w = options.windows();
  if (w.window == 0) return attn(x);
  const auto mask = attn_mask_.defined() ? attn_mask_.like(x) : torch::Tensor();
  return attend_in_windows(x, w, [&](const torch::Tensor& windows) { return attn(windows, mask); }, "TransformerBlock");
}

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x) {
  const auto y = x + drop_path(attend(norm1(x)), options.drop_path(), is_training());
  return y + drop_path(mlp(norm2(y)), options.drop_path(), is_training());
}

Stage transformer_blocks(const std::vector<TransformerBlockOptions>& options) {
  Stage blocks;
  for (const auto& o : options) blocks->push_back(TransformerBlock(o));
  return blocks;
}

PatchEmbedImpl::PatchEmbedImpl(PatchEmbedOptions options_) : options(std::move(options_)) { reset(); }

int64_t PatchEmbedImpl::patches() const {
  const auto side = options.image_size() / options.patch_size();
  return side * side;
}

void PatchEmbedImpl::reset() {
  const auto& o = options;
  TORCH_CHECK_VALUE(o.image_size() > 0 && o.patch_size() > 0 && o.in_channels() > 0 && o.dim() > 0,
                    "PatchEmbed: image_size, patch_size, in_channels and dim must be positive, got ", o.image_size(),
                    ", ", o.patch_size(), ", ", o.in_channels(), ", ", o.dim());
  TORCH_CHECK_VALUE(o.image_size() % o.patch_size() == 0, "PatchEmbed: patch_size ", o.patch_size(),
                    " must divide image_size ", o.image_size());
  proj = register_module("proj", QConv2d(QConv2dOptions(o.in_channels(), o.dim(), o.patch_size())
                                             .stride(o.patch_size())
                                             .weight_quantizer(o.proj().weight)
                                             .input_quantizer(o.proj().input)));
  TORCH_CHECK_VALUE(o.class_token() || !o.distilled(), "PatchEmbed: a distillation token needs class_token");
  if (o.norm()) norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()})));
  if (!o.class_token()) return;
  cls_token = register_parameter("cls_token", trunc_normal_(torch::empty({1, 1, o.dim()}), 0.02));
  if (o.distilled()) dist_token = register_parameter("dist_token", trunc_normal_(torch::empty({1, 1, o.dim()}), 0.02));
  pos_embed = register_parameter("pos_embed", trunc_normal_(torch::empty({1, tokens(), o.dim()}), 0.02));
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& images) {
  const auto s = options.image_size();
  TORCH_CHECK(images.dim() == 4 && images.size(1) == options.in_channels() && images.size(2) == s && images.size(3) == s,
              "PatchEmbed: expected images [B, ", options.in_channels(), ", ", s, ", ", s, "], got shape ",
              images.sizes());
  auto patches = proj(images).flatten(2).transpose(1, 2);
  if (options.norm()) patches = norm(patches);
  if (!options.class_token()) return patches;
  const int64_t batch = images.size(0);
  std::vector<torch::Tensor> parts{cls_token.expand({batch, -1, -1})};
  if (options.distilled()) parts.push_back(dist_token.expand({batch, -1, -1}));
  parts.push_back(patches);
  return torch::cat(parts, 1) + pos_embed;
}

VitHeadsImpl::VitHeadsImpl(VitHeadsOptions options_) : options(std::move(options_)) { reset(); }

void VitHeadsImpl::reset() {
  const auto& o = options;
  TORCH_CHECK_VALUE(o.dim() > 0 && o.classes() > 0, "VitHeads: dim and classes must be positive, got ", o.dim(), ", ",
                    o.classes());
  head = register_module("head", vit_linear(o.dim(), o.classes(), true, o.head()));
  if (o.distilled()) head_dist = register_module("head_dist", vit_linear(o.dim(), o.classes(), true, o.head_dist()));
}

torch::Tensor VitHeadsImpl::forward(const torch::Tensor& tokens) { return outputs(tokens).front().second; }

std::vector<std::pair<std::string, torch::Tensor>> VitHeadsImpl::outputs(const torch::Tensor& tokens) {
  TORCH_CHECK(tokens.dim() == 3 && tokens.size(1) >= (options.distilled() ? 2 : 1) && tokens.size(2) == options.dim(),
              "VitHeads: expected tokens [B, T, ", options.dim(), "], got shape ", tokens.sizes());
  const auto logits = head(tokens.select(1, 0));
  if (!options.distilled()) return {{"logits", logits}};
  const auto dist_logits = head_dist(tokens.select(1, 1));
  return {{"logits", is_training() ? logits : (logits + dist_logits) / 2}, {"dist_logits", dist_logits}};
}

}  // namespace lowbit::layers
