#include <lowbit/csrc/deploy/export.h>

#include <lowbit/csrc/kernels/binary_gemm.h>
#include <lowbit/csrc/util/files.h>
#include <lowbit/modules/layers/basic_block.h>
#include <lowbit/modules/layers/batch_norm.h>
#include <lowbit/modules/layers/binary_residual_unit.h>
#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/layers/rprelu.h>
#include <lowbit/modules/quant/identity.h>
#include <lowbit/modules/quant/rsign.h>

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
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

// codes int8 [rows, ...] with values in {-1, 0, +1} as a record of `dims`: binary (no zero) or ternary.
LbmRecord packed_record(const std::string& name, const torch::Tensor& codes, const torch::Tensor& scales,
                        std::vector<int64_t> dims) {
  const auto rows = codes.reshape({codes.size(0), -1}).to(torch::kCPU, torch::kFloat).contiguous();
  const bool ternary = (rows == 0).any().item<bool>();
  const auto packed =
      ternary ? kernels::pack_ternary_bits(rows).transpose(0, 1).contiguous() : kernels::pack_sign_bits(rows);
  const auto s = scales.to(torch::kCPU, torch::kFloat).contiguous();
  LbmRecord r{name, ternary ? LbmKind::Ternary : LbmKind::Binary, std::move(dims),
              std::vector<float>(s.const_data_ptr<float>(), s.const_data_ptr<float>() + s.numel()),
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

  // The weight and input of a convolution or linear layer: `node`'s input field and the records.
  // wq / iq null: full precision (torch::nn::Conv2d / Linear).
  void quantized(const std::string& name, torch::nn::Module& layer, const torch::Tensor& weight, const torch::Tensor& bias,
                 quant::QuantizerImpl* wq, quant::QuantizerImpl* iq, YAML::Node& node) {
    if (!iq || dynamic_cast<quant::IdentityImpl*>(iq)) {
      node["input"] = "float";
    } else if (iq->outputs_signs()) {
      node["input"] = "sign";
      if (auto* rsign = dynamic_cast<quant::RSignImpl*>(iq)) floats(name + ".input_shift", rsign->bias.flatten());
    } else {
      unsupported(name, layer, "input quantizer " + iq->name() + " has no deploy form (identity, sign and rsign do)");
    }
    if (!wq || dynamic_cast<quant::IdentityImpl*>(wq)) {
      floats(name + ".weight", weight);
    } else {
      const auto exported = wq->export_weight(weight);
      if (!exported) unsupported(name, layer, "weight quantizer " + wq->name() + " exports no binary or ternary codes");
      auto dims = weight.sizes().vec();
      auto codes = exported->codes;
      if (weight.dim() == 4) {  // stored [C_out, kh, kw, C_in]: the packed kernels' tap order
        codes = codes.permute({0, 2, 3, 1});
        dims = codes.sizes().vec();
      }
      bits(name + ".weight", codes, exported->scales, dims);
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

  void linear(const std::string& name, torch::nn::Module& l, const torch::Tensor& weight, const torch::Tensor& bias,
              quant::QuantizerImpl* wq, quant::QuantizerImpl* iq, YAML::Node& list) {
    YAML::Node node;
    node["op"] = "linear";
    node["name"] = name;
    quantized(name, l, weight, bias, wq, iq, node);
    list.push_back(flow(node));
  }

  // A batch norm in eval mode as ATen's CPU kernel applies it: x scale + shift, scale = weight /
  // sqrt(running_var + eps), shift = bias - running_mean scale (float).
  // Both layers::BatchNorm and torch::nn::BatchNorm1d / 2d.
  template <typename BatchNorm>
  void batch_norm(const std::string& name, BatchNorm& bn, YAML::Node& list) {
    if (!bn.running_mean.defined()) unsupported(name, bn, "a batch norm without running statistics");
    torch::NoGradGuard no_grad;
    const auto invstd = 1 / torch::sqrt(bn.running_var.to(torch::kFloat) + static_cast<float>(bn.options.eps()));
    const auto scale = bn.weight.defined() ? invstd * bn.weight.to(torch::kFloat) : invstd;
    const auto shift = (bn.bias.defined() ? bn.bias.to(torch::kFloat) : torch::zeros_like(scale)) -
                       bn.running_mean.to(torch::kFloat) * scale;
    floats(name + ".scale", scale);
    floats(name + ".shift", shift);
    list.push_back(named("affine", name));
  }

  void rprelu(const std::string& name, layers::RPReLUImpl& a, YAML::Node& list) {
    floats(name + ".gamma", a.gamma.flatten());
    floats(name + ".slope", a.beta.flatten());
    floats(name + ".offset", a.zeta.flatten());
    list.push_back(named("rprelu", name));
  }

  static YAML::Node named(const std::string& op, const std::string& name) {
    YAML::Node node;
    node["op"] = op;
    if (!name.empty()) node["name"] = name;
    return flow(node);
  }

  bool pooling(const std::string& name, torch::nn::Module& m, YAML::Node& list);
  bool residual(const std::string& name, torch::nn::Module& m, YAML::Node& list);
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
    if (u->options.shortcut() == layers::Shortcut::ZeroPad && !u->downsample &&
        (u->options.stride() != 1 || u->options.in_channels() != u->options.out_channels())) {
      unsupported(name, m, "the zero_pad shortcut has no deploy form yet");
    }
    conv(join(name, "conv"), *u->conv, body);
    batch_norm(join(name, "bn"), *u->bn, body);
    if (!u->activation.is_empty()) {
      auto* act = dynamic_cast<layers::RPReLUImpl*>(u->activation.ptr().get());
      if (!act) unsupported(name, m, "activation " + layers::to_string(u->options.activation()) + " has no deploy form yet");
      rprelu(join(name, "activation"), *act, after);
    }
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
    linear(name, *l, l->weight, l->bias, l->weight_quantizer.get(), l->input_quantizer.get(), list);
  } else if (auto* tl = dynamic_cast<torch::nn::LinearImpl*>(&m)) {
    linear(name, *tl, tl->weight, tl->bias, nullptr, nullptr, list);
  } else if (auto* bn = dynamic_cast<layers::BatchNormImpl*>(&m)) {
    batch_norm(name, *bn, list);
  } else if (auto* bn2 = dynamic_cast<torch::nn::BatchNorm2dImpl*>(&m)) {
    batch_norm(name, *bn2, list);
  } else if (auto* bn1 = dynamic_cast<torch::nn::BatchNorm1dImpl*>(&m)) {
    batch_norm(name, *bn1, list);
  } else if (auto* a = dynamic_cast<layers::RPReLUImpl*>(&m)) {
    rprelu(name, *a, list);
  } else if (!pooling(name, m, list) && !residual(name, m, list)) {
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
  in["channels"] = input.channels;
  in["height"] = input.height;
  in["width"] = input.width;
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

int64_t write_lbm(const std::string& path, const std::vector<LbmRecord>& records) {
  const auto bytes = serialize_lbm(records);
  util::replace_file(path, std::string(bytes.begin(), bytes.end()));
  return static_cast<int64_t>(bytes.size());
}

PackedSizes packed_weight_sizes(torch::nn::Module& network) {
  torch::NoGradGuard no_grad;
  std::vector<LbmRecord> records;
  for (const auto& item : network.named_modules()) {
    torch::Tensor weight;
    quant::QuantizerImpl* quantizer = nullptr;
    if (auto* c = dynamic_cast<layers::QConv2dImpl*>(item.value().get())) {
      weight = c->weight;
      quantizer = c->weight_quantizer.get();
    } else if (auto* l = dynamic_cast<layers::QLinearImpl*>(item.value().get())) {
      weight = l->weight;
      quantizer = l->weight_quantizer.get();
    }
    if (!quantizer) continue;
    const auto exported = quantizer->export_weight(weight);
    if (exported) records.push_back(deploy_export::packed_record(item.key(), exported->codes, exported->scales, weight.sizes().vec()));
  }
  return packed_sizes(records);
}

PackedSizes packed_sizes(const std::vector<LbmRecord>& records) {
  PackedSizes s;
  for (const auto& r : records) {
    if (r.kind != LbmKind::Binary && r.kind != LbmKind::Ternary) continue;
    int64_t numel = 1;
    for (const auto d : r.dims) numel *= d;
    s.packed += static_cast<int64_t>(r.payload.size() + 4 * r.scales.size());
    s.float32 += 4 * numel;
  }
  return s;
}

}  // namespace lowbit::deploy
