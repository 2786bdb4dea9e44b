// TerViT's size check (shared/methods/tervit.md sections 2 and 9): the block linears and patch
// merging reductions of Swin-S hold ~48.7 M weights, which packed at 2 bits (ternary) take
// ~12.2 MB (10^6 bytes). Counted by the engine's summary on QLinear layers of Swin-S's shapes
// (embed dim 96, 192, 384, 768; depths 2, 2, 18, 2; qkv C->3C, proj C->C, fc1 C->4C, fc2 4C->C;
// patch merging 4C->2C after the first three stages), without building Swin.
#include <lowbit/csrc/engine/summary.h>
#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/quant/ternary.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace {

// Holds the layers and runs each once on one token of its own width (the summary finds nested
// layers through their `output` tap); passes its input through.
class SwinLinearsImpl : public torch::nn::Module {
 public:
  void add(int64_t in, int64_t out) {
    const auto name = std::to_string(layers_.size());
    layers_.push_back(register_module(
        name, lowbit::layers::QLinear(lowbit::layers::QLinearOptions(in, out).bias(false).weight_quantizer(
                  lowbit::quant::Ternary()))));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    for (auto& l : layers_) l->forward(torch::zeros({1, l->options.in_features()}));
    return x;
  }

 private:
  std::vector<lowbit::layers::QLinear> layers_;
};
TORCH_MODULE(SwinLinears);

}  // namespace

TEST(TervitStorage, SwinSmallBlockWeightsPackToAbout12MB) {
  torch::NoGradGuard no_grad;
  SwinLinears linears;
  const std::vector<int64_t> dims = {96, 192, 384, 768}, depths = {2, 2, 18, 2};
  int64_t expected_weights = 0;
  for (size_t stage = 0; stage < dims.size(); ++stage) {
    const auto c = dims[stage];
    for (int64_t block = 0; block < depths[stage]; ++block) {
      linears->add(c, 3 * c);
      linears->add(c, c);
      linears->add(c, 4 * c);
      linears->add(4 * c, c);
      expected_weights += 12 * c * c;
    }
    if (stage + 1 < dims.size()) {
      linears->add(4 * c, 2 * c);
      expected_weights += 8 * c * c;
    }
  }
  torch::nn::Sequential model(linears);
  const auto summary = lowbit::engine::summarize(model, torch::zeros({1, 1, 1, 1}));
  int64_t details = 0;
  for (const auto& layer : summary.layers) {
    if (!layer.detail) continue;
    ++details;
    EXPECT_EQ(layer.weight_bits, 2) << layer.name;
  }
  EXPECT_EQ(details, 24 * 4 + 3);
  EXPECT_EQ(summary.total.params, expected_weights);
  EXPECT_NEAR(static_cast<double>(summary.total.params) / 1e6, 48.7, 0.05);
  const double mb = static_cast<double>(summary.total.packed_bytes) / 1e6;
  std::cout << "Swin-S block weights: " << summary.total.params << " at 2 bits = " << mb << " MB packed (fp32 "
            << static_cast<double>(summary.total.fp32_bytes) / 1e6 << " MB)\n";
  EXPECT_NEAR(mb, 12.2, 0.05);
  EXPECT_EQ(summary.total.packed_bytes, expected_weights / 4);
}
