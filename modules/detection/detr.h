#pragma once
// DETR (Carion et al., "End-to-End Object Detection with Transformers", ECCV 2020;
// facebookresearch/detr models/detr.py) as a Detector, and Q-DETR through its quantization plan
// (quantization.h):
//   features, mask, pos = backbone(images, mask)                 (backbone.h)
//   hs = transformer(input_proj(features), mask, query_embed, pos) [L, B, Q, d]   (transformer.h)
//   logits = class_embed(hs) [L, B, Q, K+1],  boxes = sigmoid(bbox_embed(hs)) [L, B, Q, 4]
// outputs: the last layer as pred_logits / pred_boxes, the others as aux_logits / aux_boxes
// (detector.h); loss: SetCriterion (criterion.h); postprocess: PostProcess (postprocess.h).
// Module names are the official ones (transformer, class_embed, bbox_embed, query_embed,
// input_proj, backbone), so a state dict of the official model loads by name: for detr_resnet50
// the keys and shapes are tests/detection/data/detr_r50_keys.txt. The criterion is not a module
// (the official one lives outside the model, its empty_weight buffer is not in the state dict).
// Initialisation: PyTorch's defaults (class_embed, bbox_embed, input_proj: kaiming uniform;
// query_embed N(0, 1)), the backbone's and transformer's own (backbone.h, transformer.h).

#include <lowbit/modules/detection/backbone.h>
#include <lowbit/modules/detection/criterion.h>
#include <lowbit/modules/detection/detector.h>
#include <lowbit/modules/detection/label_space.h>
#include <lowbit/modules/detection/mlp.h>
#include <lowbit/modules/detection/transformer.h>

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace lowbit::detection {

struct DETROptions {
  DETROptions(ResNetBodyOptions backbone, TransformerOptions transformer)
      : backbone_(std::move(backbone)), transformer_(std::move(transformer)) {}
  TORCH_ARG(ResNetBodyOptions, backbone);
  TORCH_ARG(TransformerOptions, transformer);
  TORCH_ARG(int64_t, classes) = 91;  // K, without no-object (official COCO: max category id + 1)
  TORCH_ARG(int64_t, queries) = 100;
  TORCH_ARG(LabelSpace, label_space) = LabelSpace::CategoryId;
  TORCH_ARG(SetCriterionOptions, criterion) = SetCriterionOptions(91);  // its classes are set from `classes`
};

class DETRImpl : public Detector {
 public:
  explicit DETRImpl(DETROptions options);

  NamedTensors forward(const torch::Tensor& images, const torch::Tensor& mask) override;
  NamedLosses loss(const NamedTensors& outputs, const std::vector<NamedTensors>& targets) override;
  NamedTensors postprocess(const NamedTensors& outputs, const torch::Tensor& orig_sizes) override;
  void set_category_ids(const torch::Tensor& category_ids) override { labels_.set_category_ids(category_ids); }
  void pretty_print(std::ostream& stream) const override;

  const DETROptions options;
  Transformer transformer{nullptr};
  torch::nn::Linear class_embed{nullptr};
  MLP bbox_embed{nullptr};
  torch::nn::Embedding query_embed{nullptr};
  torch::nn::Conv2d input_proj{nullptr};
  Joiner backbone{nullptr};

 private:
  MatchTargets match_targets(const std::vector<NamedTensors>& targets) const;
  SetCriterion criterion_;
  LabelMap labels_;
};
TORCH_MODULE(DETR);

}  // namespace lowbit::detection
