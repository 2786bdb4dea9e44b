// The stage switch of a progressive recipe (TerViT: 8-bit, then ternary weights;
// shared/methods/tervit.md section 9): copy_matching carries the latent weights and the
// activation quantizers' state bit-exactly into the next stage's model, whose new weight
// quantizers start fresh; and a real two-stage Trainer run switches.
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/loop/stage_switch.h>
#include <lowbit/csrc/engine/train.h>
#include <lowbit/csrc/util/files.h>
#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/models/registry.h>
#include <lowbit/modules/quant/ternary.h>

#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <sstream>

namespace {

const lowbit::Params kVit = {{"embed_bits", int64_t{8}}, {"head_bits", int64_t{8}}};

lowbit::models::QuantPolicy policy(const std::string& weight, lowbit::Params weight_params) {
  lowbit::models::QuantPolicy p;
  p.weight = {weight, std::move(weight_params)};
  p.input = {"qvit_act", {{"bits", int64_t{8}}}};
  return p;
}

lowbit::models::QuantPolicy stage1_policy() {
  return policy("lsq", {{"bits", int64_t{8}}, {"per_channel", true}, {"init_per_channel", false}});
}

// The block linears (ternary in stage 2), by name.
std::vector<std::pair<std::string, lowbit::layers::QLinearImpl*>> block_linears(torch::nn::Module& model) {
  std::vector<std::pair<std::string, lowbit::layers::QLinearImpl*>> out;
  for (const auto& item : model.named_modules()) {
    if (item.key().rfind("blocks.", 0) != 0) continue;
    if (auto* l = dynamic_cast<lowbit::layers::QLinearImpl*>(item.value().get())) out.emplace_back(item.key(), l);
  }
  return out;
}

}  // namespace

TEST(StageSwitch, EightBitToTernaryKeepsLatentWeightsAndActivationState) {
  for (const std::string scale : {"twn", "learnable"}) {
    SCOPED_TRACE(scale);
    torch::manual_seed(0);
    auto stage1 = lowbit::models::make("vit", kVit, stage1_policy());
    const auto initial = stage1->named_parameters().values();
    std::vector<torch::Tensor> before;
    for (const auto& p : initial) before.push_back(p.detach().clone());
    torch::optim::Adam adam(stage1->parameters(), 1e-2);
    stage1->train();
    for (int step = 0; step < 2; ++step) {
      adam.zero_grad();
      torch::nn::functional::cross_entropy(stage1->forward(torch::randn({8, 1, 28, 28})), torch::randint(10, {8}))
          .backward();
      adam.step();
    }
    // The state moved: latent weights, LSQ steps and activation steps / zero points.
    const auto moved = stage1->named_parameters();
    const auto keys = moved.keys();
    for (const std::string key : {"blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.weight_quantizer.step",
                                  "blocks.1.mlp.fc2.input_quantizer.alpha", "blocks.1.mlp.fc2.input_quantizer.zero_point"}) {
      const auto index = std::find(keys.begin(), keys.end(), key) - keys.begin();
      ASSERT_LT(index, static_cast<int64_t>(before.size())) << key;
      EXPECT_FALSE(torch::equal(before[index], moved[key])) << key;
    }

    auto stage2 = lowbit::models::make("vit", kVit, policy("ternary", {{"scale", scale}}));
    lowbit::engine::copy_matching(*stage1, *stage2);

    auto p1 = stage1->named_parameters(), p2 = stage2->named_parameters();
    auto b1 = stage1->named_buffers(), b2 = stage2->named_buffers();
    int64_t activation_state = 0;
    for (const auto& p : p2) {
      if (p.key().find("weight_quantizer.alpha") != std::string::npos) {
        EXPECT_FALSE(p1.contains(p.key()));  // new in stage 2, set from the latent weights at first use
        continue;
      }
      ASSERT_TRUE(p1.contains(p.key())) << p.key();
      EXPECT_TRUE(torch::equal(p.value(), p1[p.key()])) << p.key();  // latent weights, steps, zero points
      activation_state += p.key().find("input_quantizer") != std::string::npos;
    }
    for (const auto& b : b2) {
      if (b.key().rfind("blocks.", 0) == 0 && b.key().find("weight_quantizer.initialized") != std::string::npos) {
        // ternary's own flag: not set by lsq's same-named one, so alpha will start from the weights
        EXPECT_FALSE(b.value().item<bool>()) << b.key();
        continue;
      }
      ASSERT_TRUE(b1.contains(b.key())) << b.key();
      EXPECT_TRUE(torch::equal(b.value(), b1[b.key()])) << b.key();  // init_state, signed
      activation_state += b.key().find("input_quantizer") != std::string::npos;
    }
    // (8 block linears + patch embedding + head) x (alpha, zero_point, init_state, signed)
    EXPECT_EQ(activation_state, 10 * 4);
    // The embedding and head keep their 8-bit LSQ weight steps.
    EXPECT_TRUE(torch::equal(p2["heads.head.weight_quantizer.step"], p1["heads.head.weight_quantizer.step"]));

    const auto linears = block_linears(*stage2);
    ASSERT_EQ(linears.size(), 8u);
    for (const auto& [name, linear] : linears) {
      ASSERT_TRUE(dynamic_cast<lowbit::quant::TernaryImpl*>(linear->weight_quantizer.get())) << name;
      const auto w = linear->weight_quantizer->forward(linear->weight);
      for (int64_t row = 0; row < w.size(0); ++row) {
        ASSERT_LE(std::get<0>(torch::_unique(w[row])).numel(), 3) << name << " row " << row;
      }
      EXPECT_GE(std::get<0>(torch::_unique(w)).numel(), 3) << name;  // not all zero
    }
  }
}

TEST(StageSwitch, TwoStageRecipeRunsEightBitThenTernary) {
  lowbit::testing::TempDir dir;
  dir.write("r.yaml",
            "name: switch\nseed: 0\n"
            "data: {dataset: fashion_mnist, batch_size: 16, limit_train: 32, limit_test: 32}\n"
            "model:\n  name: vit\n  dim: 32\n  depth: 1\n  heads: 2\n  embed_bits: 8\n  head_bits: 8\n"
            "  weight_quantizer: {name: lsq, bits: 8, per_channel: true, init_per_channel: false}\n"
            "  input_quantizer: {name: qvit_act, bits: 8}\n"
            "stages:\n"
            "  - {name: w8a8, epochs: 1, optimizer: {name: adamw, lr: 0.001}}\n"
            "  - name: w2a8\n    epochs: 1\n    optimizer: {name: adamw, lr: 0.001}\n"
            "    weight_quantizer: {name: ternary, scale: learnable}\n");
  const auto recipe = lowbit::engine::parse_recipe(dir.file("r.yaml"), {"output=" + dir.path()});
  lowbit::engine::validate(recipe);
  lowbit::util::make_directories(dir.file("run"));
  std::ostringstream log;
  auto result = lowbit::engine::train(recipe, dir.file("run"), false, log);
  EXPECT_EQ(result.steps, 4);
  EXPECT_NE(log.str().find("w8a8 epoch 1/1"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("w2a8 epoch 1/1"), std::string::npos) << log.str();
  const auto linears = block_linears(*result.model);
  ASSERT_EQ(linears.size(), 4u);
  for (const auto& [name, linear] : linears) {
    const auto* ternary = dynamic_cast<const lowbit::quant::TernaryImpl*>(linear->weight_quantizer.get());
    ASSERT_TRUE(ternary) << name;
    EXPECT_TRUE(ternary->initialized.item<bool>()) << name;
    // The activation quantizers came initialised from stage 1.
    EXPECT_EQ(linear->input_quantizer->named_buffers()["init_state"].item<float>(), 1.0f) << name;
  }
  // The 8-bit ends kept their LSQ quantizers.
  EXPECT_TRUE(result.model->named_parameters().contains("heads.head.weight_quantizer.step"));
}
