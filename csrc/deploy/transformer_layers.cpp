// The deploy layers of a vision transformer (docs/export.md "Layers"), each the eval-mode forward
// of its training module (modules/layers/transformer.h, qattention.h, swin.h) in the same ATen
// calls (the windows through modules/layers/windows.h, as the training graph):
//   tokens       [B, D, h, w] patches -> [B, h w, D]; with a class token: cat(cls, dist, patches)
//                + pos_embed (PatchEmbed)
//   layer_norm   over the last dim, with weight and bias
//   gelu         GELU (erf), then clamp(-clip, clip) where clip > 0 (QMlp)
//   attention    QAttention: qkv, (IRM norms), the q/k/v quantizers, softmax(q k^T / sqrt(d) (+ the
//                relative position bias and the shift's mask, in windows)), the map's quantizer,
//                times v, proj; with `window`, on the (shifted) windows of a side x side grid
//                (TransformerBlock::attend)
//   patch_merge  [B, S S, C] -> [B, S/2 S/2, 4C]: each 2x2 neighbourhood concatenated (PatchMerging
//                before its norm and reduction)
//   mean_tokens  [B, N, D] -> [B, D] (ClassifierHead before its fc)
//   vit_heads    head(x[:, 0]); distilled: the mean with head_dist(x[:, 1]) (VitHeads in eval)
// A block's two residual branches are `residual` layers (layers.cpp).
#include <lowbit/csrc/deploy/layer_parts.h>
#include <lowbit/modules/layers/windows.h>

#include <ATen/ATen.h>

#include <cmath>

namespace lowbit::deploy {
namespace deploy_transformer {  // named: unity builds join files

class TokensLayer : public Layer {
 public:
  TokensLayer(const Fields& f, const Records& records) {
    const auto name = f.get<std::string>("name");
    if (!records.find(name + ".cls_token")) return;  // Swin: the patches alone
    cls_ = records.floats(name + ".cls_token", f.where);
    if (cls_.dim() != 3 || cls_.size(0) != 1 || cls_.size(1) != 1) fail(f.where, "cls_token must be [1, 1, D]");
    const int64_t dim = cls_.size(2);
    if (records.find(name + ".dist_token")) dist_ = records.floats(name + ".dist_token", f.where, dim).view({1, 1, dim});
    pos_ = records.floats(name + ".pos_embed", f.where);
    if (pos_.dim() != 3 || pos_.size(0) != 1 || pos_.size(2) != dim) fail(f.where, "pos_embed must be [1, T, D]");
  }

  at::Tensor run(const at::Tensor& x) const override {
    TORCH_CHECK(x.dim() == 4, "tokens: expected patches [B, D, h, w], got ", x.sizes());
    const auto patches = x.flatten(2).transpose(1, 2);
    if (!cls_.defined()) return patches;
    const int64_t batch = x.size(0), tokens = pos_.size(1);
    TORCH_CHECK(x.size(1) == cls_.size(-1) && x.size(2) * x.size(3) + 1 + (dist_.defined() ? 1 : 0) == tokens,
                "tokens: expected patches [B, ", cls_.size(-1), ", h, w] with h w = ", tokens - 1 - dist_.defined(),
                ", got ", x.sizes());
    std::vector<at::Tensor> parts{cls_.expand({batch, -1, -1})};
    if (dist_.defined()) parts.push_back(dist_.expand({batch, -1, -1}));
    parts.push_back(patches);
    return at::cat(parts, 1) + pos_;
  }

 private:
  at::Tensor cls_, dist_, pos_;
};

class LayerNormLayer : public Layer {
 public:
  LayerNormLayer(const Fields& f, const Records& records) : eps_(f.get<double>("eps")) {
    const auto name = f.get<std::string>("name");
    weight_ = records.floats(name + ".weight", f.where);
    bias_ = records.floats(name + ".bias", f.where, weight_.numel());
    if (weight_.dim() != 1) fail(f.where, "a layer_norm normalises the last dim: its weight must be [D]");
  }
  at::Tensor run(const at::Tensor& x) const override { return at::layer_norm(x, {weight_.numel()}, weight_, bias_, eps_); }

 private:
  double eps_;
  at::Tensor weight_, bias_;
};

class GeluLayer : public Layer {
 public:
  explicit GeluLayer(const Fields& f) : clip_(f.get<double>("clip", 0.0)) {}
  at::Tensor run(const at::Tensor& x) const override {
    const auto y = at::gelu(x);
    return clip_ > 0 ? y.clamp(-clip_, clip_) : y;
  }

 private:
  double clip_;
};

// The sub-layer `key` of an attention or head layer: a mapping with its own op.
std::unique_ptr<Layer> part(const Fields& f, const std::string& key, const Records& records) {
  return make_layer(f.child(key).node, records, f.where + "." + key);
}

class AttentionLayer : public Layer {
 public:
  AttentionLayer(const Fields& f, const Records& records) : heads_(f.get<int64_t>("heads")) {
    const auto name = f.get<std::string>("name");
    if (heads_ < 1) fail(f.where, "heads must be >= 1");
    qkv_ = part(f, "qkv", records);
    proj_ = part(f, "proj", records);
    if (f.node["norm_q"]) {
      norm_q_ = part(f, "norm_q", records);
      norm_k_ = part(f, "norm_k", records);
    }
    for (const auto& [key, q] : {std::pair{"q_act", &q_}, std::pair{"k_act", &k_}, std::pair{"v_act", &v_},
                                 std::pair{"attn_act", &attn_}}) {
      *q = InputQuantizer::read(f, key, records, name + "." + key, heads_, 1);
    }
    read_windows(f, records, name);
  }

  at::Tensor run(const at::Tensor& x) const override {
    if (windows_.window == 0) return attend(x, at::Tensor());
    return layers::attend_in_windows(x, windows_, [&](const at::Tensor& windows) { return attend(windows, mask_); },
                                     "attention");
  }

 private:
  // Swin's fields window, side, shift and the record NAME.relative_position_bias_table
  // [(2 window - 1)^2, heads]: the bias [heads, w w, w w] and the shift's mask, built once.
  void read_windows(const Fields& f, const Records& records, const std::string& name) {
    windows_.window = f.get<int64_t>("window", 0);
    if (windows_.window == 0) return;
    windows_.side = f.get<int64_t>("side");
    windows_.shift = f.get<int64_t>("shift", 0);
    const int64_t w = windows_.window;
    if (w < 1 || windows_.side < w || windows_.side % w != 0 || windows_.shift < 0 || windows_.shift >= w) {
      fail(f.where, "window " + std::to_string(w) + " must divide side " + std::to_string(windows_.side) +
                        ", with 0 <= shift < window (shift " + std::to_string(windows_.shift) + ")");
    }
    const auto table = records.floats(name + ".relative_position_bias_table", f.where, (2 * w - 1) * (2 * w - 1) * heads_);
    bias_ = layers::relative_position_bias(table.view({(2 * w - 1) * (2 * w - 1), heads_}),
                                           layers::relative_position_index(w).flatten(), w);
    if (windows_.shift > 0) mask_ = layers::shifted_window_mask(windows_);
  }

  // QAttention::forward on tokens [B, N, D] (windows: [B nW, w w, D], mask [nW, w w, w w] or none).
  at::Tensor attend(const at::Tensor& x, const at::Tensor& mask) const {
    TORCH_CHECK(x.dim() == 3 && x.size(2) % heads_ == 0, "attention: expected tokens [B, N, D] with ", heads_,
                " heads dividing D, got ", x.sizes());
    const int64_t batch = x.size(0), tokens = x.size(1), dim = x.size(2), head_dim = dim / heads_;
    const auto qkv = qkv_->run(x).reshape({batch, tokens, 3, heads_, head_dim}).permute({2, 0, 3, 1, 4});
    auto q = qkv[0], k = qkv[1];
    if (norm_q_) {
      q = norm_q_->run(q);
      k = norm_k_->run(k);
    }
    const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
    auto logits = at::matmul(q_.apply(q), k_.apply(k).transpose(-2, -1)) * scale;
    if (bias_.defined()) logits = logits + bias_;
    if (mask.defined()) logits = layers::add_window_mask(logits, mask);
    const auto attn = attn_.apply(at::softmax(logits, -1));
    const auto merged = at::matmul(attn, v_.apply(qkv[2])).transpose(1, 2).reshape({batch, tokens, dim});
    return proj_->run(merged);
  }

  int64_t heads_;
  std::unique_ptr<Layer> qkv_, proj_, norm_q_, norm_k_;
  InputQuantizer q_, k_, v_, attn_;
  layers::ShiftedWindows windows_;
  at::Tensor bias_, mask_;
};

class PatchMergeLayer : public Layer {
 public:
  explicit PatchMergeLayer(const Fields& f) : side_(f.get<int64_t>("side")) {
    if (side_ < 2 || side_ % 2 != 0) fail(f.where, "side must be even and at least 2, got " + std::to_string(side_));
  }
  at::Tensor run(const at::Tensor& x) const override {
    const int64_t half = side_ / 2;
    TORCH_CHECK(x.dim() == 3 && x.size(1) == side_ * side_, "patch_merge: expected tokens [B, ", side_ * side_,
                ", C], got ", x.sizes());
    return x.reshape({x.size(0), half, 2, half, 2, x.size(2)})
        .permute({0, 1, 3, 4, 2, 5})
        .reshape({x.size(0), half * half, 4 * x.size(2)});
  }

 private:
  int64_t side_;
};

class MeanTokensLayer : public Layer {
 public:
  at::Tensor run(const at::Tensor& x) const override {
    TORCH_CHECK(x.dim() == 3, "mean_tokens: expected tokens [B, N, D], got ", x.sizes());
    return x.mean(1);
  }
};

class VitHeadsLayer : public Layer {
 public:
  VitHeadsLayer(const Fields& f, const Records& records) {
    head_ = part(f, "head", records);
    if (f.node["head_dist"]) head_dist_ = part(f, "head_dist", records);
  }
  at::Tensor run(const at::Tensor& x) const override {
    TORCH_CHECK(x.dim() == 3 && x.size(1) >= (head_dist_ ? 2 : 1), "vit_heads: expected tokens [B, T, D], got ",
                x.sizes());
    const auto logits = head_->run(x.select(1, 0));
    return head_dist_ ? (logits + head_dist_->run(x.select(1, 1))) / 2 : logits;
  }

 private:
  std::unique_ptr<Layer> head_, head_dist_;
};

}  // namespace deploy_transformer

std::unique_ptr<Layer> make_transformer_layer(const std::string& op, const Fields& f, const Records& records) {
  namespace d = deploy_transformer;
  if (op == "tokens") return std::make_unique<d::TokensLayer>(f, records);
  if (op == "layer_norm") return std::make_unique<d::LayerNormLayer>(f, records);
  if (op == "gelu") return std::make_unique<d::GeluLayer>(f);
  if (op == "attention") return std::make_unique<d::AttentionLayer>(f, records);
  if (op == "vit_heads") return std::make_unique<d::VitHeadsLayer>(f, records);
  if (op == "patch_merge") return std::make_unique<d::PatchMergeLayer>(f);
  if (op == "mean_tokens") return std::make_unique<d::MeanTokensLayer>();
  return nullptr;
}

}  // namespace lowbit::deploy
