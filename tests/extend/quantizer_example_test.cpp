// Extending lowbit, example: a quantizer of your own, registered by name so that recipes and
// quant::make reach it (docs/extending.md). Here a power-of-two scaled sign,
//   q(x) = 2^round(log2 mean|x|) · sign(x)    (a shift instead of a multiply at inference)
// with the clipped straight-through estimator, dq/dx = 2^round(log2 mean|x|) · 1[|x| <= 1], and no
// gradient through the scale.
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/recipe/recipe_error.h>
#include <lowbit/csrc/ops/sign.h>
#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/quant/registry.h>

#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

namespace {

struct Pow2SignOptions {
  TORCH_ARG(double, min_scale) = 1.0 / 1024;  // smallest power of two used as the scale
};

class Pow2SignImpl : public lowbit::quant::QuantizerCloneable<Pow2SignImpl> {
 public:
  explicit Pow2SignImpl(Pow2SignOptions options = {}) : QuantizerCloneable("Pow2Sign"), options(options) {
    LOWBIT_CHECK_OPTION(options.min_scale() > 0, "min_scale", "pow2_sign: min_scale must be > 0, got ",
                        options.min_scale());
  }
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x) override {
    const auto mean_abs = x.detach().abs().mean().clamp_min(options.min_scale());
    const auto scale = torch::pow(2.0, torch::round(torch::log2(mean_abs)));
    return scale * lowbit::ops::sign(x, lowbit::ops::Ste::Clipped);
  }
  int64_t bits() const override { return 1; }
  Pow2SignOptions options;
};
TORCH_MODULE(Pow2Sign);

LOWBIT_REGISTER_QUANTIZER(pow2_sign, [](lowbit::ParamReader& p) {
  return lowbit::quant::Quantizer(Pow2Sign(Pow2SignOptions().min_scale(p.get<double>("min_scale", 1.0 / 1024))));
});

}  // namespace

TEST(ExtendQuantizer, ValuesAndStraightThroughGradient) {
  auto q = lowbit::quant::make("pow2_sign");
  // mean|x| = 0.3 -> log2 = -1.74 -> scale 2^-2; sign(0) = 0.
  const auto x = torch::tensor({-0.3, 0.05, 0.05, -1.1, 0.0}, torch::requires_grad());
  const auto y = q(x);
  EXPECT_TRUE(torch::allclose(y, torch::tensor({-0.25, 0.25, 0.25, -0.25, 0.0})));
  y.sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), torch::tensor({0.25, 0.25, 0.25, 0.0, 0.25})));  // |x| > 1: clipped
}

TEST(ExtendQuantizer, ARecipeNamesItAndItsErrorsPointAtTheKey) {
  lowbit::testing::TempDir dir;
  const std::string base = "name: q\ndata: {dataset: fashion_mnist}\nstages: [{epochs: 1}]\n";
  dir.write("r.yaml", base + "model: {name: small_cnn, channels: [8, 16], weight_quantizer: {name: pow2_sign}}\n");
  auto network = lowbit::engine::build_network(lowbit::engine::parse_recipe(dir.file("r.yaml")), 0);
  int64_t quantized = 0;
  for (const auto& m : network->modules()) {
    if (auto* conv = dynamic_cast<lowbit::layers::QConv2dImpl*>(m.get())) {
      quantized += dynamic_cast<Pow2SignImpl*>(conv->weight_quantizer.get()) != nullptr;
    }
  }
  EXPECT_EQ(quantized, 1);  // the second convolution; the first and last layers stay real-valued

  dir.write("bad.yaml", base + "model: {name: small_cnn, channels: [8, 16],\n"
                               "        weight_quantizer: {name: pow2_sign, min_scale: -1}}\n");
  try {
    lowbit::engine::build_network(lowbit::engine::parse_recipe(dir.file("bad.yaml")), 0);
    FAIL() << "a negative min_scale was accepted";
  } catch (const lowbit::engine::RecipeError& e) {
    EXPECT_EQ(e.key(), "model.weight_quantizer.min_scale");
    EXPECT_NE(std::string(e.what()).find("bad.yaml:5: model.weight_quantizer.min_scale: pow2_sign: min_scale must be > 0"),
              std::string::npos)
        << e.what();
  }
}
