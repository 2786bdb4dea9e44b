#pragma once
// A deployed network: a .lbm file (docs/export.md) loaded and run on the bit kernels. Binary
// convolutions and linear layers with sign inputs run as XNOR-popcount GEMMs on their packed
// weights; the real-valued layers (stem, shortcuts, classifier) in float32 through ATen.
//
//   auto model = lowbit::deploy::Model::load("reactnet.lbm");
//   at::Tensor logits = model.forward(images);            // float [N, C, H, W], normalised
//   at::Tensor one = model.prepare_image("cat.jpg");      // the input pipeline the recipe evaluated with
//
// Outputs equal the training graph's eval-mode outputs up to float rounding (the packed integer
// sums are exact; see layers.h for sign(0)). Errors (a truncated, corrupted or inconsistent file,
// a description naming a missing record or an unknown op) are LbmErrors naming the file and the
// layer; nothing is half-built.

#include <lowbit/csrc/deploy/layers.h>

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace lowbit::deploy {

// What the network takes, and how `lowbit infer` makes it from an image file.
struct ModelInput {
  int64_t channels = 3, height = 224, width = 224;
  // > 0: the network takes features [N, F] or tokens [B, N, F] with F = `features` (a frozen linear
  // layer, a classifier head) instead of images; channels, height and width are then unused.
  int64_t features = 0;
  // "imagenet": JPEG -> Resize(floor(size / crop_pct)) of the shorter side -> CenterCrop -> ImageNet
  // normalisation (data/imagenet_pipelines.h eval_pipeline); "none": tensors only (forward()).
  std::string pipeline = "none";
  std::string interpolation = "bilinear";
  double crop_pct = 0.875;
};

// The name of the description record and the description's `format` value.
constexpr const char* kDescriptionRecord = "description";
constexpr const char* kDescriptionFormat = "lowbit-deploy";

class Model {
 public:
  static Model load(const std::string& path);
  static Model parse(const std::vector<uint8_t>& bytes, const std::string& source);
  // From records already in memory (export_network's: deploy::freeze), `source` naming them in errors.
  static Model from_records(std::vector<LbmRecord> records, const std::string& source);

  // images float [N, C, H, W] (any memory format) -> the last layer's output (logits [N, classes]);
  // for a model on features (ModelInput::features), features [N, F] or tokens [B, N, F].
  at::Tensor forward(const at::Tensor& input) const;
  // One image file as the model's input pipeline makes it: float [C, H, W]; throws LbmError when
  // the model has no image pipeline.
  at::Tensor prepare_image(const std::string& path) const;

  const ModelInput& input() const { return input_; }
  // The model's name as exported (the recipe's model.name) and the description's text.
  const std::string& name() const { return name_; }
  const std::string& description() const { return description_; }

 private:
  Model() = default;
  std::string name_, description_, source_;
  ModelInput input_;
  std::shared_ptr<const Layers> layers_;
  bool float_convs_as_trained_ = false;  // Records::float_convs_as_trained: inputs stay NCHW
};

}  // namespace lowbit::deploy
