#include <lowbit/csrc/engine/summary.h>

#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/quant/quantizer.h>
#include <lowbit/modules/taps/taps.h>

#include <torch/torch.h>

#include <iomanip>
#include <unordered_set>

namespace lowbit::engine {
namespace {

int64_t numel(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

// Parameters held by quantizers at or below `m`, each counted once.
int64_t quantizer_numel(const torch::nn::Module& m) {
  std::unordered_set<const c10::TensorImpl*> seen;
  int64_t n = 0;
  for (const auto& module : m.modules(/*include_self=*/true)) {
    if (dynamic_cast<const quant::QuantizerImpl*>(module.get()) == nullptr) continue;
    for (const auto& p : module->parameters()) {
      if (seen.insert(p.unsafeGetTensorImpl()).second) n += p.numel();
    }
  }
  return n;
}

std::string kind_of(const torch::nn::Module& module) {
  std::string kind = module.name();
  for (const std::string prefix : {"torch::nn::", "lowbit::layers::", "lowbit::detection::"}) {
    if (kind.rfind(prefix, 0) == 0) kind = kind.substr(prefix.size());
  }
  if (kind.size() > 4 && kind.compare(kind.size() - 4, 4, "Impl") == 0) kind.resize(kind.size() - 4);
  return kind;
}

// The row of a layer with a weight (QConv2d, QLinear, Conv2d, Linear) whose output is `y`; nullopt
// for other modules. MACs: output elements times the weight entries each one reads.
std::optional<LayerSummary> weight_layer(const torch::nn::Module& module, const torch::Tensor& y) {
  int64_t weight_numel = 0, macs = 0, weight_bits = 32, input_bits = 32;
  if (const auto* conv = dynamic_cast<const layers::QConv2dImpl*>(&module)) {
    weight_numel = conv->weight.numel();
    macs = y.numel() * conv->weight[0].numel();
    weight_bits = conv->weight_quantizer->bits();
    input_bits = conv->input_quantizer->bits();
  } else if (const auto* linear = dynamic_cast<const layers::QLinearImpl*>(&module)) {
    weight_numel = linear->weight.numel();
    macs = y.numel() * linear->weight.size(1);
    weight_bits = linear->weight_quantizer->bits();
    input_bits = linear->input_quantizer->bits();
  } else if (const auto* c = dynamic_cast<const torch::nn::Conv2dImpl*>(&module)) {
    weight_numel = c->weight.numel();
    macs = y.numel() * c->weight[0].numel();
  } else if (const auto* l = dynamic_cast<const torch::nn::LinearImpl*>(&module)) {
    weight_numel = l->weight.numel();
    macs = y.numel() * l->weight.size(1);
  } else {
    return std::nullopt;
  }
  LayerSummary s;
  s.kind = kind_of(module);
  s.params = numel(module);
  s.weight_bits = weight_bits;
  s.input_bits = input_bits;
  (weight_bits == 1 && input_bits == 1 ? s.binary_macs : s.other_macs) = macs;
  const int64_t quantizer_params = quantizer_numel(module);
  s.quantizer_bytes = quantizer_params * 4;
  s.fp32_bytes = (s.params - quantizer_params) * 4;
  s.packed_bytes = (weight_numel * weight_bits + 7) / 8 + (s.params - weight_numel - quantizer_params) * 4;
  return s;
}

void add(LayerSummary& to, const LayerSummary& s) {
  to.params += s.params;
  to.binary_macs += s.binary_macs;
  to.other_macs += s.other_macs;
  to.fp32_bytes += s.fp32_bytes;
  to.packed_bytes += s.packed_bytes;
  to.quantizer_bytes += s.quantizer_bytes;
}

// The row of `module`, a child named `name` without weights of its own, and one detail row per
// QConv2d / QLinear inside it whose output tap `prefix` + <path inside module> + ".output" is in
// `outputs`: the row sums their MACs and packed memory; its other parameters (norms, biases,
// tokens) count 4 bytes, its quantizers' apart.
LayerSummary composite_row(const std::string& name, const torch::nn::Module& module, const taps::TapRecord& outputs,
                           const std::string& prefix, std::vector<LayerSummary>& details) {
  LayerSummary row;
  row.kind = kind_of(module);
  row.params = numel(module);
  const int64_t quantizer_params = quantizer_numel(module);
  int64_t nested_params = 0, nested_quantizer_bytes = 0;
  for (const auto& item : module.named_modules("", /*include_self=*/false)) {
    // Every call's output (a layer shared by the FPN levels runs once per level: "#k" repeats).
    const auto tap = prefix + item.key() + ".output";
    std::optional<LayerSummary> detail;
    for (int64_t k = 0; outputs.contains(k == 0 ? tap : tap + "#" + std::to_string(k)); ++k) {
      const auto call = weight_layer(*item.value(), outputs.at(k == 0 ? tap : tap + "#" + std::to_string(k)));
      if (!call) break;
      if (!detail) {
        detail = call;
      } else {
        detail->binary_macs += call->binary_macs;
        detail->other_macs += call->other_macs;
      }
    }
    if (!detail) continue;
    detail->name = name + "." + item.key();
    detail->detail = true;
    row.binary_macs += detail->binary_macs;
    row.other_macs += detail->other_macs;
    row.packed_bytes += detail->packed_bytes;
    nested_params += detail->params;
    nested_quantizer_bytes += detail->quantizer_bytes;
    details.push_back(*detail);
  }
  row.quantizer_bytes = quantizer_params * 4;
  row.fp32_bytes = (row.params - quantizer_params) * 4;
  row.packed_bytes += (row.params - nested_params) * 4 - (row.quantizer_bytes - nested_quantizer_bytes);
  row.weight_bits = row.input_bits = 0;  // not one layer's
  row.name = name;
  return row;
}

void append(ModelSummary& summary, const LayerSummary& row, const std::vector<LayerSummary>& details) {
  add(summary.total, row);
  summary.layers.push_back(row);
  summary.layers.insert(summary.layers.end(), details.begin(), details.end());
}

}  // namespace

ModelSummary summarize(torch::nn::Sequential& model, const torch::Tensor& example) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  ModelSummary summary;
  taps::TapRecord outputs;
  torch::Tensor x = example;
  const auto names = model->named_children();
  size_t index = 0;
  for (auto& child : *model) {
    const auto& name = names[index++].key();
    const auto& module = *child.ptr();
    outputs.clear();
    torch::Tensor y;
    {
      taps::TapRecorder recorder(*child.ptr(), outputs, {"(^|\\.)output$"});
      y = child.forward(x);
    }
    std::vector<LayerSummary> details;
    auto own = weight_layer(module, y);
    LayerSummary row = own ? *own : composite_row(name, module, outputs, "", details);
    row.name = name;
    append(summary, row, details);
    x = y;
  }
  summary.total.name = "total";
  model->train(was_training);
  return summary;
}

ModelSummary summarize(torch::nn::Module& model, const std::function<void()>& forward) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  taps::TapRecord outputs;
  {
    taps::TapRecorder recorder(model, outputs, {"(^|\\.)output$"}, /*number_repeats=*/true);
    forward();
  }
  ModelSummary summary;
  for (const auto& child : model.named_children()) {
    std::vector<LayerSummary> details;
    append(summary, composite_row(child.key(), *child.value(), outputs, child.key() + ".", details), details);
  }
  summary.total.name = "total";
  model.train(was_training);
  return summary;
}

void print_summary(const ModelSummary& summary, std::ostream& out) {
  size_t width = 6;
  for (const auto& s : summary.layers) width = std::max(width, s.name.size() + (s.detail ? 4 : 2));
  const auto row = [&](const LayerSummary& s, bool bits) {
    out << std::left << std::setw(static_cast<int>(width)) << (s.detail ? "  " + s.name : s.name) << std::setw(26)
        << s.kind.substr(0, 25) << std::right;
    if (bits) {
      out << std::setw(4) << s.weight_bits << std::setw(4) << s.input_bits;
    } else {
      out << std::setw(8) << "";
    }
    out << std::setw(11) << s.params << std::setw(14) << s.binary_macs << std::setw(14) << s.other_macs
        << std::setw(12) << std::fixed << std::setprecision(1) << s.fp32_bytes / 1024.0 << std::setw(12)
        << s.packed_bytes / 1024.0 << std::setw(12) << s.quantizer_bytes / 1024.0 << "\n";
  };
  out << std::left << std::setw(static_cast<int>(width)) << "layer" << std::setw(26) << "kind" << std::right
      << std::setw(4) << "W" << std::setw(4) << "A" << std::setw(11) << "params" << std::setw(14) << "binary MACs"
      << std::setw(14) << "other MACs" << std::setw(12) << "fp32 KiB" << std::setw(12) << "packed KiB" << std::setw(12) << "quant KiB" << "\n";
  for (const auto& s : summary.layers) row(s, s.weight_bits > 0 && s.binary_macs + s.other_macs > 0);
  row(summary.total, false);
  out << "OPs (BOPs/64 + FLOPs) per image: " << std::scientific << std::setprecision(3) << summary.ops()
      << std::defaultfloat << std::setprecision(4) << "\nmodel " << summary.total.packed_bytes / 1e6
      << " MB packed (fp32 " << summary.total.fp32_bytes / 1e6 << " MB, " << std::fixed << std::setprecision(1)
      << static_cast<double>(summary.total.fp32_bytes) / std::max<int64_t>(1, summary.total.packed_bytes)
      << "x smaller) + " << std::defaultfloat << std::setprecision(4) << summary.total.quantizer_bytes / 1e6
      << " MB quantizer state (MB = 10^6 bytes)\n" << std::defaultfloat << std::setprecision(6);
}

}  // namespace lowbit::engine
