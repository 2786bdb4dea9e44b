#include <lowbit/csrc/deploy/layers.h>

#include <lowbit/csrc/deploy/layer_parts.h>

#include <lowbit/csrc/kernels/activation_quantizers.h>
#include <lowbit/csrc/kernels/binary_conv.h>
#include <lowbit/csrc/kernels/binary_gemm.h>

#include <ATen/ATen.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <cstring>
#include <functional>

namespace lowbit::deploy {

void fail(const std::string& where, const std::string& message) { throw LbmError(where + ": " + message); }

YAML::Node Fields::at(const std::string& key) const {
  const auto value = node[key];
  if (!value) fail(where, "missing '" + key + "'");
  return value;
}

std::array<int64_t, 2> Fields::pair(const std::string& key, std::array<int64_t, 2> fallback, int64_t min) const {
  if (!node[key]) return fallback;
  const auto v = get<std::vector<int64_t>>(key);
  if (v.size() != 2 || v[0] < min || v[1] < min) {
    fail(where, "'" + key + "' must be two integers >= " + std::to_string(min) + ", got " + YAML::Dump(at(key)));
  }
  return {v[0], v[1]};
}

Fields Fields::child(const std::string& key) const {
  const auto value = at(key);
  if (!value.IsMap()) fail(where, "'" + key + "' must be a mapping, got " + YAML::Dump(value));
  return Fields{node[key], where + "." + key};
}

InputQuantizer InputQuantizer::read(const Fields& f, const std::string& key, const Records& records,
                                    const std::string& prefix, int64_t channels, int64_t channel_dim) {
  InputQuantizer q;
  q.channel_dim = channel_dim;
  const auto kind = f.get<std::string>(key, "float");
  if (kind == "sign") {
    q.kind = Kind::Sign;
    if (records.find(prefix + "_shift")) q.shift = records.floats(prefix + "_shift", f.where, channels);
  } else if (kind == "uniform") {
    q.kind = Kind::Uniform;
    const auto g = f.child(key + "_grid");
    q.grid = {g.get<double>("qn"), g.get<double>("qp"), g.get<int64_t>("channel_dim"), g.get<bool>("sign")};
    if (q.grid.qn < 0 || q.grid.qp < 0) fail(g.where, "qn and qp must be >= 0 (the code's range is [-qn, qp])");
    q.step = records.floats(prefix + "_step", f.where);
    if (records.find(prefix + "_offset")) q.offset = records.floats(prefix + "_offset", f.where, q.step.numel());
  } else if (kind == "adabin") {
    q.kind = Kind::AdaBin;
    const auto form = f.get<std::string>(key + "_form");
    if (form != "code" && form != "paper") fail(f.where, "'" + key + "_form' must be code or paper, got '" + form + "'");
    q.code_form = form == "code";
    q.alpha = records.floats(prefix + "_alpha", f.where, 1);
    q.beta = records.floats(prefix + "_beta", f.where, 1);
  } else if (kind != "float") {
    fail(f.where, "'" + key + "' must be float, sign, uniform or adabin, got '" + kind + "'");
  }
  return q;
}

at::Tensor InputQuantizer::apply(const at::Tensor& x) const {
  if (kind == Kind::Uniform) return kernels::lsq_forward(x, step, offset, grid);
  if (kind == Kind::AdaBin) return kernels::adabin_activation_forward(x, alpha, beta, code_form);
  if (kind == Kind::Float) return x;
  auto shifted = x;
  if (shift.defined()) {
    std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
    shape.at(static_cast<size_t>(at::maybe_wrap_dim(channel_dim, x.dim()))) = shift.numel();
    shifted = x + shift.view(shape);
  }
  return at::sign(shifted);  // sign(0) = 0, as the training graph's sign
}

namespace deploy_layers {  // named: unity builds join files

int64_t product(const std::vector<int64_t>& dims, size_t from) {
  int64_t n = 1;
  for (size_t i = from; i < dims.size(); ++i) n *= dims[i];
  return n;
}

// A binary or ternary record's values as float [rows, cols]: its codes (-1, 0, +1) and, with
// `scaled`, times its scales.
at::Tensor unpack(const LbmRecord& r, bool scaled) {
  const int64_t rows = r.dims.at(0), cols = product(r.dims, 1), words = (cols + 63) / 64;
  const int64_t plane = rows * words;
  std::vector<uint64_t> bits(static_cast<size_t>(r.kind == LbmKind::Ternary ? 2 * plane : plane));
  std::memcpy(bits.data(), r.payload.data(), bits.size() * sizeof(uint64_t));
  auto out = at::empty({rows, cols}, at::kFloat);
  float* v = out.data_ptr<float>();
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t word = i * words + j / 64, bit = j % 64;
      const bool negative = (bits[static_cast<size_t>(word)] >> bit) & 1U;
      const bool zero = r.kind == LbmKind::Ternary && !((bits[static_cast<size_t>(plane + word)] >> bit) & 1U);
      v[i * cols + j] = zero ? 0.f : (negative ? -1.f : 1.f);
    }
  }
  if (!scaled || r.scales.empty()) return out;
  const auto s = at::tensor(r.scales, at::kFloat);
  return out * (r.scales.size() == 1 ? s : s.view({rows, 1}));
}

// The scales of a binary record per row (ones where it has none).
at::Tensor row_scales(const LbmRecord& r) {
  const int64_t rows = r.dims.at(0);
  if (r.scales.empty()) return at::ones({rows}, at::kFloat);
  const auto s = at::tensor(r.scales, at::kFloat);
  return r.scales.size() == 1 ? s.expand({rows}).contiguous() : s;
}

// [1, C, 1, ...]: one value per channel (dim 1) of x.
std::vector<int64_t> channel_shape(const at::Tensor& x, const at::Tensor& values) {
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape.at(1) = values.numel();
  return shape;
}

class Conv2dLayer : public Layer {
 public:
  Conv2dLayer(const Fields& f, const Records& records) : where_(f.where) {
    const auto name = f.get<std::string>("name");
    const auto stride = f.pair("stride", {1, 1}, 1), padding = f.pair("padding", {0, 0}, 0);
    stride_ = {stride[0], stride[1]};
    padding_ = {padding[0], padding[1]};
    const auto dilation = f.pair("dilation", {1, 1}, 1);
    dilation_ = {dilation[0], dilation[1]};
    groups_ = f.get<int64_t>("groups", 1);
    const auto& w = records.get(name + ".weight", f.where);
    if (w.dims.size() != 4 || groups_ < 1) fail(f.where, "a conv2d weight needs 4 dims and groups >= 1");
    const int64_t out = w.dims[0];
    // Binary and ternary weights are stored [C_out, kh, kw, C_in], float ones [C_out, C_in, kh, kw]
    // (docs/export.md).
    in_channels_ = w.kind == LbmKind::Float32 ? w.dims[1] * groups_ : w.dims[3];
    input_ = InputQuantizer::read(f, "input", records, name + ".input", in_channels_, 1);
    if (records.find(name + ".bias")) bias_ = records.floats(name + ".bias", f.where, out);
    as_trained_ = records.float_convs_as_trained();
    const auto format = as_trained_ ? at::MemoryFormat::Contiguous : at::MemoryFormat::ChannelsLast;
    if (w.kind == LbmKind::Float32) {
      weight_ = records.floats(name + ".weight", f.where).contiguous(format);
    } else {
      if (groups_ != 1) fail(f.where, "a binary or ternary conv2d weight needs groups 1");
      const auto codes = unpack(w, /*scaled=*/false).view({out, w.dims[1], w.dims[2], in_channels_}).permute({0, 3, 1, 2});
      packed_ = input_.kind == InputQuantizer::Kind::Sign && w.kind == LbmKind::Binary &&
                dilation == std::array<int64_t, 2>{1, 1};
      if (packed_) {
        std::tie(bits_, tap_sums_) = kernels::pack_conv_weight(codes.contiguous());
        alpha_ = row_scales(w);
        geometry_ = {in_channels_, {w.dims[1], w.dims[2]}, stride, padding};
        const auto zeros = at::zeros_like(alpha_), ones = at::ones_like(alpha_);
        alone_ = {alpha_, ones, bias_.defined() ? bias_ : zeros, zeros, ones, zeros};
      } else {
        weight_ = (codes * row_scales(w).view({out, 1, 1, 1})).contiguous(format);
      }
    }
  }

  bool packed() const { return packed_; }
  // A float convolution with a real-valued input takes a following y = x scale + shift into its
  // weight and bias (w scale_o, b scale_o + shift_o): one pass less, a rounding apart.
  bool fold(const at::Tensor& scale, const at::Tensor& shift) {
    if (packed_ || !weight_.defined() || scale.numel() != weight_.size(0)) return false;
    weight_ = (weight_ * scale.view({-1, 1, 1, 1})).contiguous(at::MemoryFormat::ChannelsLast);
    bias_ = bias_.defined() ? bias_ * scale + shift : shift.clone();
    return true;
  }
  const at::Tensor& alpha() const { return alpha_; }
  const at::Tensor& bias() const { return bias_; }

  // The input's packed signs (of x + input_shift).
  at::Tensor pack(const at::Tensor& x) const {
    check_input(x);
    return kernels::pack_pixels(x, shift());
  }
  std::optional<at::Tensor> shift() const {
    return input_.shift.defined() ? std::optional(input_.shift) : std::nullopt;
  }

  // The packed convolution of `pixels` (pack()) through `e`, with `residual` (undefined: none):
  // kernels::binary_conv2d_epilogue; with `next`, also the output's packed signs for it.
  Activation run_packed(const at::Tensor& pixels, const kernels::ConvEpilogue& e, const at::Tensor& residual,
                        const Conv2dLayer* next) const {
    Activation out;
    out.values = kernels::binary_conv2d_epilogue(pixels, bits_, tap_sums_, geometry_, e, residual,
                                                 next ? &out.pixels : nullptr, next ? next->shift() : std::nullopt);
    out.pixels_for = next;
    return out;
  }

  at::Tensor run(const at::Tensor& x) const override {
    if (packed_) return run_packed(pack(x), alone_, at::Tensor(), nullptr).values;
    check_input(x);
    const auto input = input_.apply(x);
    return at::conv2d(as_trained_ ? input.contiguous() : input, weight_, bias_, stride_, padding_, dilation_, groups_);
  }

 private:
  void check_input(const at::Tensor& x) const {
    TORCH_CHECK(x.dim() == 4 && x.size(1) == in_channels_, where_, ": expected an input [N, ", in_channels_,
                ", H, W], got ", x.sizes());
  }

  std::string where_;
  std::vector<int64_t> stride_, padding_, dilation_;
  int64_t groups_ = 1, in_channels_ = 0;
  bool packed_ = false, as_trained_ = false;
  InputQuantizer input_;
  at::Tensor weight_, bias_, bits_, tap_sums_, alpha_;
  kernels::BinaryConvGeometry geometry_{};
  kernels::ConvEpilogue alone_;  // packed, not fused into a residual: y = sums alpha + bias
};

// Inputs [..., F]: a token batch [B, N, F] too.
class LinearLayer : public Layer {
 public:
  LinearLayer(const Fields& f, const Records& records) : where_(f.where) {
    const auto name = f.get<std::string>("name");
    const auto& w = records.get(name + ".weight", f.where);
    if (w.dims.size() != 2) fail(f.where, "a linear weight needs 2 dims");
    in_features_ = w.dims[1];
    if (records.find(name + ".bias")) bias_ = records.floats(name + ".bias", f.where, w.dims[0]);
    input_ = InputQuantizer::read(f, "input", records, name + ".input", in_features_, -1);
    if (w.kind == LbmKind::Float32) {
      weight_ = records.floats(name + ".weight", f.where);
    } else if (input_.kind == InputQuantizer::Kind::Sign && w.kind == LbmKind::Binary) {
      bits_ = kernels::pack_sign_bits(unpack(w, /*scaled=*/false));
      alpha_ = row_scales(w);
    } else {
      weight_ = unpack(w, /*scaled=*/true);
    }
  }

  at::Tensor run(const at::Tensor& x) const override {
    TORCH_CHECK(x.dim() >= 2 && x.size(-1) == in_features_, where_, ": expected an input [..., ", in_features_,
                "], got ", x.sizes());
    if (!bits_.defined()) return float_linear(input_.apply(x));
    const auto rows = x.reshape({-1, in_features_});
    const auto shifted = input_.shift.defined() ? rows + input_.shift : rows;
    // An exact 0 is a 0 of the training graph's sign (an attention output of zeros under Bi-ViT's
    // ActBi), which a sign bit cannot hold: such an input goes in as ternary planes.
    const auto bits =
        shifted.eq(0).any().item<bool>() ? kernels::pack_ternary_bits(shifted) : kernels::pack_sign_bits(shifted);
    auto y = kernels::binary_gemm(bits, bits_, in_features_).to(at::kFloat) * alpha_;
    if (bias_.defined()) y = y + bias_;
    auto sizes = x.sizes().vec();
    sizes.back() = y.size(1);
    return y.view(sizes);
  }

 private:
  // As torch::nn::functional::linear, which QLinear and torch::nn::Linear call: addmm for a
  // matrix, else matmul and then the bias (at::linear would fold tokens [B, N, F] into one addmm,
  // whose rounding differs, and an 8-bit quantizer after it then rounds some values the other way).
  at::Tensor float_linear(const at::Tensor& x) const {
    if (x.dim() == 2 && bias_.defined()) return at::addmm(bias_, x, weight_.t());
    auto y = at::matmul(x, weight_.t());
    return bias_.defined() ? y.add_(bias_) : y;
  }

  std::string where_;
  int64_t in_features_ = 0;
  InputQuantizer input_;
  at::Tensor weight_, bias_, bits_, alpha_;
};

// The records NAME.key of a per-channel layer, each with as many values as the first.
std::vector<at::Tensor> channel_records(const Fields& f, const Records& records, std::initializer_list<const char*> keys) {
  const auto name = f.get<std::string>("name");
  std::vector<at::Tensor> values;
  for (const char* key : keys) {
    values.push_back(records.floats(name + "." + key, f.where, values.empty() ? -1 : values.front().numel()));
  }
  return values;
}

// y = x scale_c + shift_c (the `affine` op of files that stored folded batch norms).
class AffineLayer : public Layer {
 public:
  AffineLayer(const Fields& f, const Records& records) {
    const auto v = channel_records(f, records, {"scale", "shift"});
    scale = v[0], shift = v[1];
  }
  at::Tensor run(const at::Tensor& x) const override {
    const auto shape = channel_shape(x, scale);
    return at::addcmul(shift.view(shape), x, scale.view(shape));
  }
  at::Tensor scale, shift;

 protected:
  AffineLayer(at::Tensor scale_, at::Tensor shift_) : scale(std::move(scale_)), shift(std::move(shift_)) {}
};

// The records (NAME.running_mean, running_var, weight, bias) and eps of a `batch_norm` op.
struct BatchNormStatistics {
  double eps;
  at::Tensor mean, var, weight, bias;  // weight and bias may be undefined
};

BatchNormStatistics read_batch_norm(const Fields& f, const Records& records) {
  const auto name = f.get<std::string>("name");
  BatchNormStatistics s{f.get<double>("eps"), {}, records.floats(name + ".running_var", f.where), {}, {}};
  const int64_t channels = s.var.numel();
  s.mean = records.floats(name + ".running_mean", f.where, channels);
  if (records.find(name + ".weight")) s.weight = records.floats(name + ".weight", f.where, channels);
  if (records.find(name + ".bias")) s.bias = records.floats(name + ".bias", f.where, channels);
  return s;
}

// A batch norm in eval mode. Run alone, the training graph's at::batch_norm call (bit for bit);
// folded into a convolution or a packed epilogue, the affine y = x scale_c + shift_c with scale =
// weight / sqrt(running_var + eps) and shift = bias - running_mean scale, as ATen's CPU kernel forms
// them.
class BatchNormLayer : public AffineLayer {
 public:
  explicit BatchNormLayer(BatchNormStatistics s) : AffineLayer(folded_scale(s), at::Tensor()), s_(std::move(s)) {
    shift = (s_.bias.defined() ? s_.bias : at::zeros_like(scale)) - s_.mean * scale;
  }
  at::Tensor run(const at::Tensor& x) const override {
    TORCH_CHECK(x.dim() >= 2 && x.size(1) == s_.var.numel(), "batch_norm: expected [N, ", s_.var.numel(),
                ", ...], got ", x.sizes());
    return at::batch_norm(x, s_.weight, s_.bias, s_.mean, s_.var, false, 0.0, s_.eps, false);
  }

 private:
  static at::Tensor folded_scale(const BatchNormStatistics& s) {
    const auto invstd = 1 / at::sqrt(s.var + static_cast<float>(s.eps));
    return s.weight.defined() ? invstd * s.weight : invstd;
  }
  BatchNormStatistics s_;
};

// ReActNet's RPReLU: y = PReLU_slope(x + gamma_c) + offset_c.
class RPReLULayer : public Layer {
 public:
  RPReLULayer(const Fields& f, const Records& records) {
    const auto v = channel_records(f, records, {"gamma", "slope", "offset"});
    gamma = v[0], slope = v[1], offset = v[2];
  }
  at::Tensor run(const at::Tensor& x) const override {
    const auto shape = channel_shape(x, gamma);
    return at::prelu(x + gamma.view(shape), slope) + offset.view(shape);
  }
  at::Tensor gamma, slope, offset;
};

// AdaBin's Maxout: y = pos_c ReLU(x) - neg_c ReLU(-x), as the training graph's layers::Maxout.
class MaxoutLayer : public Layer {
 public:
  MaxoutLayer(const Fields& f, const Records& records) {
    const auto v = channel_records(f, records, {"pos_scale", "neg_scale"});
    pos_ = v[0], neg_ = v[1];
  }
  at::Tensor run(const at::Tensor& x) const override {
    const auto shape = channel_shape(x, pos_);
    return pos_.view(shape) * at::relu(x) - neg_.view(shape) * at::relu(-x);
  }

 private:
  at::Tensor pos_, neg_;
};

// A layer that is one ATen call with the description's options.
class FunctionLayer : public Layer {
 public:
  explicit FunctionLayer(std::function<at::Tensor(const at::Tensor&)> f) : f_(std::move(f)) {}
  at::Tensor run(const at::Tensor& x) const override { return f_(x); }

 private:
  std::function<at::Tensor(const at::Tensor&)> f_;
};

std::unique_ptr<Layer> pooling(const std::string& op, const Fields& f) {
  f.at("kernel");
  const auto kernel = f.pair("kernel", {1, 1}, 1);
  const auto stride = f.pair("stride", kernel, 1), padding = f.pair("padding", {0, 0}, 0);
  const bool ceil_mode = f.get<bool>("ceil_mode", false);
  const std::vector<int64_t> k(kernel.begin(), kernel.end()), s(stride.begin(), stride.end()),
      p(padding.begin(), padding.end());
  if (op == "max_pool2d") {
    return std::make_unique<FunctionLayer>(
        [=](const at::Tensor& x) { return at::max_pool2d(x, k, s, p, {1, 1}, ceil_mode); });
  }
  const bool count_include_pad = f.get<bool>("count_include_pad", true);
  return std::make_unique<FunctionLayer>(
      [=](const at::Tensor& x) { return at::avg_pool2d(x, k, s, p, ceil_mode, count_include_pad); });
}

// y = after(body(x) + shortcut(x)); a packed binary convolution, its batch norm and an optional
// RPReLU run as the convolution's sums and one epilogue pass (kernels::binary_conv_epilogue).
class ResidualLayer : public Layer {
 public:
  ResidualLayer(const Fields& f, const Records& records) {
    body_ = make_layers(f.node["body"], records, f.where + ".body");
    shortcut_ = make_layers(f.node["shortcut"], records, f.where + ".shortcut");
    after_ = make_layers(f.node["after"], records, f.where + ".after");
    if (body_.empty()) fail(f.where, "a residual needs a body");
    fuse();
  }

  at::Tensor run(const at::Tensor& x) const override { return forward({x}).values; }

  Activation forward(const Activation& x) const override {
    const auto residual = shortcut_.empty() ? x.values : run_layers(shortcut_, x.values);
    if (!conv_) return {run_layers(after_, run_layers(body_, x.values) + residual)};
    const auto pixels = x.pixels_for == conv_ ? x.pixels : conv_->pack(x.values);
    return conv_->run_packed(pixels, epilogue_, residual, next_);
  }

  // The packed convolution of a fused residual (null for the others).
  const Conv2dLayer* fused_conv() const { return conv_; }
  // Packs the output's signs for `next` on the way (the next layer's fused convolution).
  void feed(const Conv2dLayer* next) { next_ = next; }

 private:
  void fuse() {
    auto* conv = dynamic_cast<Conv2dLayer*>(body_.front().get());
    auto* bn = body_.size() == 2 ? dynamic_cast<AffineLayer*>(body_.back().get()) : nullptr;
    auto* act = after_.size() == 1 ? dynamic_cast<RPReLULayer*>(after_.front().get()) : nullptr;
    if (!conv || !conv->packed() || conv->bias().defined() || !bn || (!after_.empty() && !act)) return;
    conv_ = conv;
    const auto c = conv->alpha().numel();
    epilogue_ = {conv->alpha(), bn->scale, bn->shift, act ? act->gamma : at::zeros({c}, at::kFloat),
                 act ? act->slope : at::ones({c}, at::kFloat),
                 act ? act->offset : at::zeros({c}, at::kFloat)};
  }

  Layers body_, shortcut_, after_;
  const Conv2dLayer* conv_ = nullptr;
  const Conv2dLayer* next_ = nullptr;
  kernels::ConvEpilogue epilogue_;
};

}  // namespace deploy_layers

std::unique_ptr<Layer> make_layer(const YAML::Node& node, const Records& records, const std::string& where) {
  using namespace deploy_layers;
  const Fields f{node, where};
  if (!node.IsMap()) fail(where, "expected a mapping {op: ...}, got " + YAML::Dump(node));
  const auto op = f.get<std::string>("op");
  if (op == "conv2d") return std::make_unique<Conv2dLayer>(f, records);
  if (op == "linear") return std::make_unique<LinearLayer>(f, records);
  if (op == "affine") return std::make_unique<AffineLayer>(f, records);
  if (op == "batch_norm") return std::make_unique<BatchNormLayer>(read_batch_norm(f, records));
  if (op == "rprelu") return std::make_unique<RPReLULayer>(f, records);
  if (op == "maxout") return std::make_unique<MaxoutLayer>(f, records);
  if (op == "residual") return std::make_unique<ResidualLayer>(f, records);
  if (op == "max_pool2d" || op == "avg_pool2d") return pooling(op, f);
  if (op == "relu") return std::make_unique<FunctionLayer>([](const at::Tensor& x) { return at::relu(x); });
  if (op == "hardtanh") {
    const auto low = f.get<double>("min", -1.0), high = f.get<double>("max", 1.0);
    return std::make_unique<FunctionLayer>([=](const at::Tensor& x) { return at::hardtanh(x, low, high); });
  }
  if (op == "global_avg_pool") {
    return std::make_unique<FunctionLayer>([](const at::Tensor& x) { return at::adaptive_avg_pool2d(x, {1, 1}); });
  }
  if (op == "flatten") return std::make_unique<FunctionLayer>([](const at::Tensor& x) { return x.flatten(1); });
  if (auto layer = make_transformer_layer(op, f, records)) return layer;
  fail(where, "unknown op '" + op +
                  "' (this lowbit runs conv2d, linear, affine, relu, hardtanh, rprelu, max_pool2d, avg_pool2d, "
                  "global_avg_pool, flatten, residual, tokens, layer_norm, gelu, attention, vit_heads)");
}

Records::Records(std::vector<LbmRecord> records, std::string source) : source_(std::move(source)) {
  for (auto& r : records) {
    if (r.kind == LbmKind::Codes) {  // multi-bit weights run as float32: their values, as training gave them
      const auto values = lbm_code_values(r);
      r = LbmRecord{std::move(r.name), LbmKind::Float32, std::move(r.dims), {}, std::vector<uint8_t>(values.size() * sizeof(float))};
      if (!values.empty()) std::memcpy(r.payload.data(), values.data(), r.payload.size());
    }
    used_[r.name] = false;
    records_.emplace(r.name, std::move(r));
  }
}

const LbmRecord* Records::find(const std::string& name) const {
  const auto it = records_.find(name);
  if (it == records_.end()) return nullptr;
  used_[name] = true;
  return &it->second;
}

const LbmRecord& Records::get(const std::string& name, const std::string& layer) const {
  const auto* r = find(name);
  if (!r) fail(layer, "the file has no record '" + name + "'");
  if (r->kind == LbmKind::Text) fail(layer, "record '" + name + "' is text, expected a tensor");
  return *r;
}

at::Tensor Records::floats(const std::string& name, const std::string& layer, int64_t numel) const {
  const auto& r = get(name, layer);
  if (r.kind != LbmKind::Float32) fail(layer, "record '" + name + "' must be float32");
  const int64_t n = deploy_layers::product(r.dims, 0);
  if (numel >= 0 && n != numel) {
    fail(layer, "record '" + name + "' has " + std::to_string(n) + " values, expected " + std::to_string(numel));
  }
  auto t = at::empty(r.dims, at::kFloat);
  if (n > 0) std::memcpy(t.data_ptr<float>(), r.payload.data(), static_cast<size_t>(n) * sizeof(float));
  return t;
}

void Records::check_all_used() const {
  for (const auto& [name, used] : used_) {
    if (!used && records_.at(name).kind != LbmKind::Text) {
      throw LbmError(source_ + ": record '" + name + "' is not used by any layer of the description");
    }
  }
}

Layers make_layers(const YAML::Node& list, const Records& records, const std::string& where) {
  namespace d = deploy_layers;
  Layers layers;
  if (!list || list.IsNull()) return layers;
  if (!list.IsSequence()) fail(where, "expected a list of layers");
  for (size_t i = 0; i < list.size(); ++i) {
    const auto name = list[i]["name"] && list[i]["name"].IsScalar() ? " (" + list[i]["name"].Scalar() + ")" : "";
    auto layer = make_layer(list[i], records, where + "[" + std::to_string(i) + "]" + name);
    auto* conv = layers.empty() ? nullptr : dynamic_cast<d::Conv2dLayer*>(layers.back().get());
    const auto* affine = dynamic_cast<const d::AffineLayer*>(layer.get());
    if (conv && affine && !records.float_convs_as_trained() && conv->fold(affine->scale, affine->shift)) continue;
    auto* unit = layers.empty() ? nullptr : dynamic_cast<d::ResidualLayer*>(layers.back().get());
    const auto* next = dynamic_cast<const d::ResidualLayer*>(layer.get());
    if (unit && unit->fused_conv() && next && next->fused_conv()) unit->feed(next->fused_conv());
    layers.push_back(std::move(layer));
  }
  return layers;
}

at::Tensor run_layers(const Layers& layers, const at::Tensor& x) {
  Activation a{x};
  for (const auto& layer : layers) a = layer->forward(a);
  return a.values;
}

}  // namespace lowbit::deploy
