#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/optim/optimizer.h>
#include <lowbit/csrc/engine/optim/schedule.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/recipe/recipe_error.h>
#include <lowbit/csrc/util/files.h>
#include <lowbit/modules/layers/batch_norm.h>

#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <tuple>

using lowbit::engine::parse_recipe;
using lowbit::testing::TempDir;

namespace {

void write_recipes(const TempDir& dir) {
  dir.write("base.yaml", "data: {dataset: fashion_mnist, batch_size: 64}\nmodel: {name: small_cnn, channels: [8]}\n");
  dir.write("r.yaml",
            "include: [base.yaml]\nname: r\ndata: {batch_size: 32}\n"
            "stages:\n  - {epochs: 2, optimizer: {name: sgd, lr: 0.1}}\n  - {epochs: 3}\n");
}

}  // namespace

TEST(Recipe, IncludesMergeAndOwnKeysWin) {
  TempDir dir;
  write_recipes(dir);
  const auto r = parse_recipe(dir.file("r.yaml"));
  EXPECT_EQ(r.data.batch_size, 32);                 // the recipe's own value
  EXPECT_EQ(r.data.dataset, "fashion_mnist");       // from the include
  EXPECT_EQ(r.model.params.at("channels").toIntVector(), std::vector<int64_t>{8});
  ASSERT_EQ(r.stages.size(), 2u);
  EXPECT_EQ(r.stages[0].optimizer.name, "sgd");
  EXPECT_EQ(r.stages[1].name, "stage2");
  EXPECT_NE(r.where("data.batch_size").find("r.yaml:3"), std::string::npos);
  EXPECT_NE(r.where("data.dataset").find("base.yaml:1"), std::string::npos);
}

TEST(Recipe, SetOverridesKeysAndListElements) {
  TempDir dir;
  write_recipes(dir);
  const auto r = parse_recipe(dir.file("r.yaml"), {"stages[1].epochs=7", "data.limit_train=100", "model.channels=[4, 8]"});
  EXPECT_EQ(r.stages[1].epochs, 7);
  EXPECT_EQ(r.data.limit_train, 100);
  EXPECT_EQ(r.model.params.at("channels").toIntVector(), (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(r.where("stages[1].epochs"), "--set stages[1].epochs");
  EXPECT_NE(r.resolved_yaml.find("limit_train: 100"), std::string::npos) << r.resolved_yaml;
}

TEST(Recipe, MalformedOverrideIsNamed) {
  TempDir dir;
  write_recipes(dir);
  try {
    parse_recipe(dir.file("r.yaml"), {"stages[5].epochs=1"});
    FAIL();
  } catch (const lowbit::engine::RecipeError& e) {
    EXPECT_NE(std::string(e.what()).find("--set stages[5].epochs=1: stages has no element [5]"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(parse_recipe(dir.file("r.yaml"), {"seed"}), lowbit::engine::RecipeError);
  // Found by the recipe fuzz test: a key below a value or a list, an index that is not a number.
  const auto message = [&](const std::string& override) {
    try {
      parse_recipe(dir.file("r.yaml"), {override});
    } catch (const lowbit::engine::RecipeError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message("name.amp=false"), "--set name.amp=false: name is a value, not a mapping of keys");
  EXPECT_EQ(message("stages.lr=1"), "--set stages.lr=1: stages is a list, not a mapping of keys");
  EXPECT_EQ(message("stages[x].epochs=1"), "--set stages[x].epochs=1: [x] is not an element number");
}

TEST(Schedule, CosineWarmupLinearStep) {
  using lowbit::engine::Schedule;
  using lowbit::engine::ScheduleSpan;
  lowbit::engine::ScheduleConfig s;
  s.name = "cosine";
  const Schedule cosine(s, ScheduleSpan{0.1, 10, 0});
  EXPECT_DOUBLE_EQ(cosine.factor(0.0), 1.0);
  EXPECT_NEAR(cosine.factor(5.0), 0.5, 1e-12);
  EXPECT_NEAR(cosine.factor(10.0), 0.0, 1e-12);
  s.options = {{"min_lr", 0.01}};
  EXPECT_NEAR(Schedule(s, ScheduleSpan{0.1, 10, 0}).factor(10.0), 0.1, 1e-12);  // min_lr / lr
  s.warmup_epochs = 2;
  const Schedule warm(s, ScheduleSpan{0.1, 10, 2});
  EXPECT_NEAR(warm.factor(0.5), 0.25, 1e-12);
  EXPECT_NEAR(warm.factor(2.0), 1.0, 1e-12);
  lowbit::engine::ScheduleConfig linear;
  linear.name = "linear";
  linear.per = "epoch";
  EXPECT_NEAR(Schedule(linear, ScheduleSpan{1.0, 4, 0}).factor(2.9), 0.5, 1e-12);  // whole epochs: 2/4 done
  lowbit::engine::ScheduleConfig step;
  step.name = "step";
  step.options = {{"milestones", std::vector<int64_t>{2, 4}}};
  const Schedule stepped(step, ScheduleSpan{1.0, 6, 0});
  EXPECT_NEAR(stepped.factor(1.9), 1.0, 1e-12);
  EXPECT_NEAR(stepped.factor(4.0), 0.01, 1e-12);
}

TEST(Schedule, OptionErrorsCarryTheirKey) {
  lowbit::engine::ScheduleConfig step;
  step.name = "step";
  step.options = {{"milestones", std::vector<int64_t>{9}}, {"gamma", 0.5}};
  try {
    lowbit::engine::Schedule(step, lowbit::engine::ScheduleSpan{1.0, 6, 0});
    FAIL() << "a milestone past the end was accepted";
  } catch (const lowbit::OptionError& e) {
    EXPECT_EQ(e.key(), std::vector<std::string>{"milestones"});
    EXPECT_EQ(e.detail(), "milestone 9 is outside [1, 6]");
  }
  step.options = {{"milestones", std::vector<int64_t>{2}}, {"gama", 0.5}};
  try {
    lowbit::engine::Schedule(step, lowbit::engine::ScheduleSpan{1.0, 6, 0});
    FAIL() << "a misspelt option was accepted";
  } catch (const lowbit::OptionError& e) {
    EXPECT_EQ(e.key(), std::vector<std::string>{"gama"});
    EXPECT_NE(e.detail().find("did you mean 'gamma'"), std::string::npos) << e.detail();
  }
}

TEST(Optimizer, GroupsByNamePatternWithTheirOwnDecayAndRate) {
  torch::nn::Linear net(3, 2);
  lowbit::engine::OptimizerConfig c;
  c.name = "sgd";
  c.lr = 0.1;
  c.weight_decay = 5e-4;
  c.groups = {{"bias", 0.0, 0.5}};
  auto built = lowbit::engine::make_optimizer(c, net->named_parameters());
  auto& groups = built.optimizer->param_groups();
  ASSERT_EQ(groups.size(), 2u);
  const auto& bias_group = static_cast<torch::optim::SGDOptions&>(groups[0].options());
  EXPECT_TRUE(groups[0].params()[0].is_same(net->bias));
  EXPECT_DOUBLE_EQ(bias_group.weight_decay(), 0.0);
  EXPECT_DOUBLE_EQ(bias_group.lr(), 0.05);
  EXPECT_DOUBLE_EQ(static_cast<torch::optim::SGDOptions&>(groups[1].options()).weight_decay(), 5e-4);
  lowbit::engine::set_lr_factor(built, 0.5);
  EXPECT_DOUBLE_EQ(groups[0].options().get_lr(), 0.025);
  EXPECT_DOUBLE_EQ(groups[1].options().get_lr(), 0.05);
}

TEST(Recipe, TaskAndEvalMetricsAreNamedAndChecked) {
  TempDir dir;
  const std::string base = "name: r\ndata: {dataset: fashion_mnist}\nmodel: {name: small_cnn}\n";
  const std::string stage = "stages: [{epochs: 1}]\n";
  dir.write("m.yaml", base + stage + "task: classification\neval: {metrics: [{name: accuracy, topk: [1, 3]}, {name: loss}]}\n");
  const auto r = parse_recipe(dir.file("m.yaml"));
  EXPECT_EQ(r.task, "classification");
  ASSERT_EQ(r.eval_metrics.size(), 2u);
  EXPECT_EQ(r.eval_metrics[0].name, "accuracy");
  EXPECT_EQ(r.eval_metrics[0].options.at("topk").toIntVector(), (std::vector<int64_t>{1, 3}));
  // Each error carries the recipe key it is at, and names the file and line.
  const auto error = [&](const std::string& tail) -> std::pair<std::string, std::string> {
    dir.write("bad.yaml", base + tail);
    try {
      parse_recipe(dir.file("bad.yaml"));
    } catch (const lowbit::engine::RecipeError& e) {
      return {e.key(), e.what()};
    }
    return {"", "(no error)"};
  };
  auto [key, what] = error(stage + "eval: {metrics: [{name: acuracy}]}\n");
  EXPECT_EQ(key, "eval.metrics[0].name");
  EXPECT_NE(what.find("unknown value 'acuracy' (did you mean 'accuracy'?)"), std::string::npos) << what;
  std::tie(key, what) = error(stage + "eval: {metrics: [{name: accuracy, topk: [0]}]}\n");
  EXPECT_EQ(key, "eval.metrics[0].topk");
  EXPECT_NE(what.find("bad.yaml:5: eval.metrics[0].topk: expected a non-empty list of integers >= 1"), std::string::npos)
      << what;
  std::tie(key, what) = error(stage + "task: detect\n");
  EXPECT_EQ(key, "task");
  std::tie(key, what) = error("stages: [{optimizer: {name: adam, betas: 1}}]\n");
  EXPECT_EQ(key, "stages[0].optimizer.betas");
  EXPECT_NE(what.find("unknown option 'betas' (did you mean 'beta1'?)"), std::string::npos) << what;
  std::tie(key, what) = error("stages: [{schedule: {name: step, milestones: [9]}}]\n");
  EXPECT_EQ(key, "stages[0].schedule.milestones");
  EXPECT_NE(what.find("milestone 9 is outside [1, 1]"), std::string::npos) << what;
  // A data set's own options are checked by its factory when the recipe is read.
  const auto data_error = [&](const std::string& data) -> std::pair<std::string, std::string> {
    dir.write("data.yaml", "name: r\nmodel: {name: small_cnn}\n" + stage + data);
    try {
      parse_recipe(dir.file("data.yaml"));
    } catch (const lowbit::engine::RecipeError& e) {
      return {e.key(), e.what()};
    }
    return {"", "(no error)"};
  };
  std::tie(key, what) = data_error("data: {dataset: imagenet, root: /x, image_size: -3}\n");
  EXPECT_EQ(key, "data.image_size");
  EXPECT_NE(what.find("expected a positive integer, got -3"), std::string::npos) << what;
  std::tie(key, what) = data_error("data: {dataset: imagenet}\n");
  EXPECT_EQ(key, "data.root");
  EXPECT_NE(what.find("missing: where the imagenet files are (or --set data.root=...)"), std::string::npos) << what;
}

// lr_per, the warm-up's start and bn_batch (optimizer.h, schedule.h, recipe.h), and their errors.
TEST(Recipe, LrPerWarmupLrAndBnBatch) {
  TempDir dir;
  const std::string base = "name: r\ndata: {dataset: fashion_mnist, batch_size: 32}\n";
  dir.write("ok.yaml", base + "model: {name: small_cnn, channels: [4], bn_batch: 8}\n"
                              "stages: [{epochs: 4, optimizer: {name: lamb, lr: 0.0005, lr_per: 512},\n"
                              "          schedule: {name: cosine, warmup_epochs: 2, warmup_lr: 1.0e-6,\n"
                              "                     warmup_prefix: false, per: epoch, epoch_offset: -1}}]\n");
  const auto r = parse_recipe(dir.file("ok.yaml"));
  EXPECT_DOUBLE_EQ(r.stages[0].optimizer.lr, 0.0005 * 32 / 512);
  EXPECT_EQ(r.stages[0].schedule.warmup_lr, 1e-6);
  EXPECT_FALSE(r.stages[0].schedule.warmup_prefix);
  EXPECT_EQ(r.stages[0].schedule.epoch_offset, -1);
  EXPECT_EQ(r.model.bn_batch, 8);
  int64_t ghost = 0;
  for (const auto& m : lowbit::engine::build_model(r, 0)->modules()) {
    if (auto* bn = dynamic_cast<lowbit::layers::BatchNormImpl*>(m.get())) ghost = bn->ghost_batch;
  }
  EXPECT_EQ(ghost, 8);

  const auto key_of = [&](const std::string& rest) {
    dir.write("bad.yaml", base + rest);
    try {
      parse_recipe(dir.file("bad.yaml"));
    } catch (const lowbit::engine::RecipeError& e) {
      return e.key();
    }
    return std::string("(no error)");
  };
  const std::string model = "model: {name: small_cnn}\n";
  EXPECT_EQ(key_of(model + "stages: [{optimizer: {name: sgd, lr: 0.1, lr_per: 0}}]\n"), "stages[0].optimizer.lr_per");
  EXPECT_EQ(key_of(model + "stages: [{schedule: {name: cosine, warmup_lr: 1.0e-6}}]\n"), "stages[0].schedule.warmup_lr");
  EXPECT_EQ(key_of(model + "stages: [{epochs: 3, schedule: {name: linear, epoch_offset: 1}}]\n"),
            "stages[0].schedule.epoch_offset");  // per: step
  EXPECT_EQ(key_of(model + "stages: [{epochs: 3, schedule: {name: linear, per: epoch, epoch_offset: -4}}]\n"),
            "stages[0].schedule.epoch_offset");
  EXPECT_EQ(key_of(model + "stages: [{epochs: 3, schedule: {name: linear, per: epoch, epoch_offset: -3}}]\n"),
            "(no error)");  // |k| = E: the whole stage at the schedule's start (a 1-epoch try of a recipe)
  EXPECT_EQ(key_of("model: {name: small_cnn, bn_batch: 8}\nstages: [{epochs: 1}]\ndistributed: {sync_bn: true}\n"),
            "model.bn_batch");
  EXPECT_EQ(key_of("model: {name: small_cnn, bn_batch: -1}\nstages: [{epochs: 1}]\n"), "model.bn_batch");
}
