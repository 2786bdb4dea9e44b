#include <lowbit/csrc/deploy/export.h>

#include <lowbit/csrc/kernels/binary_gemm.h>
#include <lowbit/csrc/util/files.h>
#include <lowbit/modules/layers/basic_block.h>
#include <lowbit/modules/layers/batch_norm.h>
#include <lowbit/modules/layers/binary_residual_unit.h>
#include <lowbit/modules/layers/maxout.h>
#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/layers/rprelu.h>
#include <lowbit/modules/layers/swin.h>
#include <lowbit/modules/layers/transformer.h>
#include <lowbit/modules/quant/adabin.h>
#include <lowbit/modules/quant/identity.h>
#include <lowbit/modules/quant/rsign.h>

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/modules/pooling.h>
#include <yaml-cpp/yaml.h>

#include <cstring>

namespace lowbit::deploy {
namespace deploy_export {  // named: unity builds join files

[[noreturn]] void unsupported(const std::string& name, const torch::nn::Module& m, const std::string& why) {
  throw std::invalid_argument("lowbit export: " + (name.empty() ? std::string("the network") : name) + " (" + m.name() +
                              "): " + why);
}

std::vector<int64_t> pair(const torch::ExpandingArray<2>& a) { return {a->at(0), a->at(1)}; }

YAML::Node flow(YAML::Node node) {
  node.SetStyle(YAML::EmitterStyle::Flow);
  return node;
}

YAML::Node list_of(const std::vector<int64_t>& v) {
  YAML::Node node;
  for (const auto x : v) node.push_back(x);
  return flow(node);
}

std::string join(const std::string& prefix, const std::string& name) { return prefix.empty() ? name : prefix + "." + name; }

// A one-line description of op `op` (name omitted where empty).
YAML::Node named(const std::string& op, const std::string& name) {
  YAML::Node node;
  node["op"] = op;
  if (!name.empty()) node["name"] = name;
  return flow(node);
}

// A tensor's values as float32, in order (none for an undefined tensor).
std::vector<float> float_list(const torch::Tensor& t) {
  if (!t.defined()) return {};
  const auto v = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return std::vector<float>(v.const_data_ptr<float>(), v.const_data_ptr<float>() + v.numel());
}

// codes [rows, ...] with values in {-1, 0, +1} as a record of `dims`: binary (no zero) or ternary.
LbmRecord packed_record(const std::string& name, const torch::Tensor& codes, const torch::Tensor& scales,
                        std::vector<int64_t> dims) {
  const auto rows = codes.reshape({codes.size(0), -1}).to(torch::kCPU, torch::kFloat).contiguous();
  const bool ternary = (rows == 0).any().item<bool>();
  const auto packed =
      ternary ? kernels::pack_ternary_bits(rows).transpose(0, 1).contiguous() : kernels::pack_sign_bits(rows);
  LbmRecord r{name, ternary ? LbmKind::Ternary : LbmKind::Binary, std::move(dims), float_list(scales),
              std::vector<uint8_t>(static_cast<size_t>(packed.nbytes()))};
  std::memcpy(r.payload.data(), packed.const_data_ptr<int64_t>(), r.payload.size());
  return r;
}

class Exporter {
 public:
  std::vector<LbmRecord> records;

  void add(const std::string& name, torch::nn::Module& m, YAML::Node& list);

 private:
  void floats(const std::string& name, const torch::Tensor& t) {
    const auto v = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
    LbmRecord r{name, LbmKind::Float32, v.sizes().vec(), {}, std::vector<uint8_t>(static_cast<size_t>(v.nbytes()))};
    if (v.numel() > 0) std::memcpy(r.payload.data(), v.const_data_ptr<float>(), r.payload.size());
    records.push_back(std::move(r));
  }

  void bits(const std::string& name, const torch::Tensor& codes, const torch::Tensor& scales, std::vector<int64_t> dims) {
    records.push_back(packed_record(name, codes, scales, std::move(dims)));
  }

  // An activation quantizer as the runtime's InputQuantizer reads it (csrc/deploy/layer_parts.h):
  // `node`'s field `key` (and `key`_grid), records `prefix`_shift, _step, _offset. `name`, `layer`:
  // the layer, for errors.
  void activation(const std::string& name, torch::nn::Module& layer, const std::string& key, const std::string& prefix,
                  quant::QuantizerImpl* q, YAML::Node& node) {
    if (!q || dynamic_cast<quant::IdentityImpl*>(q)) {
      node[key] = "float";
    } else if (q->outputs_signs()) {
      node[key] = "sign";
      if (auto* rsign = dynamic_cast<quant::RSignImpl*>(q)) floats(prefix + "_shift", rsign->bias.flatten());
    } else if (auto* adabin = dynamic_cast<quant::AdaBinActImpl*>(q)) {
      node[key] = "adabin";
      node[key + "_form"] = adabin->options.form() == quant::AdaBinActForm::Code ? "code" : "paper";
      floats(prefix + "_alpha", adabin->alpha_a.reshape({1}));
      floats(prefix + "_beta", adabin->beta_a.reshape({1}));
    } else if (const auto grid = q->uniform_grid()) {
      node[key] = "uniform";
      YAML::Node g;
      g["qn"] = grid->range.qn;
      g["qp"] = grid->range.qp;
      g["sign"] = grid->range.sign;
      g["channel_dim"] = grid->channel_dim;
      node[key + "_grid"] = flow(g);
      floats(prefix + "_step", grid->step.flatten());
      if (grid->offset.defined()) floats(prefix + "_offset", grid->offset.flatten());
    } else {
      unsupported(name, layer, key + " quantizer " + q->name() +
                                   " has no deploy form (identity, sign, rsign, adabin_act and the LSQ family have)");
    }
  }

  // A multi-bit weight as `bits`-bit codes (u = code - code_min) with its scales and offsets.
  void codes(const std::string& name, const quant::ExportedWeight& e) {
    const auto c = e.codes.to(torch::kCPU, torch::kInt).contiguous();
    records.push_back(lbm_codes_record(name, c.sizes().vec(),
                                       std::vector<int32_t>(c.const_data_ptr<int32_t>(), c.const_data_ptr<int32_t>() + c.numel()),
                                       static_cast<uint8_t>(e.bits), static_cast<int32_t>(-e.code_min),
                                       float_list(e.scales), float_list(e.offsets)));
  }

  // The weight and input of a convolution or linear layer: `node`'s input field and the records.
  // wq / iq null: full precision (torch::nn::Conv2d / Linear). Codes in {-1, 0, +1} without
  // offsets are packed as bit planes, other codes of at most 8 bits (LSQ, DoReFa, AdaBin) stored as
  // codes; a weight quantizer without codes or with wider ones is stored as its output in float32.
  void quantized(const std::string& name, torch::nn::Module& layer, const torch::Tensor& weight, const torch::Tensor& bias,
                 quant::QuantizerImpl* wq, quant::QuantizerImpl* iq, YAML::Node& node) {
    activation(name, layer, "input", name + ".input", iq, node);
    if (!wq || dynamic_cast<quant::IdentityImpl*>(wq)) {
      floats(name + ".weight", weight);
    } else if (const auto e = wq->export_weight(weight); !e.codes.defined() || e.bits > 8) {
      floats(name + ".weight", e.values);
    } else if (e.code_min < -1 || e.code_max > 1 || e.offsets.defined()) {
      codes(name + ".weight", e);
    } else {
      auto dims = weight.sizes().vec();
      auto signs = e.codes;
      if (weight.dim() == 4) {  // stored [C_out, kh, kw, C_in]: the packed kernels' tap order
        signs = signs.permute({0, 2, 3, 1});
        dims = signs.sizes().vec();
      }
      bits(name + ".weight", signs, e.scales, dims);
    }
    if (bias.defined()) floats(name + ".bias", bias);
  }

  template <typename Options>
  void conv(const std::string& name, torch::nn::Module& c, const Options& o, const torch::Tensor& weight,
            const torch::Tensor& bias, quant::QuantizerImpl* wq, quant::QuantizerImpl* iq, YAML::Node& list) {
    const auto* padding = std::get_if<torch::ExpandingArray<2>>(&o.padding());
    if (!padding) unsupported(name, c, "padding 'same' / 'valid' has no deploy form; give it in pixels");
    YAML::Node node;
    node["op"] = "conv2d";
    node["name"] = name;
    node["stride"] = list_of(pair(o.stride()));
    node["padding"] = list_of(pair(*padding));
    node["dilation"] = list_of(pair(o.dilation()));
    node["groups"] = o.groups();
    quantized(name, c, weight, bias, wq, iq, node);
    list.push_back(flow(node));
  }

  void conv(const std::string& name, layers::QConv2dImpl& c, YAML::Node& list) {
    conv(name, c, c.options, c.weight, c.bias, c.weight_quantizer.get(), c.input_quantizer.get(), list);
  }

  YAML::Node linear(const std::string& name, torch::nn::Module& l, const torch::Tensor& weight, const torch::Tensor& bias,
                    quant::QuantizerImpl* wq, quant::QuantizerImpl* iq) {
    YAML::Node node;
    node["op"] = "linear";
    node["name"] = name;
    quantized(name, l, weight, bias, wq, iq, node);
    return flow(node);
  }
  YAML::Node linear(const std::string& name, layers::QLinearImpl& l) {
    return linear(name, l, l.weight, l.bias, l.weight_quantizer.get(), l.input_quantizer.get());
  }

  YAML::Node layer_norm(const std::string& name, torch::nn::LayerNormImpl& n) {
    const auto& shape = n.options.normalized_shape();
    if (shape.size() != 1 || !n.options.elementwise_affine()) {
      unsupported(name, n, "a layer norm over more than the last dim, or without weight and bias");
    }
    floats(name + ".weight", n.weight);
    floats(name + ".bias", n.bias);
    auto node = named("layer_norm", name);
    node["eps"] = n.options.eps();
    return node;
  }

  // A batch norm in eval mode: its running statistics, affine parameters and eps (the runtime folds
  // them where it fuses, and otherwise makes the training graph's at::batch_norm call).
  // Both layers::BatchNorm and torch::nn::BatchNorm1d / 2d.
  template <typename BatchNorm>
  void batch_norm(const std::string& name, BatchNorm& bn, YAML::Node& list) {
    if (!bn.running_mean.defined()) unsupported(name, bn, "a batch norm without running statistics");
    floats(name + ".running_mean", bn.running_mean);
    floats(name + ".running_var", bn.running_var);
    if (bn.weight.defined()) floats(name + ".weight", bn.weight);
    if (bn.bias.defined()) floats(name + ".bias", bn.bias);
    auto node = named("batch_norm", name);
    node["eps"] = bn.options.eps();
    list.push_back(node);
  }

  void rprelu(const std::string& name, layers::RPReLUImpl& a, YAML::Node& list) {
    floats(name + ".gamma", a.gamma.flatten());
    floats(name + ".slope", a.beta.flatten());
    floats(name + ".offset", a.zeta.flatten());
    list.push_back(named("rprelu", name));
  }

  void maxout(const std::string& name, layers::MaxoutImpl& a, YAML::Node& list) {
    floats(name + ".pos_scale", a.pos_scale.flatten());
    floats(name + ".neg_scale", a.neg_scale.flatten());
    list.push_back(named("maxout", name));
  }

  // A unit's activation module (none, rprelu, maxout) appended to `list`.
  void unit_activation(const std::string& name, torch::nn::Module& unit, const std::shared_ptr<torch::nn::Module>& act,
                       YAML::Node& list) {
    if (!act) return;
    if (auto* r = dynamic_cast<layers::RPReLUImpl*>(act.get())) {
      rprelu(name, *r, list);
    } else if (auto* m = dynamic_cast<layers::MaxoutImpl*>(act.get())) {
      maxout(name, *m, list);
    } else {
      unsupported(name, unit, "activation " + act->name() + " has no deploy form yet");
    }
  }

  bool pooling(const std::string& name, torch::nn::Module& m, YAML::Node& list);
  bool residual(const std::string& name, torch::nn::Module& m, YAML::Node& list);
  bool transformer(const std::string& name, torch::nn::Module& m, YAML::Node& list);
  YAML::Node attention(const std::string& name, layers::QAttentionImpl& a, const layers::ShiftedWindows& windows);
  void patch_embed(const std::string& name, layers::PatchEmbedImpl& p, YAML::Node& list);
};

bool Exporter::pooling(const std::string& name, torch::nn::Module& m, YAML::Node& list) {
  if (auto* p = dynamic_cast<torch::nn::MaxPool2dImpl*>(&m)) {
    const auto& o = p->options;
    if (pair(o.dilation()) != std::vector<int64_t>{1, 1}) unsupported(name, m, "a dilated max pool");
    auto node = named("max_pool2d", "");
    node["kernel"] = list_of(pair(o.kernel_size()));
    node["stride"] = list_of(pair(o.stride()));
    node["padding"] = list_of(pair(o.padding()));
    node["ceil_mode"] = o.ceil_mode();
    list.push_back(node);
  } else if (auto* a = dynamic_cast<torch::nn::AvgPool2dImpl*>(&m)) {
    const auto& o = a->options;
    if (o.divisor_override()) unsupported(name, m, "divisor_override");
    auto node = named("avg_pool2d", "");
    node["kernel"] = list_of(pair(o.kernel_size()));
    node["stride"] = list_of(pair(o.stride()));
    node["padding"] = list_of(pair(o.padding()));
    node["ceil_mode"] = o.ceil_mode();
    node["count_include_pad"] = o.count_include_pad();
    list.push_back(node);
  } else if (auto* g = dynamic_cast<torch::nn::AdaptiveAvgPool2dImpl*>(&m)) {
    const auto& size = *g->options.output_size();
    if (size[0] != 1 || size[1] != 1) unsupported(name, m, "adaptive average pooling to other than 1x1");
    list.push_back(named("global_avg_pool", ""));
  } else if (auto* f = dynamic_cast<torch::nn::FlattenImpl*>(&m)) {
    if (f->options.start_dim() != 1 || f->options.end_dim() != -1) unsupported(name, m, "flatten other than dims 1..-1");
    list.push_back(named("flatten", ""));
  } else if (dynamic_cast<torch::nn::ReLUImpl*>(&m)) {
    list.push_back(named("relu", ""));
  } else if (auto* h = dynamic_cast<torch::nn::HardtanhImpl*>(&m)) {
    auto node = named("hardtanh", "");
    node["min"] = h->options.min_val();
    node["max"] = h->options.max_val();
    list.push_back(node);
  } else {
    return false;
  }
  return true;
}

bool Exporter::residual(const std::string& name, torch::nn::Module& m, YAML::Node& list) {
  YAML::Node body(YAML::NodeType::Sequence), shortcut(YAML::NodeType::Sequence), after(YAML::NodeType::Sequence);
  torch::nn::Sequential downsample{nullptr};
  if (auto* u = dynamic_cast<layers::BinaryResidualUnitImpl*>(&m)) {
    if (!u->downsample && (u->options.stride() != 1 || u->options.in_channels() != u->options.out_channels())) {
      unsupported(name, m, "the " + layers::to_string(u->options.shortcut()) + " shortcut has no deploy form yet");
    }
    conv(join(name, "conv"), *u->conv, body);
    batch_norm(join(name, "bn"), *u->bn, body);
    unit_activation(join(name, "activation"), m, u->activation.is_empty() ? nullptr : u->activation.ptr(), after);
    downsample = u->downsample;
  } else if (auto* b = dynamic_cast<layers::BasicBlockImpl*>(&m)) {
    conv(join(name, "conv1"), *b->conv1, body);
    batch_norm(join(name, "bn1"), *b->bn1, body);
    body.push_back(named("relu", ""));
    conv(join(name, "conv2"), *b->conv2, body);
    batch_norm(join(name, "bn2"), *b->bn2, body);
    after.push_back(named("relu", ""));
    downsample = b->downsample;
  } else {
    return false;
  }
  if (downsample) add(join(name, "downsample"), *downsample, shortcut);
  auto node = named("residual", name);
  node.SetStyle(YAML::EmitterStyle::Block);
  node["body"] = body;
  node["shortcut"] = shortcut;
  node["after"] = after;
  list.push_back(node);
  return true;
}

// QAttention: the `attention` op with its linears and quantizers as parts; on a block's (shifted)
// windows, their geometry and the relative position bias table.
YAML::Node Exporter::attention(const std::string& name, layers::QAttentionImpl& a, const layers::ShiftedWindows& windows) {
  auto node = named("attention", name);
  node.SetStyle(YAML::EmitterStyle::Block);
  node["heads"] = a.options.heads();
  if (windows.window > 0) {
    node["window"] = windows.window;
    node["side"] = windows.side;
    node["shift"] = windows.shift;
    floats(name + ".relative_position_bias_table", a.relative_position_bias_table);
  }
  node["qkv"] = linear(join(name, "qkv"), *a.qkv);
  node["proj"] = linear(join(name, "proj"), *a.proj);
  if (a.options.irm()) {
    node["norm_q"] = layer_norm(join(name, "norm_q"), *a.norm_q);
    node["norm_k"] = layer_norm(join(name, "norm_k"), *a.norm_k);
  }
  for (const auto& [key, q] : {std::pair{"q_act", a.q_act.get()}, std::pair{"k_act", a.k_act.get()},
                               std::pair{"v_act", a.v_act.get()}, std::pair{"attn_act", a.attn_act.get()}}) {
    activation(name, a, key, join(name, key), q, node);
  }
  return node;
}

// PatchEmbed: the patch convolution, then `tokens` (with the class token(s): ViT, DeiT) or `tokens`
// and the norm (Swin).
void Exporter::patch_embed(const std::string& name, layers::PatchEmbedImpl& p, YAML::Node& list) {
  if (p.options.norm() && p.options.class_token()) unsupported(name, p, "a patch norm before class tokens");
  conv(join(name, "proj"), *p.proj, list);
  if (p.options.class_token()) {
    floats(name + ".cls_token", p.cls_token);
    if (p.options.distilled()) floats(name + ".dist_token", p.dist_token);
    floats(name + ".pos_embed", p.pos_embed);
  }
  list.push_back(named("tokens", name));
  if (p.options.norm()) list.push_back(layer_norm(join(name, "norm"), *p.norm));
}

// A residual branch x + body(x) (a transformer block's halves: drop_path is the identity in eval).
YAML::Node branch(const std::string& name, YAML::Node body) {
  auto node = named("residual", name);
  node.SetStyle(YAML::EmitterStyle::Block);
  node["body"] = body;
  node["shortcut"] = YAML::Node(YAML::NodeType::Sequence);
  node["after"] = YAML::Node(YAML::NodeType::Sequence);
  return node;
}

bool Exporter::transformer(const std::string& name, torch::nn::Module& m, YAML::Node& list) {
  if (auto* p = dynamic_cast<layers::PatchEmbedImpl*>(&m)) {
    patch_embed(name, *p, list);
  } else if (auto* b = dynamic_cast<layers::TransformerBlockImpl*>(&m)) {
    YAML::Node attend(YAML::NodeType::Sequence), mlp(YAML::NodeType::Sequence);
    attend.push_back(layer_norm(join(name, "norm1"), *b->norm1));
    attend.push_back(attention(join(name, "attn"), *b->attn, b->options.windows()));
    mlp.push_back(layer_norm(join(name, "norm2"), *b->norm2));
    add(join(name, "mlp"), *b->mlp, mlp);
    list.push_back(branch(join(name, "attn"), attend));
    list.push_back(branch(join(name, "mlp"), mlp));
  } else if (auto* mlp = dynamic_cast<layers::QMlpImpl*>(&m)) {
    list.push_back(linear(join(name, "fc1"), *mlp->fc1));
    auto gelu = named("gelu", "");
    gelu["clip"] = mlp->options.gelu_clip();
    list.push_back(gelu);
    list.push_back(linear(join(name, "fc2"), *mlp->fc2));
  } else if (auto* h = dynamic_cast<layers::VitHeadsImpl*>(&m)) {
    auto node = named("vit_heads", name);
    node.SetStyle(YAML::EmitterStyle::Block);
    node["head"] = linear(join(name, "head"), *h->head);
    if (h->options.distilled()) node["head_dist"] = linear(join(name, "head_dist"), *h->head_dist);
    list.push_back(node);
  } else if (auto* merge = dynamic_cast<layers::PatchMergingImpl*>(&m)) {
    auto node = named("patch_merge", name);
    node["side"] = merge->options.side();
    list.push_back(node);
    list.push_back(layer_norm(join(name, "norm"), *merge->norm));
    list.push_back(linear(join(name, "reduction"), *merge->reduction));
  } else if (auto* head = dynamic_cast<layers::ClassifierHeadImpl*>(&m)) {
    list.push_back(named("mean_tokens", name));
    list.push_back(linear(join(name, "fc"), *head->fc));
  } else {
    return false;
  }
  return true;
}

void Exporter::add(const std::string& name, torch::nn::Module& m, YAML::Node& list) {
  if (dynamic_cast<torch::nn::SequentialImpl*>(&m)) {
    for (const auto& child : m.named_children()) add(join(name, child.key()), *child.value(), list);
  } else if (auto* c = dynamic_cast<layers::QConv2dImpl*>(&m)) {
    conv(name, *c, list);
  } else if (auto* tc = dynamic_cast<torch::nn::Conv2dImpl*>(&m)) {
    if (!std::holds_alternative<torch::enumtype::kZeros>(tc->options.padding_mode())) {
      unsupported(name, m, "padding modes other than zeros");
    }
    conv(name, *tc, tc->options, tc->weight, tc->bias, nullptr, nullptr, list);
  } else if (auto* l = dynamic_cast<layers::QLinearImpl*>(&m)) {
    list.push_back(linear(name, *l));
  } else if (auto* tl = dynamic_cast<torch::nn::LinearImpl*>(&m)) {
    list.push_back(linear(name, *tl, tl->weight, tl->bias, nullptr, nullptr));
  } else if (auto* ln = dynamic_cast<torch::nn::LayerNormImpl*>(&m)) {
    list.push_back(layer_norm(name, *ln));
  } else if (auto* bn = dynamic_cast<layers::BatchNormImpl*>(&m)) {
    batch_norm(name, *bn, list);
  } else if (auto* bn2 = dynamic_cast<torch::nn::BatchNorm2dImpl*>(&m)) {
    batch_norm(name, *bn2, list);
  } else if (auto* bn1 = dynamic_cast<torch::nn::BatchNorm1dImpl*>(&m)) {
    batch_norm(name, *bn1, list);
  } else if (auto* a = dynamic_cast<layers::RPReLUImpl*>(&m)) {
    rprelu(name, *a, list);
  } else if (auto* mo = dynamic_cast<layers::MaxoutImpl*>(&m)) {
    maxout(name, *mo, list);
  } else if (!pooling(name, m, list) && !residual(name, m, list) && !transformer(name, m, list)) {
    unsupported(name, m, "no deploy layer for this module yet");
  }
}

}  // namespace deploy_export

std::vector<LbmRecord> export_network(torch::nn::Module& network, const std::string& model_name,
                                      const ModelInput& input) {
  namespace d = deploy_export;
  torch::NoGradGuard no_grad;
  const bool was_training = network.is_training();
  network.eval();
  d::Exporter exporter;
  YAML::Node layers;
  try {
    exporter.add("", network, layers);
  } catch (...) {
    network.train(was_training);
    throw;
  }
  network.train(was_training);
  YAML::Node root;
  root["format"] = kDescriptionFormat;
  root["version"] = 1;
  root["model"] = model_name;
  YAML::Node in;
  if (input.features > 0) {
    in["features"] = input.features;
  } else {
    in["channels"] = input.channels;
    in["height"] = input.height;
    in["width"] = input.width;
  }
  in["pipeline"] = input.pipeline;
  in["interpolation"] = input.interpolation;
  in["crop_pct"] = input.crop_pct;
  root["input"] = d::flow(in);
  root["layers"] = layers;
  YAML::Emitter out;
  out << root;
  const std::string text = out.c_str();
  auto records = std::move(exporter.records);
  records.insert(records.begin(), LbmRecord{kDescriptionRecord, LbmKind::Text, {static_cast<int64_t>(text.size())}, {},
                                            std::vector<uint8_t>(text.begin(), text.end())});
  return records;
}

Model freeze(torch::nn::Module& network, const std::string& model_name, const ModelInput& input) {
  return Model::from_records(export_network(network, model_name, input), model_name + " (frozen)");
}

int64_t write_lbm(const std::string& path, const std::vector<LbmRecord>& records) {
  const auto bytes = serialize_lbm(records);
  util::replace_file(path, std::string(bytes.begin(), bytes.end()));
  return static_cast<int64_t>(bytes.size());
}

PackedSizes packed_sizes(const std::vector<LbmRecord>& records) {
  PackedSizes s;
  for (const auto& r : records) {
    const bool planes = r.kind == LbmKind::Binary || r.kind == LbmKind::Ternary;
    if (!planes && r.kind != LbmKind::Codes) continue;
    int64_t numel = 1;
    for (const auto d : r.dims) numel *= d;
    const auto stored = static_cast<int64_t>(r.payload.size() + 4 * (r.scales.size() + r.offsets.size()));
    (planes ? s.packed : s.codes) += stored;
    (planes ? s.float32 : s.codes_float32) += 4 * numel;
  }
  return s;
}

}  // namespace lowbit::deploy
