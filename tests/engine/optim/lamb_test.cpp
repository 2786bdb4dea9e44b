// Lamb (csrc/engine/optim/lamb.h): apex FusedLAMB's step, checked against the formula written
// out here and against numbers of timm.optim.Lamb (timm 1.0, float64), which computes the same.
#include <lowbit/csrc/engine/optim/lamb.h>
#include <lowbit/csrc/engine/optim/optimizer.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <sstream>

namespace {

using lowbit::engine::Lamb;
using lowbit::engine::LambOptions;
using lowbit::engine::LambParamState;

struct Params {
  torch::Tensor p1, p2;
};

Params fresh_params() {
  const auto f64 = torch::dtype(torch::kFloat64).requires_grad(true);
  return {torch::tensor({0.5, -1.0, 2.0, 0.1, 0.0, -0.3}, f64).view({2, 3}).detach().requires_grad_(),
          torch::tensor({1.0, -2.0}, f64)};
}

// The gradient of Σ p1³ + 3 Σ p2² + Σ p1[0] · p2[0] (p1[1][1] = 0 keeps a zero gradient).
void backward(const Params& p) {
  for (const auto& t : {p.p1, p.p2}) {
    if (t.grad().defined()) t.mutable_grad().zero_();
  }
  ((p.p1.pow(3)).sum() + 3 * p.p2.pow(2).sum() + (p.p1[0] * p.p2[0]).sum()).backward();
}

// Group 0 {p1} with `weight_decay`, group 1 {p2} without, as timm's param groups in the script.
std::unique_ptr<Lamb> make_lamb(const Params& p, double weight_decay, double max_grad_norm, bool nvlamb) {
  const auto options = LambOptions(0.1).eps(1e-6).max_grad_norm(max_grad_norm).use_nvlamb(nvlamb);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{p.p1},
                      std::make_unique<LambOptions>(LambOptions(options).weight_decay(weight_decay)));
  groups.emplace_back(std::vector<torch::Tensor>{p.p2},
                      std::make_unique<LambOptions>(LambOptions(options).weight_decay(0)));
  return std::make_unique<Lamb>(groups, LambOptions(options).weight_decay(weight_decay));
}

// FusedLAMB's step written out on plain tensors (lamb.h), for parameters `w`, gradients `g`,
// moments m, v, per-tensor weight decays, at step t.
void reference_step(std::vector<torch::Tensor>& w, const std::vector<torch::Tensor>& g, std::vector<torch::Tensor>& m,
                    std::vector<torch::Tensor>& v, const std::vector<double>& decay, int64_t t, double max_norm,
                    bool nvlamb) {
  double total = 0;
  for (const auto& gi : g) total += gi.pow(2).sum().item<double>();
  total = std::sqrt(total);
  const double divisor = total > max_norm ? total / max_norm : 1.0;
  const double lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-6;
  for (size_t i = 0; i < w.size(); ++i) {
    const auto gi = g[i] / divisor;
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    auto u = (m[i] / (1 - std::pow(b1, t))) / ((v[i] / (1 - std::pow(b2, t))).sqrt() + eps) + decay[i] * w[i];
    double ratio = 1;
    const double wn = w[i].norm().item<double>(), un = u.norm().item<double>();
    if ((decay[i] != 0 || nvlamb) && wn > 0 && un > 0) ratio = wn / un;
    w[i] = w[i] - lr * ratio * u;
  }
}

void expect_close(const torch::Tensor& actual, const std::vector<double>& expected, const char* what) {
  ASSERT_EQ(actual.numel(), static_cast<int64_t>(expected.size())) << what;
  const auto flat = actual.flatten();
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(flat[static_cast<int64_t>(i)].item<double>(), expected[i], 1e-12) << what << "[" << i << "]";
  }
}

const LambParamState& state_of(const Lamb& lamb, const torch::Tensor& p) {
  return static_cast<const LambParamState&>(*lamb.state().at(p.unsafeGetTensorImpl()));
}

}  // namespace

TEST(Lamb, FollowsTheFusedLambFormulaWithAndWithoutDecayClipAndNvlamb) {
  struct Case {
    double decay, max_norm;
    bool nvlamb;
  };
  for (const auto& c : {Case{0.0, 1.0, false}, Case{0.1, 1.0, false}, Case{0.1, 100.0, false}, Case{0.0, 1.0, true}}) {
    SCOPED_TRACE("weight_decay " + std::to_string(c.decay) + ", max_grad_norm " + std::to_string(c.max_norm) +
                 (c.nvlamb ? ", use_nvlamb" : ""));
    auto p = fresh_params();
    auto lamb = make_lamb(p, c.decay, c.max_norm, c.nvlamb);
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> w{p.p1.detach().clone(), p.p2.detach().clone()};
    std::vector<torch::Tensor> m{torch::zeros_like(w[0]), torch::zeros_like(w[1])}, v = m;
    for (int64_t t = 1; t <= 3; ++t) {
      {
        torch::AutoGradMode grad(true);
        backward(p);
      }
      const std::vector<torch::Tensor> g{p.p1.grad().clone(), p.p2.grad().clone()};
      lamb->step();
      reference_step(w, g, m, v, {c.decay, 0.0}, t, c.max_norm, c.nvlamb);
      EXPECT_TRUE(torch::allclose(p.p1, w[0], 0, 1e-14)) << "step " << t;
      EXPECT_TRUE(torch::allclose(p.p2, w[1], 0, 1e-14)) << "step " << t;
      EXPECT_TRUE(torch::allclose(state_of(*lamb, p.p1).exp_avg(), m[0], 0, 1e-15));
      EXPECT_TRUE(torch::allclose(state_of(*lamb, p.p1).exp_avg_sq(), v[0], 0, 1e-15));
      EXPECT_TRUE(torch::allclose(state_of(*lamb, p.p2).exp_avg_sq(), v[1], 0, 1e-15));
    }
    for (const auto& group : lamb->param_groups()) {
      EXPECT_EQ(static_cast<const LambOptions&>(group.options()).step(), 3);
    }
  }
}

// /tmp/refenv: timm.optim.Lamb([{'params': [p1]}, {'params': [p2], 'weight_decay': 0}], lr=0.1,
// eps=1e-6, weight_decay=0.1, max_grad_norm=1.0), three steps of the same loss in float64.
TEST(Lamb, MatchesTimmAfterThreeSteps) {
  auto p = fresh_params();
  auto lamb = make_lamb(p, 0.1, 1.0, false);
  for (int step = 0; step < 3; ++step) {
    backward(p);
    lamb->step();
  }
  expect_close(p.p1, {0.1829392705910377, -1.2744259914429032, 1.634759463532708, -0.15020798479279607, 0.0,
                      -0.5871309620798382}, "p1");
  expect_close(p.p2, {0.7006320826748534, -1.6997360984422691}, "p2");
  expect_close(state_of(*lamb, p.p1).exp_avg(), {0.02028733418051048, 0.06876233806374453, 0.17103648224649448,
                                                 0.00021555538881459796, 0.0, 0.007885758453262393}, "m1");
  expect_close(state_of(*lamb, p.p1).exp_avg_sq(), {1.7534067485661585e-05, 0.00019262471866279005,
                                                    0.001202624730750816, 3.1632337347894336e-09, 0.0,
                                                    2.8258050167082014e-06}, "v1");
  expect_close(state_of(*lamb, p.p2).exp_avg(), {0.09761685584335804, -0.1709968543396958}, "m2");
}

TEST(Lamb, CheckpointRoundTripContinuesIdentically) {
  auto a = fresh_params(), b = fresh_params();
  auto lamb_a = make_lamb(a, 0.1, 1.0, false);
  backward(a);
  lamb_a->step();
  std::stringstream saved;
  {
    torch::serialize::OutputArchive archive;
    lamb_a->save(archive);
    archive.save_to(saved);
  }
  {
    torch::NoGradGuard no_grad;
    b.p1.copy_(a.p1);
    b.p2.copy_(a.p2);
  }
  auto lamb_b = make_lamb(b, 0.1, 1.0, false);
  torch::serialize::InputArchive archive;
  archive.load_from(saved);
  lamb_b->load(archive);
  EXPECT_EQ(static_cast<const LambOptions&>(lamb_b->param_groups()[0].options()).step(), 1);
  for (auto* pair : {&a, &b}) backward(*pair);
  lamb_a->step();
  lamb_b->step();
  EXPECT_TRUE(torch::equal(a.p1, b.p1));
  EXPECT_TRUE(torch::equal(a.p2, b.p2));
}

TEST(Lamb, IsRegisteredWithItsOptionsChecked) {
  auto net = torch::nn::Linear(3, 2);
  lowbit::engine::OptimizerConfig c;
  c.name = "lamb";
  c.lr = 0.01;
  c.options = {{"max_grad_norm", 0.5}, {"eps", 1e-8}, {"use_nvlamb", true}};
  auto built = lowbit::engine::make_optimizer(c, net->named_parameters());
  const auto& o = static_cast<const LambOptions&>(built.optimizer->param_groups()[0].options());
  EXPECT_EQ(o.max_grad_norm(), 0.5);
  EXPECT_EQ(o.eps(), 1e-8);
  EXPECT_TRUE(o.use_nvlamb());
  c.options = {{"max_grad_norm", -1.0}};
  try {
    lowbit::engine::make_optimizer_kind(c);
    FAIL() << "expected an OptionError";
  } catch (const lowbit::OptionError& e) {
    EXPECT_EQ(e.key(), std::vector<std::string>{"max_grad_norm"});
  }
}
