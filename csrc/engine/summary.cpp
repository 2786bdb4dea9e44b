#include <lowbit/csrc/engine/summary.h>

#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/layers/qlinear.h>

#include <torch/torch.h>

#include <iomanip>

namespace lowbit::engine {
namespace {

int64_t numel(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

// Fills bits, MACs and memory of a layer with a weight of `weight_numel` entries.
void account(LayerSummary& s, int64_t weight_numel, int64_t macs, int64_t weight_bits, int64_t input_bits) {
  s.weight_bits = weight_bits;
  s.input_bits = input_bits;
  (weight_bits == 1 && input_bits == 1 ? s.binary_macs : s.other_macs) = macs;
  s.packed_bytes = (weight_numel * weight_bits + 7) / 8 + (s.params - weight_numel) * 4;
}

}  // namespace

ModelSummary summarize(torch::nn::Sequential& model, const torch::Tensor& example) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  ModelSummary summary;
  torch::Tensor x = example;
  size_t index = 0;
  for (auto& child : *model) {
    const auto& module = *child.ptr();
    const torch::Tensor y = child.forward(x);
    LayerSummary s;
    s.name = std::to_string(index++);
    s.kind = module.name();
    for (const std::string prefix : {"torch::nn::", "lowbit::layers::"}) {
      if (s.kind.rfind(prefix, 0) == 0) s.kind = s.kind.substr(prefix.size());
    }
    if (s.kind.size() > 4 && s.kind.compare(s.kind.size() - 4, 4, "Impl") == 0) s.kind.resize(s.kind.size() - 4);
    s.params = numel(module);
    s.fp32_bytes = s.packed_bytes = s.params * 4;
    if (const auto* conv = dynamic_cast<const layers::QConv2dImpl*>(&module)) {
      const auto macs = y.numel() * conv->weight[0].numel();
      account(s, conv->weight.numel(), macs, conv->weight_quantizer->bits(), conv->input_quantizer->bits());
    } else if (const auto* linear = dynamic_cast<const layers::QLinearImpl*>(&module)) {
      account(s, linear->weight.numel(), y.numel() * linear->weight.size(1), linear->weight_quantizer->bits(),
              linear->input_quantizer->bits());
    } else if (const auto* c = dynamic_cast<const torch::nn::Conv2dImpl*>(&module)) {
      account(s, c->weight.numel(), y.numel() * c->weight[0].numel(), 32, 32);
    } else if (const auto* l = dynamic_cast<const torch::nn::LinearImpl*>(&module)) {
      account(s, l->weight.numel(), y.numel() * l->weight.size(1), 32, 32);
    }
    auto& t = summary.total;
    t.params += s.params;
    t.binary_macs += s.binary_macs;
    t.other_macs += s.other_macs;
    t.fp32_bytes += s.fp32_bytes;
    t.packed_bytes += s.packed_bytes;
    summary.layers.push_back(s);
    x = y;
  }
  summary.total.name = "total";
  model->train(was_training);
  return summary;
}

void print_summary(const ModelSummary& summary, std::ostream& out) {
  const auto row = [&](const LayerSummary& s, bool bits) {
    out << std::left << std::setw(6) << s.name << std::setw(26) << s.kind.substr(0, 25) << std::right;
    if (bits) {
      out << std::setw(4) << s.weight_bits << std::setw(4) << s.input_bits;
    } else {
      out << std::setw(8) << "";
    }
    out << std::setw(11) << s.params << std::setw(14) << s.binary_macs << std::setw(14) << s.other_macs
        << std::setw(12) << std::fixed << std::setprecision(1) << s.fp32_bytes / 1024.0 << std::setw(12)
        << s.packed_bytes / 1024.0 << "\n";
  };
  out << std::left << std::setw(6) << "layer" << std::setw(26) << "kind" << std::right << std::setw(4) << "W"
      << std::setw(4) << "A" << std::setw(11) << "params" << std::setw(14) << "binary MACs" << std::setw(14)
      << "other MACs" << std::setw(12) << "fp32 KiB" << std::setw(12) << "packed KiB" << "\n";
  for (const auto& s : summary.layers) row(s, s.binary_macs + s.other_macs > 0);
  row(summary.total, false);
  out << "OPs (BOPs/64 + FLOPs) per image: " << std::scientific << std::setprecision(3) << summary.ops()
      << std::defaultfloat << "; weights " << std::fixed << std::setprecision(1)
      << static_cast<double>(summary.total.fp32_bytes) / std::max<int64_t>(1, summary.total.packed_bytes)
      << "x smaller packed\n" << std::defaultfloat;
}

}  // namespace lowbit::engine
