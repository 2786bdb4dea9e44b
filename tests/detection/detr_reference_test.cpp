// DETR against the official code: the numbers in tests/detection/data/detr_reference.txt were made
// by data/detr_reference.py from facebookresearch/detr (a resnet18 DETR, hidden 32, 4 heads, 1 + 2
// layers, 6 queries, 5 classes, every tensor set from its name by deterministic_value, double
// precision, eval mode). The same model here must give the same outputs, weighted losses,
// gradients and post-processed detections.
#include <lowbit/modules/detection/registry.h>

#include "detection/tiny_detr.h"
#include "support/reference_numbers.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <map>

namespace {

namespace detection = lowbit::detection;

// data/detr_reference.py's deterministic_value, line by line.
torch::Tensor deterministic_value(const std::string& name, c10::IntArrayRef shape) {
  int64_t seed = 0;
  for (size_t k = 0; k < name.size(); ++k) seed += static_cast<int64_t>(k + 1) * static_cast<unsigned char>(name[k]);
  seed %= 997;
  const int64_t n = c10::multiply_integers(shape);
  const auto u = torch::remainder(torch::arange(n, torch::kLong) * int64_t{2654435761} + seed * 97531, int64_t{1} << 32)
                     .to(torch::kDouble)
                     .reshape(shape) /
                 4294967296.0;
  const auto s = 2 * u - 1;
  const auto ends_with = [&](const std::string& tail) {
    return name.size() >= tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
  };
  if (ends_with("running_var")) return 1 + 0.5 * u;
  if (shape.size() == 1) return ends_with(".weight") ? 1 + 0.2 * s : 0.1 * s;
  if (name == "query_embed.weight") return std::sqrt(3.0) * s;
  return s * std::sqrt(6.0 / static_cast<double>(n / shape[0]));
}

std::map<std::string, torch::Tensor> read_reference() {
  return lowbit::testing::read_reference_numbers("tests/detection/data/detr_reference.txt");
}

std::shared_ptr<detection::Detector> reference_model() {
  auto model = detection::make("detr",
                               lowbit::testing::tiny_detr_params({{"enc_layers", int64_t{1}},
                                                                  {"dec_layers", int64_t{2}},
                                                                  {"queries", int64_t{6}},
                                                                  {"classes", int64_t{5}}}),
                               {});
  model->to(torch::kDouble);
  torch::NoGradGuard no_grad;
  for (auto& p : model->named_parameters()) p.value().copy_(deterministic_value(p.key(), p.value().sizes()));
  for (auto& b : model->named_buffers()) b.value().copy_(deterministic_value(b.key(), b.value().sizes()));
  model->eval();
  return model;
}

// data/detr_reference.py's batch().
lowbit::testing::DetectionBatch reference_batch() {
  lowbit::testing::DetectionBatch b;
  const auto i = torch::arange(2 * 3 * 64 * 96, torch::kDouble).reshape({2, 3, 64, 96});
  const auto y = torch::arange(64, torch::kDouble).view({1, 1, 64, 1});
  const auto x = torch::arange(96, torch::kDouble).view({1, 1, 1, 96});
  const auto c = torch::arange(3, torch::kDouble).view({1, 3, 1, 1});
  const auto n = torch::arange(2, torch::kDouble).view({2, 1, 1, 1});
  b.images = torch::sin(0.37 * i) + 2 * torch::sin(x / 9 + c + n) * torch::cos(y / 7 - c);
  using torch::indexing::Slice;
  b.mask = torch::zeros({2, 64, 96}, torch::kBool);
  b.mask.index_put_({1, Slice(), Slice(64)}, true);
  b.images.index_put_({1, Slice(), Slice(), Slice(64)}, 0);
  b.targets = {{{"labels", torch::tensor({1, 3}, torch::kLong)},
                {"boxes", torch::tensor({{0.3, 0.4, 0.2, 0.3}, {0.7, 0.6, 0.4, 0.5}}, torch::kDouble)}},
               {{"labels", torch::tensor({0}, torch::kLong)},
                {"boxes", torch::tensor({{0.5, 0.5, 0.6, 0.4}}, torch::kDouble)}}};
  return b;
}

void expect_close(const torch::Tensor& ours, const torch::Tensor& official, const std::string& what) {
  ASSERT_EQ(ours.sizes(), official.sizes()) << what;
  EXPECT_TRUE(torch::allclose(ours.to(torch::kDouble), official, 1e-8, 1e-10))
      << what << ": largest difference " << (ours.to(torch::kDouble) - official).abs().max().item<double>();
}

}  // namespace

TEST(DetrReference, OutputsLossesGradientsAndDetectionsMatchTheOfficialCode) {
  const auto reference = read_reference();
  auto model = reference_model();
  const auto batch = reference_batch();
  const auto outputs = model->forward(batch.images, batch.mask);
  for (const auto* name : {"pred_logits", "pred_boxes", "aux_logits", "aux_boxes"}) {
    expect_close(outputs.at(name), reference.at(name), name);
  }
  torch::Tensor total = torch::zeros({}, torch::kDouble);
  for (const auto& [name, value] : model->loss(outputs, batch.targets)) {
    expect_close(value, reference.at(name), name);
    total = total + value;
  }
  total.backward();
  const auto params = model->named_parameters();
  for (const auto& [key, value] : reference) {
    if (key.rfind("grad_sq:", 0) != 0) continue;
    expect_close(params[key.substr(8)].grad().pow(2).sum(), value, key);
  }
  const auto post = model->postprocess(outputs, torch::tensor({{480, 640}, {300, 200}}, torch::kLong));
  expect_close(post.at("scores"), reference.at("post_scores"), "scores");
  expect_close(post.at("labels"), reference.at("post_labels"), "labels");
  expect_close(post.at("boxes"), reference.at("post_boxes"), "boxes");
}
