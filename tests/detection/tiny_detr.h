#pragma once
// A small DETR for the detection tests (resnet18, hidden 32, 4 heads, 1 + 2 layers, FFN 64,
// 5 queries, 7 classes, contiguous labels) and a batch of 64x64 images with targets.

#include <lowbit/modules/detection/registry.h>

#include <torch/torch.h>

#include <string>
#include <vector>

namespace lowbit::testing {

inline Params tiny_detr_params(const Params& extra = {}) {
  Params params{{"backbone", std::string("resnet18")},
                {"hidden", int64_t{32}},
                {"heads", int64_t{4}},
                {"enc_layers", int64_t{1}},
                {"dec_layers", int64_t{2}},
                {"ffn", int64_t{64}},
                {"queries", int64_t{5}},
                {"classes", int64_t{7}},
                {"label_space", std::string("contiguous")}};
  for (const auto& [key, value] : extra) params[key] = value;
  return params;
}

// Q-DETR's quantizers (spec §2): LSQ weights per output channel with a tensor-wide initial step,
// LSQ+ activations (qvit_act), both at `bits`.
inline models::QuantPolicy lsq_policy(int64_t bits) {
  models::QuantPolicy policy;
  policy.weight = {"lsq", {{"bits", bits}, {"per_channel", true}, {"init_per_channel", false}}};
  policy.input = {"qvit_act", {{"bits", bits}}};
  return policy;
}

struct DetectionBatch {
  torch::Tensor images, mask;
  std::vector<detection::NamedTensors> targets;
};

// `batch` images 64 x 64 without padding; image i has i + 1 boxes with labels i, i + 1, ...
inline DetectionBatch tiny_batch(int64_t batch = 2) {
  DetectionBatch b;
  b.images = torch::randn({batch, 3, 64, 64});
  b.mask = torch::zeros({batch, 64, 64}, torch::kBool);
  for (int64_t i = 0; i < batch; ++i) {
    const auto g = i + 1;
    const auto centers = torch::rand({g, 2}) * 0.5 + 0.25;
    const auto sizes = torch::rand({g, 2}) * 0.3 + 0.1;
    b.targets.push_back({{"boxes", torch::cat({centers, sizes}, 1)}, {"labels", torch::arange(i, i + g, torch::kLong)}});
  }
  return b;
}

}  // namespace lowbit::testing
