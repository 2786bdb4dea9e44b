#include <lowbit/csrc/engine/task/detector_model.h>

#include <lowbit/modules/taps/taps.h>

#include <torch/types.h>

namespace lowbit::engine {
namespace {

// meta "mask", else no padding.
torch::Tensor padding_mask(const Batch& batch) {
  const auto it = batch.meta.find("mask");
  if (it != batch.meta.end()) return it->second;
  const auto& images = batch.images;
  return torch::zeros({images.size(0), images.size(2), images.size(3)}, images.options().dtype(torch::kBool));
}

// int64 [B, 2] (height, width): each target's "orig_size", else meta "image_sizes", else the
// padded size.
torch::Tensor original_sizes(const Batch& batch) {
  const auto count = batch.size();
  if (static_cast<int64_t>(batch.targets.size()) == count && count > 0 && batch.targets.front().count("orig_size")) {
    std::vector<torch::Tensor> sizes;
    for (const auto& target : batch.targets) sizes.push_back(target.at("orig_size").reshape({2}));
    return torch::stack(sizes).to(torch::kLong);
  }
  const auto it = batch.meta.find("image_sizes");
  if (it != batch.meta.end()) return it->second.to(torch::kLong);
  return torch::tensor({batch.images.size(2), batch.images.size(3)}, torch::kLong).expand({count, 2});
}

}  // namespace

DetectorModel::DetectorModel(std::shared_ptr<detection::Detector> detector) : detector_(std::move(detector)) {
  TORCH_CHECK(detector_, "DetectorModel: no detector");
  adopt_members(*this, *detector_);
}

Outputs DetectorModel::forward(const Batch& batch) {
  const auto ids = batch.meta.find("category_ids");
  if (ids != batch.meta.end()) detector_->set_category_ids(ids->second);
  auto outputs = detector_->forward(batch.images, padding_mask(batch));
  const auto boxes = outputs.find("pred_boxes");
  if (boxes != outputs.end()) taps::publish(*this, "pred_boxes", boxes->second);
  return outputs;
}

LossDict DetectorModel::loss(const Batch& batch, const Outputs& outputs) {
  TORCH_CHECK(static_cast<int64_t>(batch.targets.size()) == batch.size(),
              "DetectorModel: a detection batch needs one target per image; this one has ", batch.targets.size(),
              " targets for ", batch.size(), " images");
  LossDict losses;
  for (auto& [name, value] : detector_->loss(outputs, batch.targets)) losses.add(name, std::move(value));
  return losses;
}

Outputs DetectorModel::predict(const Batch& batch) {
  return detector_->postprocess(forward(batch), original_sizes(batch).to(batch.images.device()));
}

void DetectorModel::train(bool on) {
  Model::train(on);
  detector_->train(on);
}

}  // namespace lowbit::engine
