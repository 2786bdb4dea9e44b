#include <lowbit/modules/detection/detr.h>

#include <lowbit/modules/detection/postprocess.h>

#include <torch/torch.h>

namespace lowbit::detection {
namespace {

const torch::Tensor& entry(const NamedTensors& tensors, const std::string& name, const std::string& what) {
  const auto it = tensors.find(name);
  TORCH_CHECK(it != tensors.end() && it->second.defined(), "DETR: ", what, " has no '", name, "'");
  return it->second;
}

}  // namespace

DETRImpl::DETRImpl(DETROptions options_)
    : options(std::move(options_)),
      criterion_(SetCriterionOptions(options.criterion()).classes(options.classes())),
      labels_(options.label_space(), options.classes()) {
  const auto& o = options;
  TORCH_CHECK_VALUE(o.classes() >= 1 && o.queries() >= 1, "DETR: classes and queries must be positive, got ",
                    o.classes(), ", ", o.queries());
  const int64_t d = o.transformer().d_model();
  transformer = register_module("transformer", Transformer(o.transformer()));
  class_embed = register_module("class_embed", torch::nn::Linear(d, o.classes() + 1));
  bbox_embed = register_module("bbox_embed", MLP(MLPOptions(d, d, 4, 3)));
  query_embed = register_module("query_embed", torch::nn::Embedding(o.queries(), d));
  input_proj = register_module("input_proj",
                               torch::nn::Conv2d(torch::nn::Conv2dOptions(o.backbone().out_channels(), d, 1)));
  backbone = register_module("backbone", Joiner(o.backbone(), d));
}

NamedTensors DETRImpl::forward(const torch::Tensor& images, const torch::Tensor& mask) {
  const auto features = backbone(images, mask);
  const auto hs = transformer(input_proj(features.map), features.mask, query_embed->weight, features.pos);
  const auto logits = class_embed(hs);
  const auto boxes = bbox_embed(hs).sigmoid();
  const int64_t last = hs.size(0) - 1;
  return {{"pred_logits", logits[last]},
          {"pred_boxes", boxes[last]},
          {"aux_logits", logits.narrow(0, 0, last)},
          {"aux_boxes", boxes.narrow(0, 0, last)}};
}

MatchTargets DETRImpl::match_targets(const std::vector<NamedTensors>& targets) const {
  MatchTargets m;
  std::vector<torch::Tensor> labels, boxes;
  for (size_t i = 0; i < targets.size(); ++i) {
    const auto what = "targets[" + std::to_string(i) + "]";
    const auto& l = entry(targets[i], "labels", what);
    const auto& b = entry(targets[i], "boxes", what);
    TORCH_CHECK(l.dim() == 1 && l.scalar_type() == torch::kLong && b.dim() == 2 && b.size(1) == 4 &&
                    b.size(0) == l.size(0),
                "DETR: ", what, ": expected labels int64 [G] and boxes [G, 4], got ", l.scalar_type(), " ", l.sizes(),
                " and ", b.sizes());
    labels.push_back(l);
    boxes.push_back(b);
    m.sizes.push_back(l.size(0));
  }
  const auto all = torch::cat(labels);
  const int64_t limit = labels_.label_classes().defined() ? labels_.label_classes().numel() : options.classes();
  TORCH_CHECK(all.numel() == 0 || (all.min().item<int64_t>() >= 0 && all.max().item<int64_t>() < limit),
              "DETR: target labels must lie in [0, ", limit, "), got [", all.min().item<int64_t>(), ", ",
              all.max().item<int64_t>(), "]");
  m.classes = labels_.classes_of(all);
  m.boxes = torch::cat(boxes);
  return m;
}

NamedLosses DETRImpl::loss(const NamedTensors& outputs, const std::vector<NamedTensors>& targets) {
  const auto& logits = entry(outputs, "pred_logits", "outputs");
  TORCH_CHECK(static_cast<int64_t>(targets.size()) == logits.size(0), "DETR: ", targets.size(),
              " targets for a batch of ", logits.size(0));
  const bool aux = outputs.count("aux_logits") > 0 || outputs.count("aux_boxes") > 0;
  return criterion_(logits, entry(outputs, "pred_boxes", "outputs"),
                    aux ? entry(outputs, "aux_logits", "outputs") : torch::Tensor(),
                    aux ? entry(outputs, "aux_boxes", "outputs") : torch::Tensor(), match_targets(targets));
}

NamedTensors DETRImpl::postprocess(const NamedTensors& outputs, const torch::Tensor& orig_sizes) {
  return detection::postprocess(entry(outputs, "pred_logits", "outputs"), entry(outputs, "pred_boxes", "outputs"),
                                orig_sizes, labels_.label_classes());
}

void DETRImpl::pretty_print(std::ostream& stream) const {
  const auto& t = options.transformer();
  stream << "lowbit::detection::DETR(resnet" << options.backbone().depth() << ", d_model=" << t.d_model()
         << ", heads=" << t.heads() << ", layers=" << t.encoder_layers() << "+" << t.decoder_layers()
         << ", queries=" << options.queries() << ", classes=" << options.classes() << ")";
}

}  // namespace lowbit::detection
