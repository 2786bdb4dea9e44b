// The deploy layers of a vision transformer (docs/export.md "Layers"), each the eval-mode forward
// of its training module (modules/layers/transformer.h, qattention.h) in the same ATen calls:
//   tokens      [B, D, h, w] patches -> [B, T, D]: cat(cls, dist, patches) + pos_embed (PatchEmbed)
//   layer_norm  over the last dim, with weight and bias
//   gelu        GELU (erf), then clamp(-clip, clip) where clip > 0 (QMlp)
//   attention   QAttention without windows: qkv, (IRM norms), the q/k/v quantizers, softmax(q k^T /
//               sqrt(d)), the map's quantizer, times v, proj
//   vit_heads   head(x[:, 0]); distilled: the mean with head_dist(x[:, 1]) (VitHeads in eval)
// A block's two residual branches are `residual` layers (layers.cpp).
#include <lowbit/csrc/deploy/layer_parts.h>

#include <ATen/ATen.h>

#include <cmath>

namespace lowbit::deploy {
namespace deploy_transformer {  // named: unity builds join files

class TokensLayer : public Layer {
 public:
  TokensLayer(const Fields& f, const Records& records) {
    const auto name = f.get<std::string>("name");
    cls_ = records.floats(name + ".cls_token", f.where);
    if (cls_.dim() != 3 || cls_.size(0) != 1 || cls_.size(1) != 1) fail(f.where, "cls_token must be [1, 1, D]");
    const int64_t dim = cls_.size(2);
    if (records.find(name + ".dist_token")) dist_ = records.floats(name + ".dist_token", f.where, dim).view({1, 1, dim});
    pos_ = records.floats(name + ".pos_embed", f.where);
    if (pos_.dim() != 3 || pos_.size(0) != 1 || pos_.size(2) != dim) fail(f.where, "pos_embed must be [1, T, D]");
  }

  at::Tensor run(const at::Tensor& x) const override {
    const int64_t batch = x.size(0), tokens = pos_.size(1);
    const int64_t patches = x.dim() == 4 ? x.size(2) * x.size(3) : -1;
    TORCH_CHECK(x.dim() == 4 && x.size(1) == cls_.size(-1) && patches + 1 + (dist_.defined() ? 1 : 0) == tokens,
                "tokens: expected patches [B, ", cls_.size(-1), ", h, w] with h w = ", tokens - 1 - dist_.defined(),
                ", got ", x.sizes());
    std::vector<at::Tensor> parts{cls_.expand({batch, -1, -1})};
    if (dist_.defined()) parts.push_back(dist_.expand({batch, -1, -1}));
    parts.push_back(x.flatten(2).transpose(1, 2));
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
  }

  at::Tensor run(const at::Tensor& x) const override {
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
    const auto logits = at::matmul(q_.apply(q), k_.apply(k).transpose(-2, -1)) * scale;
    const auto attn = attn_.apply(at::softmax(logits, -1));
    const auto merged = at::matmul(attn, v_.apply(qkv[2])).transpose(1, 2).reshape({batch, tokens, dim});
    return proj_->run(merged);
  }

 private:
  int64_t heads_;
  std::unique_ptr<Layer> qkv_, proj_, norm_q_, norm_k_;
  InputQuantizer q_, k_, v_, attn_;
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
  return nullptr;
}

}  // namespace lowbit::deploy
