// The Distiller: weighted loss terms over the outputs and taps of a student and a frozen teacher,
// and the errors that name the term, the tap or the key.
#include <lowbit/csrc/engine/objective/distiller.h>
#include <lowbit/modules/losses/dgd.h>
#include <lowbit/modules/losses/kd.h>
#include <lowbit/modules/losses/ranking.h>
#include <lowbit/modules/taps/taps.h>

#include "support/error_of.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

namespace {

using lowbit::engine::Batch;
using lowbit::engine::Distiller;
using lowbit::engine::Outputs;
using TermOptions = lowbit::engine::DistillTermOptions;
using lowbit::testing::error_of;
namespace losses = lowbit::losses;

// A self-attention layer that publishes what the quantized attention will: "q", "k" [B, H, N, d]
// and the softmax map "attn" [B, H, N, N].
struct ToyAttentionImpl : torch::nn::Module {
  ToyAttentionImpl(int64_t dim, int64_t heads) : heads(heads), qk(register_module("qk", torch::nn::Linear(dim, 2 * dim))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    const auto b = x.size(0), n = x.size(1), dim = x.size(2), d = dim / heads;
    const auto both = qk(x).view({b, n, 2, heads, d}).permute({2, 0, 3, 1, 4});
    const auto q = both[0], k = both[1];
    lowbit::taps::publish(*this, "q", q);
    lowbit::taps::publish(*this, "k", k);
    const auto attn = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(d)), -1);
    lowbit::taps::publish(*this, "attn", attn);
    return x + torch::matmul(attn, q).transpose(1, 2).reshape({b, n, dim});
  }
  int64_t heads;
  torch::nn::Linear qk;
};
TORCH_MODULE(ToyAttention);

// Tokens [B, N, dim] -> `layers` attention blocks -> mean over tokens -> "logits", and a second
// head's "dist_logits" (a DeiT-style distillation head).
struct ToyNet : lowbit::engine::Model {
  explicit ToyNet(int64_t layers, int64_t dim = 8, int64_t heads = 2, int64_t classes = 4)
      : head(register_module("head", torch::nn::Linear(dim, classes))),
        dist(register_module("dist", torch::nn::Linear(dim, classes))) {
    for (int64_t i = 0; i < layers; ++i) blocks->push_back(ToyAttention(dim, heads));
    register_module("blocks", blocks);
  }
  Outputs forward(const Batch& batch) override {
    auto x = batch.images;
    for (auto& block : *blocks) x = block->as<ToyAttention>()->forward(x);
    const auto pooled = x.mean(1);
    return {{"logits", head(pooled)}, {"dist_logits", dist(pooled)}};
  }
  lowbit::engine::LossDict loss(const Batch& batch, const Outputs& outputs) override {
    return {{"ce", torch::nn::functional::cross_entropy(outputs.at("logits"), batch.labels)}};
  }
  torch::nn::ModuleList blocks;
  torch::nn::Linear head, dist;
};

struct Fixture {
  std::shared_ptr<ToyNet> student, teacher;
  Batch batch;
  Fixture() {
    torch::manual_seed(7);
    student = std::make_shared<ToyNet>(2);
    teacher = std::make_shared<ToyNet>(2);
    batch.images = torch::randn({3, 5, 8});
    batch.labels = torch::tensor({0, 3, 1}, torch::kLong);
  }
};

// The outputs and taps of one forward, recorded the way the Distiller does it.
struct Recorded {
  Outputs outputs;
  lowbit::taps::TapRecord taps;
};
Recorded record(ToyNet& net, const Batch& batch) {
  Recorded out;
  lowbit::taps::TapRecorder recorder(net, out.taps);
  out.outputs = net.forward(batch);
  return out;
}

double value_of(const lowbit::engine::StepOutput& r, const std::string& name) {
  for (const auto& term : r.losses.entries()) {
    if (term.first == name) return term.second.item<double>();
  }
  ADD_FAILURE() << "no term " << name;
  return 0;
}

}  // namespace

TEST(Distiller, TermsAreWeightedNamedAndSummed) {
  Fixture f;
  Distiller distiller({TermOptions("ce").weight(0.5), TermOptions("kl").weight(2).options({{"temperature", 4.0}}),
                       TermOptions("distribution").name("soft"), TermOptions("hard").weight(0.25),
                       TermOptions("dgd").weight(0.1), TermOptions("ranking").weight(3).options({{"top_k", int64_t{2}}})},
                      f.teacher);
  const auto r = distiller.forward(*f.student, f.batch);
  ASSERT_EQ(distiller.names(), (std::vector<std::string>{"ce", "kl", "soft", "hard", "dgd", "ranking"}));
  ASSERT_EQ(r.losses.names(), distiller.names());

  torch::NoGradGuard no_grad;
  f.teacher->eval();
  const auto s = record(*f.student, f.batch), t = record(*f.teacher, f.batch);
  const auto &zs = s.outputs.at("logits"), &zt = t.outputs.at("logits");
  EXPECT_TRUE(torch::equal(r.outputs.at("logits"), zs));
  EXPECT_FLOAT_EQ(value_of(r, "ce"), 0.5f * losses::label_cross_entropy(zs, f.batch.labels).item<float>());
  EXPECT_FLOAT_EQ(value_of(r, "kl"), 2 * losses::kl_distillation(zs, zt, 4.0).item<float>());
  EXPECT_FLOAT_EQ(value_of(r, "soft"), losses::distribution_loss(zs, zt).item<float>());
  EXPECT_FLOAT_EQ(value_of(r, "hard"), 0.25f * losses::hard_distillation(zs, zt).item<float>());
  // DGD: summed over the two layers' q and k.
  float dgd = 0;
  for (const auto* name : {"blocks.0.q", "blocks.0.k", "blocks.1.q", "blocks.1.k"}) {
    dgd += losses::dgd_loss(s.taps.at(name), t.taps.at(name)).item<float>();
  }
  EXPECT_NEAR(value_of(r, "dgd"), 0.1f * dgd, 1e-6);
  // Ranking: averaged over the two layers' attention maps.
  const auto rank = losses::RankingOptions().top_k(2);
  const float ranking = (losses::ranking_loss(s.taps.at("blocks.0.attn"), t.taps.at("blocks.0.attn"), rank) +
                         losses::ranking_loss(s.taps.at("blocks.1.attn"), t.taps.at("blocks.1.attn"), rank))
                            .item<float>() / 2;
  EXPECT_NEAR(value_of(r, "ranking"), 3 * ranking, 1e-6);
  double sum = 0;
  for (const auto& term : r.losses.entries()) sum += term.second.item<double>();
  EXPECT_NEAR(r.losses.total().item<double>(), sum, 1e-5);
}

TEST(Distiller, GradientReachesTheStudentOnlyAndTheTeacherRunsInEval) {
  Fixture f;
  f.teacher->train();
  Distiller distiller({TermOptions("kl"), TermOptions("dgd"), TermOptions("ranking")}, f.teacher);
  distiller.forward(*f.student, f.batch).losses.total().backward();
  EXPECT_FALSE(f.teacher->is_training());
  for (const auto& p : f.student->named_parameters()) {
    if (p.key().rfind("dist.", 0) == 0) continue;  // the unused head
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
  for (const auto& p : f.teacher->named_parameters()) {
    EXPECT_TRUE(p.value().requires_grad()) << p.key();  // not frozen by hand: the Distiller's no-grad does it
    EXPECT_FALSE(p.value().grad().defined()) << p.key();
  }
}

TEST(Distiller, TeacherIsBitIdenticalAfterOptimizerSteps) {
  Fixture f;
  std::vector<torch::Tensor> before;
  for (const auto& p : f.teacher->parameters()) before.push_back(p.detach().clone());
  const auto student_before = f.student->parameters()[0].detach().clone();
  torch::optim::Adam adam(f.student->parameters(), 0.01);
  Distiller distiller({TermOptions("distribution"), TermOptions("dgd"), TermOptions("ce").weight(0.5)}, f.teacher);
  for (int step = 0; step < 3; ++step) {
    adam.zero_grad();
    distiller.forward(*f.student, f.batch).losses.total().backward();
    adam.step();
  }
  const auto after = f.teacher->parameters();
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(torch::equal(before[i], after[i])) << i;
  EXPECT_FALSE(torch::equal(student_before, f.student->parameters()[0]));
}

TEST(Distiller, DistillationHeadFromAStudentOutput) {
  Fixture f;
  Distiller distiller(
      {TermOptions("ce").weight(0.5), TermOptions("hard").weight(0.5).options({{"logits", std::string("dist_logits")}})},
      f.teacher);
  const auto r = distiller.forward(*f.student, f.batch);
  torch::NoGradGuard no_grad;
  f.teacher->eval();
  const auto s = record(*f.student, f.batch), t = record(*f.teacher, f.batch);
  EXPECT_FLOAT_EQ(value_of(r, "hard"),
                  0.5f * losses::hard_distillation(s.outputs.at("dist_logits"), t.outputs.at("logits")).item<float>());
  EXPECT_FLOAT_EQ(value_of(r, "ce"), 0.5f * losses::label_cross_entropy(s.outputs.at("logits"), f.batch.labels).item<float>());
}

TEST(Distiller, KlWithReductionMeanIsDeitSoftDistillation) {
  Fixture f;
  Distiller distiller({TermOptions("kl").options({{"temperature", 3.0}, {"reduction", std::string("mean")}})}, f.teacher);
  const auto r = distiller.forward(*f.student, f.batch);
  torch::NoGradGuard no_grad;
  f.teacher->eval();
  const auto s = record(*f.student, f.batch), t = record(*f.teacher, f.batch);
  const auto &zs = s.outputs.at("logits"), &zt = t.outputs.at("logits");
  EXPECT_FLOAT_EQ(value_of(r, "kl"), losses::deit_soft_distillation(zs, zt, 3.0).item<float>());
  EXPECT_FLOAT_EQ(value_of(r, "kl") * zs.size(1), losses::kl_distillation(zs, zt, 3.0).item<float>());
}

TEST(Distiller, LabelTermsNeedNoTeacherAndTeacherTermsDo) {
  Fixture f;
  Distiller labels({TermOptions("ce")});
  EXPECT_FALSE(labels.needs_teacher());
  EXPECT_FLOAT_EQ(value_of(labels.forward(*f.student, f.batch), "ce"),
                  losses::label_cross_entropy(f.student->forward(f.batch).at("logits"), f.batch.labels).item<float>());
  EXPECT_NE(error_of([] { Distiller({TermOptions("ce"), TermOptions("kl")}); })
                .find("distill term 'kl': loss: the kl loss reads a teacher, and the objective has none"),
            std::string::npos);
}

TEST(Distiller, OnlySelectedTapsAreCompared) {
  Fixture f;
  Distiller distiller({TermOptions("dgd").options({{"taps", std::string(R"(^blocks\.1\.q$)")}})}, f.teacher);
  const auto r = distiller.forward(*f.student, f.batch);
  torch::NoGradGuard no_grad;
  f.teacher->eval();
  const auto s = record(*f.student, f.batch), t = record(*f.teacher, f.batch);
  EXPECT_FLOAT_EQ(r.losses.total().item<float>(),
                  losses::dgd_loss(s.taps.at("blocks.1.q"), t.taps.at("blocks.1.q")).item<float>());
}

TEST(Distiller, MissingTapIsNamed) {
  Fixture f;
  auto shallow = std::make_shared<ToyNet>(1);
  auto msg = error_of([&] { Distiller({TermOptions("dgd")}, shallow).forward(*f.student, f.batch); });
  EXPECT_NE(msg.find("distill term 'dgd': missing tap 'blocks.1.q' in the teacher (the student published it)"),
            std::string::npos)
      << msg;
  msg = error_of([&] { Distiller({TermOptions("dgd")}, f.teacher).forward(*shallow, f.batch); });
  EXPECT_NE(msg.find("distill term 'dgd': missing tap 'blocks.1.q' in the student"), std::string::npos) << msg;
  Distiller head({TermOptions("hard").options({{"logits", std::string("head_dist")}})}, f.teacher);
  msg = error_of([&] { head.forward(*f.student, f.batch); });
  EXPECT_NE(msg.find("distill term 'hard': logits: the student has no output 'head_dist' (its outputs: dist_logits, logits)"),
            std::string::npos)
      << msg;
}

TEST(Distiller, ShapeMismatchNamesTheTapAndBothShapes) {
  Fixture f;
  auto four_heads = std::make_shared<ToyNet>(2, 8, 4);
  auto msg = error_of([&] { Distiller({TermOptions("ranking")}, four_heads).forward(*f.student, f.batch); });
  EXPECT_NE(msg.find("distill term 'ranking': tap 'blocks.0.attn': student shape [3, 2, 5, 5] and teacher shape [3, 4, 5, 5] differ"),
            std::string::npos)
      << msg;
  msg = error_of([&] { Distiller({TermOptions("dgd")}, four_heads).forward(*f.student, f.batch); });
  EXPECT_NE(msg.find("distill term 'dgd': tap 'blocks.0.q': student shape [3, 2, 5, 4] and teacher shape [3, 4, 5, 2] differ"),
            std::string::npos)
      << msg;
  auto more_classes = std::make_shared<ToyNet>(2, 8, 2, 6);
  msg = error_of([&] { Distiller({TermOptions("kl")}, more_classes).forward(*f.student, f.batch); });
  EXPECT_NE(msg.find("distill term 'kl': logits: student shape [3, 4] and teacher shape [3, 6] differ"), std::string::npos)
      << msg;
}

TEST(Distiller, TermSelectingNoTapIsAnError) {
  Fixture f;
  const auto msg = error_of(
      [&] { Distiller({TermOptions("dgd").options({{"taps", std::string("query$")}})}, f.teacher).forward(*f.student, f.batch); });
  EXPECT_NE(msg.find("distill term 'dgd': taps 'query$' select no tap"), std::string::npos) << msg;
}

TEST(Distiller, BadTermsAreNamedByKey) {
  const auto teacher = std::make_shared<ToyNet>(1);
  const auto check = [&](const TermOptions& term, const std::string& expected) {
    const auto msg = error_of([&] { Distiller({term}, teacher); });
    EXPECT_NE(msg.find(expected), std::string::npos) << msg;
  };
  check(TermOptions("kl").weight(-1), "distill term 'kl': weight: expected a number >= 0, got -1");
  check(TermOptions("dgx"), "distill term 'dgx': loss: unknown loss 'dgx' (did you mean 'dgd'?)");
  check(TermOptions("dgd").options({{"normalisation", std::string("row")}}),
        "distill term 'dgd': unknown option 'normalisation' (did you mean 'normalization'?)");
  check(TermOptions("dgd").options({{"normalization", std::string("rows")}}),
        "distill term 'dgd': normalization: unknown normalization 'rows' (did you mean 'row'?)");
  check(TermOptions("kl").options({{"taps", std::string("q$")}}), "distill term 'kl': taps: the kl loss reads logits, not taps");
  check(TermOptions("dgd").options({{"taps", std::string("(q")}}),
        "distill term 'dgd': taps: '(q' is not a valid regular expression");
  check(TermOptions("ranking").options({{"margin", 0.5}}), "distill term 'ranking': margin: only the hinge form has a margin");
  check(TermOptions("ranking").options({{"top_k", int64_t{-2}}}), "distill term 'ranking': top_k: expected an integer >= 0");
  check(TermOptions("kl").options({{"temperature", 0.0}}), "distill term 'kl': temperature: expected a positive number, got 0");
  check(TermOptions("ce").name("label ce"), "distill term 'label ce': name: expected letters, digits and '_' only");
  EXPECT_NE(error_of([&] { Distiller({TermOptions("kl"), TermOptions("kl")}, teacher); })
                .find("distill term 'kl': name: two terms have this name"),
            std::string::npos);
  EXPECT_NE(error_of([] { Distiller(std::vector<TermOptions>{}); }).find("distill: expected at least one loss term"), std::string::npos);
}
