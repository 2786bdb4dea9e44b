// Every detection recipe (recipes/detr, recipes/qdetr) passes a dry run: it parses, builds the
// model of every stage and its teacher, and trains two steps per stage on random images with its
// objective (the distiller's terms: DETR's losses and DRD against the teacher) and its optimizer
// (AdamW, the backbone group at a tenth of the learning rate), stage 2 starting from stage 1's
// weights as the runner does. The data, the ImageNet initialisation and the teachers' weights
// are the user's files, so the models keep their own initialisation and nothing is opened.
// The batch is one image at the smallest training shape of the recipe (its first scale, square:
// 480 x 480 for DETR's 480..800), on the CPU in a few seconds per recipe.
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/loop/stage_switch.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/util/files.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

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

// The example batch of the recipe's data set at its first training scale, with random images.
engine::Batch random_batch(const engine::Recipe& recipe) {
  auto data = recipe.data;
  const auto scales = lowbit::ParamReader("data", data.options).get<std::vector<int64_t>>("scales", {480});
  data.options["eval_size"] = scales.front();
  auto batch = engine::make_dataset(data)->example(1);
  batch.images = torch::randn_like(batch.images);
  return batch;
}

std::shared_ptr<engine::Model> random_teacher(const engine::Recipe& recipe, const engine::Task& task) {
  const auto& t = recipe.teacher->model;
  auto teacher = task.make_model(t.name, t.params, lowbit::models::QuantPolicy{});
  teacher->eval();
  for (auto& p : teacher->parameters()) p.set_requires_grad(false);
  return teacher;
}

// Two optimizer steps of stage `s`: every loss finite, the trainable weights moved.
void train_two_steps(const engine::Recipe& recipe, size_t s, engine::Task& task, engine::Model& model,
                     const engine::Batch& batch) {
  const auto& stage = recipe.stages[s];
  auto built = engine::make_optimizer(stage.optimizer, model.named_parameters());
  // The backbone group (first) holds layer2..4 at lr / 10; the rest trains at lr.
  ASSERT_EQ(built.base_lrs.size(), 2u);
  EXPECT_DOUBLE_EQ(built.base_lrs[0], stage.optimizer.lr * 0.1);
  EXPECT_FALSE(built.optimizer->param_groups()[0].params().empty());
  const auto before = model.named_parameters()["transformer.decoder.layers.0.linear1.weight"].clone();
  model.train();
  for (int step = 0; step < 2; ++step) {
    auto out = task.step(model, batch);
    const auto loss = out.losses.total();
    ASSERT_TRUE(std::isfinite(loss.item<double>())) << "stage " << s + 1 << " step " << step;
    for (const auto& [name, value] : out.losses.entries()) EXPECT_TRUE(std::isfinite(value.item<double>())) << name;
    built.optimizer->zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(model.parameters(), stage.grad_clip);
    built.optimizer->step();
  }
  EXPECT_FALSE(torch::equal(before, model.named_parameters()["transformer.decoder.layers.0.linear1.weight"]));
}

class DetectionRecipe : public ::testing::TestWithParam<std::string> {};

TEST_P(DetectionRecipe, DryRunTrainsTwoStepsPerStage) {
  const auto recipe = engine::parse_recipe(std::string(LOWBIT_SOURCE_DIR) + "/recipes/" + GetParam());
  EXPECT_EQ(recipe.task, "detection");
  auto task = engine::build_task(recipe);
  if (recipe.distill) {
    ASSERT_TRUE(recipe.teacher.has_value());
    task->set_distiller(engine::build_distiller(recipe, random_teacher(recipe, *task)));
  }
  const auto batch = random_batch(recipe);
  std::shared_ptr<engine::Model> previous;
  for (size_t s = 0; s < recipe.stages.size(); ++s) {
    SCOPED_TRACE("stage " + std::to_string(s + 1));
    auto model = engine::build_model(recipe, *task, s);
    if (previous) engine::copy_matching(*previous, *model);
    train_two_steps(recipe, s, *task, *model, batch);
    previous = model;
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
