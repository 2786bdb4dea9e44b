// The recipe's distill: section (read, checked with file:line errors, dry-run in validate) and a
// real Trainer run against a frozen teacher on a few Fashion-MNIST images.
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/checkpoint/checkpoint.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/recipe/recipe_error.h>
#include <lowbit/csrc/engine/train.h>
#include <lowbit/csrc/util/files.h>
#include <lowbit/modules/models/registry.h>

#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <torch/torch.h>

#include <sstream>

namespace {

using lowbit::testing::TempDir;

const char* kBase =
    "name: d\nseed: 1\n"
    "data: {dataset: fashion_mnist, batch_size: 50, limit_train: 200, limit_test: 100}\n"
    "model: {name: small_cnn, channels: [4, 8], weight_quantizer: {name: xnor}, input_quantizer: {name: sign}}\n"
    "stages: [{epochs: 1, optimizer: {name: adam, lr: 0.01}}]\n";

// A full-precision small_cnn saved as a lowbit checkpoint; returns the teacher: section naming it.
std::string save_teacher(const TempDir& dir) {
  torch::manual_seed(11);
  auto teacher = lowbit::models::make("small_cnn", {{"channels", std::vector<int64_t>{4, 8}}}, {});
  torch::optim::SGD sgd(teacher->parameters(), 0.1);
  lowbit::engine::save_checkpoint(dir.file("teacher.pt"), *teacher, sgd, {});
  return "teacher: {model: {name: small_cnn, channels: [4, 8]}, checkpoint: " + dir.file("teacher.pt") + "}\n";
}

std::string recipe_error(const std::string& path, bool validate = false) {
  try {
    const auto recipe = lowbit::engine::parse_recipe(path);
    if (validate) lowbit::engine::validate(recipe);
  } catch (const lowbit::engine::RecipeError& e) {
    return e.what();
  }
  return "(no error)";
}

bool fashion_mnist_present() {
  return lowbit::util::file_exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
}

}  // namespace

TEST(DistillRecipe, TermsAndOptionsAreRead) {
  TempDir dir;
  dir.write("r.yaml", std::string(kBase) + "teacher: {model: {name: small_cnn}, checkpoint: t.pt}\n"
                      "train: {label_smoothing: 0.1}\n"
                      "distill:\n  terms:\n"
                      "    - {loss: distribution, weight: 1.0}\n"
                      "    - {loss: dgd, weight: 2, taps: '\\.attn\\.(q|k)$', normalization: frobenius, squared: true}\n"
                      "    - {loss: ce, weight: 0.5}\n"
                      "    - {loss: ce, name: plain_ce, label_smoothing: 0}\n");
  const auto r = lowbit::engine::parse_recipe(dir.file("r.yaml"));
  ASSERT_TRUE(r.distill.has_value());
  const auto& terms = r.distill->terms;
  ASSERT_EQ(terms.size(), 4u);
  EXPECT_EQ(terms[0].term.loss(), "distribution");
  EXPECT_EQ(terms[1].term.weight(), 2.0);
  EXPECT_EQ(terms[1].term.options().at("taps").toStringRef(), "\\.attn\\.(q|k)$");
  EXPECT_EQ(terms[1].term.options().at("normalization").toStringRef(), "frobenius");
  EXPECT_TRUE(terms[1].term.options().at("squared").toBool());
  EXPECT_EQ(terms[1].path, "distill.terms[1]");
  EXPECT_EQ(terms[2].term.options().at("label_smoothing").toDouble(), 0.1);  // from train.label_smoothing
  EXPECT_EQ(terms[3].term.name(), "plain_ce");
  EXPECT_EQ(terms[3].term.options().at("label_smoothing").toInt(), 0);
}

TEST(DistillRecipe, ErrorsPointAtTheTermsKey) {
  TempDir dir;
  const std::string teacher = "teacher: {model: {name: small_cnn}, checkpoint: t.pt}\n";
  dir.write("no_teacher.yaml", std::string(kBase) + "distill: {terms: [{loss: kl}]}\n");
  EXPECT_NE(recipe_error(dir.file("no_teacher.yaml")).find("no_teacher.yaml:6: distill: distillation needs a teacher"),
            std::string::npos)
      << recipe_error(dir.file("no_teacher.yaml"));
  dir.write("option.yaml", std::string(kBase) + teacher + "distill:\n  terms:\n    - {loss: kl}\n"
                           "    - {loss: dgd, normalization: rows}\n");
  EXPECT_NE(recipe_error(dir.file("option.yaml"))
                .find("option.yaml:10: distill.terms[1].normalization: unknown normalization 'rows' (did you mean 'row'?)"),
            std::string::npos)
      << recipe_error(dir.file("option.yaml"));
  dir.write("unknown.yaml", std::string(kBase) + teacher + "distill:\n  terms:\n    - {loss: ranking, topk: 4}\n");
  EXPECT_NE(recipe_error(dir.file("unknown.yaml"))
                .find("unknown.yaml:9: distill.terms[0].topk: unknown option 'topk' (did you mean 'top_k'?)"),
            std::string::npos)
      << recipe_error(dir.file("unknown.yaml"));
  dir.write("twice.yaml", std::string(kBase) + teacher + "distill:\n  terms:\n    - {loss: kl}\n    - {loss: kl, temperature: 4}\n");
  EXPECT_NE(recipe_error(dir.file("twice.yaml")).find("twice.yaml:10: distill.terms[1].loss: a second term named 'kl'"),
            std::string::npos)
      << recipe_error(dir.file("twice.yaml"));
  dir.write("weight.yaml", std::string(kBase) + teacher + "distill:\n  terms:\n    - {loss: kl, weight: -1}\n");
  EXPECT_NE(recipe_error(dir.file("weight.yaml")).find("distill.terms[0].weight: expected a number >= 0, got -1"),
            std::string::npos);
}

TEST(DistillRecipe, ValidateFindsATermWithoutTaps) {
  if (!fashion_mnist_present()) GTEST_SKIP() << "Fashion-MNIST (Debian dataset-fashion-mnist) is absent";
  TempDir dir;
  dir.write("r.yaml", std::string(kBase) + save_teacher(dir) + "distill: {terms: [{loss: kl}, {loss: dgd}]}\n");
  const auto msg = recipe_error(dir.file("r.yaml"), true);
  EXPECT_NE(msg.find("r.yaml:7: distill.terms[1]: taps '(^|\\.)(q|k)$' select no tap"), std::string::npos) << msg;
}

TEST(DistillTraining, TermsAreLoggedAndTheTeacherStaysFrozen) {
  if (!fashion_mnist_present()) GTEST_SKIP() << "Fashion-MNIST (Debian dataset-fashion-mnist) is absent";
  TempDir dir;
  dir.write("r.yaml", std::string(kBase) + save_teacher(dir) +
                          "train: {log_every: 2}\n"
                          "distill:\n  terms:\n    - {loss: distribution}\n    - {loss: ce, weight: 0.5}\n"
                          "    - {loss: kl, weight: 0, temperature: 4}\n");
  const auto recipe = lowbit::engine::parse_recipe(dir.file("r.yaml"));
  lowbit::engine::validate(recipe);
  lowbit::util::make_directories(dir.file("run"));
  std::ostringstream out;
  const auto result = lowbit::engine::train(recipe, dir.file("run"), false, out);
  EXPECT_EQ(result.steps, 4);
  EXPECT_NE(out.str().find("(distribution "), std::string::npos) << out.str();

  // The teacher the run used: in eval mode, no gradient, parameters and buffers as loaded.
  ASSERT_TRUE(result.teacher);
  EXPECT_FALSE(result.teacher->is_training());
  auto loaded = lowbit::engine::build_teacher(recipe, *lowbit::engine::build_task(recipe));
  auto expected = loaded->named_parameters();
  for (const auto& p : result.teacher->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), expected[p.key()])) << p.key();
    EXPECT_FALSE(p.value().grad().defined()) << p.key();
  }
  auto expected_buffers = loaded->named_buffers();
  for (const auto& b : result.teacher->named_buffers()) EXPECT_TRUE(torch::equal(b.value(), expected_buffers[b.key()])) << b.key();

  // Every train record has the weighted terms, which sum to the loss.
  std::istringstream log(lowbit::util::read_file(dir.file("run/metrics.jsonl")));
  int train_records = 0;
  for (std::string line; std::getline(log, line);) {
    const auto record = nlohmann::json::parse(line);
    if (record["kind"] != "train") continue;
    ++train_records;
    for (const auto* key : {"loss", "loss_distribution", "loss_ce", "loss_kl"}) ASSERT_TRUE(record.contains(key)) << line;
    EXPECT_NEAR(record["loss"].get<double>(),
                record["loss_distribution"].get<double>() + record["loss_ce"].get<double>(), 1e-5)
        << line;
    EXPECT_EQ(record["loss_kl"].get<double>(), 0.0);  // terms are logged weighted; this one has weight 0
  }
  EXPECT_EQ(train_records, 2);
}

TEST(DistillTraining, ResumedAtAnEpochEndsBitExact) {
  if (!fashion_mnist_present()) GTEST_SKIP() << "Fashion-MNIST (Debian dataset-fashion-mnist) is absent";
  TempDir dir;
  // A constant schedule: the first epoch of a 2-epoch run equals a 1-epoch run, whose checkpoint
  // the 2-epoch recipe then resumes from.
  dir.write("r.yaml", std::string(kBase) + save_teacher(dir) +
                          "distill: {terms: [{loss: distribution}, {loss: ce, weight: 0.5}, {loss: kl, temperature: 2}]}\n");
  const auto two = lowbit::engine::parse_recipe(dir.file("r.yaml"), {"stages[0].epochs=2"});
  const auto one = lowbit::engine::parse_recipe(dir.file("r.yaml"), {"stages[0].epochs=1"});
  for (const auto* run : {"a", "b"}) lowbit::util::make_directories(dir.file(run));
  std::ostringstream out;
  const auto straight = lowbit::engine::train(two, dir.file("a"), false, out);
  lowbit::engine::train(one, dir.file("b"), false, out);
  const auto resumed = lowbit::engine::train(two, dir.file("b"), true, out);
  EXPECT_NE(out.str().find("resumed"), std::string::npos);
  EXPECT_EQ(resumed.steps, straight.steps);
  auto expected = straight.model->named_parameters();
  for (const auto& b : straight.model->named_buffers()) expected.insert(b.key(), b.value());
  auto got = resumed.model->named_parameters();
  for (const auto& b : resumed.model->named_buffers()) got.insert(b.key(), b.value());
  ASSERT_EQ(got.size(), expected.size());
  for (const auto& entry : expected) EXPECT_TRUE(torch::equal(entry.value(), got[entry.key()])) << entry.key();
}
