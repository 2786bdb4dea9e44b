// The detection recipes (recipes/detr, recipes/qdetr): their optimizers' parameter groups and
// Q-DETR's stages, terms and teacher.
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/util/files.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <string>
#include <vector>

namespace {

namespace engine = lowbit::engine;

std::vector<std::string> detection_recipes() {
  std::vector<std::string> names;
  for (const auto* folder : {"detr", "qdetr"}) {
    const auto dir = std::string(LOWBIT_SOURCE_DIR) + "/recipes/" + folder;
    for (const auto& entry : lowbit::util::list_directory(dir)) names.push_back(std::string(folder) + "/" + entry.name);
  }
  return names;
}

// Every stage's optimizer: the backbone group (first) holds layer2..4 at lr / 10; the rest trains
// at lr. (Training every stage is the dry run of ShippedRecipes.EveryRecipeDryRunsEveryStage.)
class DetectionRecipe : public ::testing::TestWithParam<std::string> {};

TEST_P(DetectionRecipe, EveryStageTrainsTheBackboneAtATenthOfTheRate) {
  const auto recipe = engine::parse_recipe(std::string(LOWBIT_SOURCE_DIR) + "/recipes/" + GetParam());
  EXPECT_EQ(recipe.task, "detection");
  auto task = engine::build_task(recipe);
  for (size_t s = 0; s < recipe.stages.size(); ++s) {
    SCOPED_TRACE("stage " + std::to_string(s + 1));
    const auto model = engine::build_model(recipe, *task, s);
    const auto& stage = recipe.stages[s];
    auto built = engine::make_optimizer(stage.optimizer, model->named_parameters());
    ASSERT_EQ(built.base_lrs.size(), 2u);
    EXPECT_DOUBLE_EQ(built.base_lrs[0], stage.optimizer.lr * 0.1);
    EXPECT_DOUBLE_EQ(built.base_lrs[1], stage.optimizer.lr);
    const auto& backbone = built.optimizer->param_groups()[0].params();
    ASSERT_FALSE(backbone.empty());
    const auto named = model->named_parameters();
    const auto in_backbone = [&](const std::string& name) {
      return std::any_of(backbone.begin(), backbone.end(), [&](const torch::Tensor& p) { return p.is_same(named[name]); });
    };
    EXPECT_TRUE(in_backbone("backbone.0.body.layer2.0.conv1.weight"));
    EXPECT_TRUE(in_backbone("backbone.0.body.layer4.1.conv2.weight"));
    EXPECT_FALSE(in_backbone("transformer.decoder.layers.0.linear1.weight"));
  }
}

INSTANTIATE_TEST_SUITE_P(Shipped, DetectionRecipe, ::testing::ValuesIn(detection_recipes()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           auto name = info.param.substr(0, info.param.size() - 5);  // no ".yaml"
                           for (auto& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

// The Q-DETR recipes run Q-DETR's two stages: the backbone quantized first, then everything,
// with the DRD term beside the detector's own losses, against a DETR-R101.
TEST(DetectionRecipes, QDetrRecipesHaveThePapersStagesTermsAndTeacher) {
  for (const auto* name : {"qdetr/coco_r50_w4a4.yaml", "qdetr/voc_r50_w2a2.yaml"}) {
    SCOPED_TRACE(name);
    const auto recipe = engine::parse_recipe(std::string(LOWBIT_SOURCE_DIR) + "/recipes/" + name);
    ASSERT_EQ(recipe.stages.size(), 2u);
    auto task = engine::build_task(recipe);
    const auto first = engine::build_model(recipe, *task, 0), second = engine::build_model(recipe, *task, 1);
    // Stage 1 adds no Distribution Alignment (the decoder is real); stage 2 does.
    const auto has_da = [](const engine::Model& m) {
      for (const auto& p : m.named_parameters()) {
        if (p.key().find(".norm_q.") != std::string::npos) return true;
      }
      return false;
    };
    EXPECT_FALSE(has_da(*first));  // self_attn.norm_q: DA on the decoder self-attention queries
    EXPECT_TRUE(has_da(*second));
    ASSERT_TRUE(recipe.distill.has_value());
    const auto terms = recipe.distill->options();
    ASSERT_EQ(terms.size(), 2u);
    EXPECT_EQ(terms[0].loss(), "model");
    EXPECT_EQ(terms[1].loss(), "drd");
    ASSERT_TRUE(recipe.teacher.has_value());
    EXPECT_EQ(recipe.teacher->model.params.at("backbone").toStringRef(), "resnet101");
  }
}

}  // namespace
