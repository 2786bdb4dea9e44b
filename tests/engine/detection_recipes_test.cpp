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

// The IDa-Det recipes: the student of configs/voc_faster_rcnn_bir18.py (1-bit backbone, neck and RPN
// conv, losses x5, stem and layer1 frozen, SGD 0.004 clipped at 35, x0.1 at 8 and 11 of 12 repeated
// epochs, multi-scale mmdet pipeline at batch 4) distilled by the entropy term at 0.5 from the R101.
TEST(DetectionRecipes, IdaDetRecipesHaveTheOfficialStudentScheduleAndDistillation) {
  const auto recipe = engine::parse_recipe(std::string(LOWBIT_SOURCE_DIR) + "/recipes/idadet/voc_bires18_r101.yaml");
  EXPECT_EQ(recipe.model.name, "bi_faster_rcnn");
  EXPECT_EQ(recipe.model.weight_quantizer.name, "idadet");
  EXPECT_EQ(recipe.model.input_quantizer.name, "rsign");
  EXPECT_EQ(recipe.model.params.at("classes").toInt(), 20);
  EXPECT_EQ(recipe.data.batch_size, 4);
  EXPECT_EQ(recipe.data.options.at("pipeline").toStringRef(), "mmdet");
  EXPECT_EQ(recipe.data.options.at("img_scales").toListRef().size(), 3u);
  ASSERT_EQ(recipe.stages.size(), 1u);
  const auto& stage = recipe.stages[0];
  EXPECT_EQ(stage.epochs, 36);  // 12 epochs of RepeatDataset(times 3)
  EXPECT_EQ(stage.optimizer.name, "sgd");
  EXPECT_DOUBLE_EQ(stage.optimizer.lr, 0.004);
  EXPECT_DOUBLE_EQ(stage.optimizer.weight_decay, 1e-4);
  EXPECT_DOUBLE_EQ(stage.grad_clip, 35);
  EXPECT_EQ(stage.schedule.options.at("milestones").toIntVector(), (std::vector<int64_t>{24, 33}));
  EXPECT_NEAR(stage.schedule.warmup_epochs * 16551 / 4, 200, 1);  // 200 iterations of batch 4
  EXPECT_DOUBLE_EQ(stage.schedule.warmup_lr, 0.004 * 0.001);
  ASSERT_TRUE(recipe.teacher.has_value());
  EXPECT_EQ(recipe.teacher->model.name, "faster_rcnn");
  EXPECT_EQ(recipe.teacher->model.params.at("backbone").toStringRef(), "resnet101");
  ASSERT_TRUE(recipe.distill.has_value());
  const auto terms = recipe.distill->options();
  ASSERT_EQ(terms.size(), 2u);
  EXPECT_EQ(terms[0].loss(), "model");
  EXPECT_EQ(terms[1].loss(), "entropy");
  EXPECT_DOUBLE_EQ(terms[1].weight(), 0.5);
  // The built student: the official loss weight, frozen stem and layer1.
  auto task = engine::build_task(recipe);
  const auto model = engine::build_model(recipe, *task, 0);
  for (const auto& p : model->named_parameters()) {
    const bool frozen = p.key().rfind("backbone.conv1.", 0) == 0 || p.key().rfind("backbone.bn1.", 0) == 0 ||
                        p.key().rfind("backbone.layer1.", 0) == 0;
    EXPECT_EQ(p.value().requires_grad(), !frozen) << p.key();
  }
  // The baseline is the same student without the teacher.
  const auto baseline = engine::parse_recipe(std::string(LOWBIT_SOURCE_DIR) + "/recipes/idadet/voc_bires18.yaml");
  EXPECT_FALSE(baseline.teacher.has_value());
  EXPECT_FALSE(baseline.distill.has_value());
  EXPECT_EQ(baseline.stages[0].optimizer.lr, stage.optimizer.lr);
}

}  // namespace
