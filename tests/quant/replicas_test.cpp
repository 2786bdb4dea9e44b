// Quantizers under data-parallel replicas (modules/hooks/replicas.h): R = 2 replicas, each on half
// of a batch X with its loss a mean over its half and the gradients averaged over the replicas (as
// the engine does), end up where one process on X does:
//   rbonn, rebnn (paper_dynamic): state recorded in backward (G_prev; m_c = max|dL/dW_hat|) is the
//     replicas' average once settled (end_step, or the next training forward); 3 SGD steps give the
//     same averaged gradients, weights, scales and buffers;
//   lsq (every init), qvit_act: the lazy initialisation uses the whole batch's statistics; the
//     outputs are the whole batch's rows, the input gradients R times one process's (each loss is a
//     mean over B rows, not RB).
#include <lowbit/modules/hooks/replicas.h>
#include <lowbit/modules/hooks/training_hooks.h>
#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/quant/lsq.h>
#include <lowbit/modules/quant/qvit_act.h>
#include <lowbit/modules/quant/rbonn.h>
#include <lowbit/modules/quant/rebnn.h>

#include "support/thread_replicas.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <map>

using lowbit::hooks::ReduceOp;
using lowbit::layers::QConv2d;
using lowbit::layers::QConv2dImpl;
using lowbit::layers::QConv2dOptions;

namespace {

constexpr int64_t kReplicas = 2;
constexpr int kSteps = 3;

// A batch whose halves differ in scale and offset, so that a half's statistics and gradients are
// not the whole batch's.
torch::Tensor two_halves(std::vector<int64_t> shape, torch::Dtype dtype = torch::kDouble) {
  auto x = torch::randn(shape, dtype);
  const int64_t half = shape[0] / 2;
  x.narrow(0, 0, half).mul_(0.5).add_(0.7);
  x.narrow(0, half, half).mul_(2.0).sub_(0.3);
  return x;
}

torch::Tensor share(const torch::Tensor& x, int64_t rank) {
  const int64_t rows = x.size(0) / kReplicas;
  return x.narrow(0, rank * rows, rows);
}

// Nonlinear in y and a mean over the rows: every replica's loss is the mean over its share.
torch::Tensor mean_loss(const torch::Tensor& y, const torch::Tensor& weights) { return (y.square() * weights).mean(); }

bool close(const torch::Tensor& a, const torch::Tensor& b, double rtol = 1e-9, double atol = 1e-12) {
  return a.sizes() == b.sizes() && torch::allclose(a, b, rtol, atol);
}

using Named = std::map<std::string, torch::Tensor>;

Named copy_of(const torch::OrderedDict<std::string, torch::Tensor>& tensors) {
  Named out;
  for (const auto& t : tensors) out[t.key()] = t.value().detach().clone();
  return out;
}

bool pending(QConv2dImpl& conv) {
  const auto* quantizer = conv.weight_quantizer.get();
  if (const auto* rbonn = dynamic_cast<const lowbit::quant::RbonnImpl*>(quantizer)) return rbonn->pending();
  if (const auto* rebnn = dynamic_cast<const lowbit::quant::ReBnnImpl*>(quantizer)) return rebnn->pending();
  return false;
}

struct Trajectory {
  std::vector<Named> grads;                   // per step, averaged over the replicas
  std::vector<Named> buffers_after_backward;  // per step, before the replicas settle
  std::vector<bool> pending_after_backward;
  std::shared_ptr<QConv2dImpl> conv;  // after the last step
};

// kSteps SGD steps of a copy of `prototype` on `x` (the training loop of the engine: zero_grad,
// forward, backward, gradients averaged over the replicas, step, then end_step if asked).
Trajectory train(const QConv2d& prototype, const torch::Tensor& x, const torch::Tensor& loss_weights, bool end_step) {
  Trajectory t;
  t.conv = std::dynamic_pointer_cast<QConv2dImpl>(prototype->clone());
  torch::optim::SGD optimizer(t.conv->parameters(), torch::optim::SGDOptions(0.5));
  for (int step = 0; step < kSteps; ++step) {
    optimizer.zero_grad();
    mean_loss(t.conv->forward(x), loss_weights).backward();
    t.buffers_after_backward.push_back(copy_of(t.conv->named_buffers()));
    t.pending_after_backward.push_back(pending(*t.conv));
    Named grads;
    for (auto& p : t.conv->named_parameters()) {
      auto grad = p.value().grad();
      if (!grad.defined()) continue;
      lowbit::hooks::all_reduce_(grad, ReduceOp::Mean);
      grads[p.key()] = grad.clone();
    }
    t.grads.push_back(grads);
    optimizer.step();
    if (end_step) lowbit::hooks::end_step(*t.conv);
  }
  return t;
}

void expect_close(const Named& actual, const Named& expected, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (const auto& [name, value] : expected) {
    ASSERT_TRUE(actual.count(name)) << what << " " << name;
    EXPECT_TRUE(close(actual.at(name), value)) << what << " " << name << "\n" << actual.at(name) - value;
  }
}

// One process on X against R replicas on its halves, with and without end_step; `state` names the
// quantizer's buffer whose local value a backward leaves pending under replicas.
void expect_replicas_train_as_one_process(const QConv2d& prototype, const std::string& state) {
  torch::manual_seed(11);
  const auto x = two_halves({8, 3, 5, 5});
  const auto loss_weights = torch::rand({8, prototype->options.out_channels(), 5, 5}, torch::kDouble);
  for (const bool end_step : {true, false}) {
    SCOPED_TRACE(end_step ? "end_step after every step" : "no end_step: the next forward settles");
    const auto single = train(prototype, x, loss_weights, end_step);
    std::vector<Trajectory> replicas(kReplicas);
    lowbit::testing::run_replicas(kReplicas, [&](int64_t rank) {
      replicas[rank] = train(prototype, share(x, rank), share(loss_weights, rank), end_step);
      // A user's loop without end_step leaves the last backward's state pending; settle it here.
      if (!end_step) lowbit::hooks::end_step(*replicas[rank].conv);
    });
    for (int64_t r = 0; r < kReplicas; ++r) {
      SCOPED_TRACE("replica " + std::to_string(r));
      for (int step = 0; step < kSteps; ++step) {
        EXPECT_FALSE(single.pending_after_backward[step]);
        EXPECT_TRUE(replicas[r].pending_after_backward[step]);
        expect_close(replicas[r].grads[step], single.grads[step], "gradients of step " + std::to_string(step));
      }
      expect_close(copy_of(replicas[r].conv->named_parameters()), copy_of(single.conv->named_parameters()),
                   "parameters");
      expect_close(copy_of(replicas[r].conv->named_buffers()), copy_of(single.conv->named_buffers()), "buffers");
      // What the test can tell apart: before settling, the state is the replica's own.
      const auto key = "weight_quantizer." + state;
      EXPECT_FALSE(close(replicas[r].buffers_after_backward[0].at(key), single.buffers_after_backward[0].at(key)));
    }
  }
}

}  // namespace

TEST(RbonnReplicas, ThreeStepsOnHalvesEqualOneProcessOnTheWholeBatch) {
  torch::manual_seed(10);
  // 5 output channels, tau 0.6: K = 2 channels take the recurrent step from the second step on.
  QConv2d prototype(QConv2dOptions(3, 5, 3).padding(1).bias(false).weight_quantizer(lowbit::quant::Rbonn(5)));
  prototype->to(torch::kDouble);
  expect_replicas_train_as_one_process(prototype, "previous_grad");
}

TEST(ReBnnReplicas, PaperDynamicThreeStepsOnHalvesEqualOneProcessOnTheWholeBatch) {
  torch::manual_seed(12);
  // Unclamped gamma, and weights near zero that the steps flip, so that gamma = (k/M) m_c is not 0.
  QConv2d prototype(QConv2dOptions(3, 4, 3).padding(1).bias(false).weight_quantizer(lowbit::quant::ReBnn(
      lowbit::quant::ReBnnOptions(4).gamma_mode(lowbit::quant::GammaMode::PaperDynamic).clamp_gamma(false))));
  prototype->to(torch::kDouble);
  {
    torch::NoGradGuard no_grad;
    prototype->weight.mul_(1e-3);
  }
  expect_replicas_train_as_one_process(prototype, "previous_grad_max");
  // The dynamic gamma took part: some channel flipped signs, and its gamma is m_c's.
  const auto single = train(prototype, two_halves({8, 3, 5, 5}), torch::rand({8, 4, 5, 5}, torch::kDouble), true);
  const auto* rebnn = dynamic_cast<const lowbit::quant::ReBnnImpl*>(single.conv->weight_quantizer.get());
  EXPECT_GT(rebnn->balanced_gamma.abs().max().item<double>(), 0.0);
}

TEST(LsqReplicas, LazyInitEqualsTheWholeBatchsForEveryInit) {
  using lowbit::quant::LsqInit;
  torch::manual_seed(13);
  const auto x = two_halves({8, 3, 4, 4}, torch::kFloat);
  const auto loss_weights = torch::rand_like(x);
  for (const auto init : {LsqInit::MeanAbs, LsqInit::ThreeSigma, LsqInit::MinMax}) {
    for (const bool per_channel : {false, true}) {
      auto options = lowbit::quant::LsqOptions(4).init(init).offset(init == LsqInit::MinMax);
      if (per_channel) options.per_channel(true).channels(3).channel_dim(1);
      SCOPED_TRACE(std::to_string(static_cast<int>(init)) + (per_channel ? " per channel" : " per tensor"));
      const auto run = [&](const torch::Tensor& input, const torch::Tensor& weights) {
        auto lsq = lowbit::quant::Lsq(options);
        auto leaf = input.clone().requires_grad_(true);
        const auto y = lsq(leaf);
        mean_loss(y, weights).backward();
        return std::make_tuple(lsq, y.detach(), leaf.grad());
      };
      auto [single, y, grad] = run(x, loss_weights);
      std::vector<lowbit::quant::Lsq> replicas(kReplicas, nullptr);
      std::vector<torch::Tensor> ys(kReplicas), grads(kReplicas);
      lowbit::testing::run_replicas(kReplicas, [&](int64_t rank) {
        std::tie(replicas[rank], ys[rank], grads[rank]) = run(share(x, rank), share(loss_weights, rank));
      });
      for (int64_t r = 0; r < kReplicas; ++r) {
        EXPECT_TRUE(close(replicas[r]->step, single->step, 1e-5, 1e-7)) << replicas[r]->step << single->step;
        if (single->offset.defined()) EXPECT_TRUE(close(replicas[r]->offset, single->offset, 1e-5, 1e-7));
        EXPECT_TRUE(replicas[r]->initialized.item<bool>());
        EXPECT_TRUE(close(ys[r], share(y, r), 1e-5, 1e-6));
        EXPECT_TRUE(close(grads[r], kReplicas * share(grad, r), 1e-5, 1e-9));
      }
      // What the test can tell apart: a half's own initialisation.
      auto own = std::get<0>(run(share(x, 0), share(loss_weights, 0)));
      EXPECT_FALSE(close(own->step, single->step, 1e-3, 0));
    }
  }
}

TEST(LsqReplicas, AveragedStepGradientOfAnActivationEqualsOneProcesss) {
  // g = 1/sqrt(N Q_P) with N the whole batch's numel (hooks::batch_numel): the averaged step
  // gradient is one process's on the whole batch; with each replica's own numel it would be sqrt(R)
  // times larger. A weight (a parameter) keeps its numel.
  torch::manual_seed(14);
  const auto x = two_halves({8, 6}, torch::kFloat);
  const auto loss_weights = torch::rand_like(x);
  const auto step_grad = [&](const torch::Tensor& input, const torch::Tensor& weights) {
    lowbit::quant::Lsq lsq(lowbit::quant::LsqOptions(3));
    mean_loss(lsq(input), weights).backward();
    auto grad = lsq->step.grad();
    lowbit::hooks::all_reduce_(grad, ReduceOp::Mean);
    return grad.clone();
  };
  const auto single = step_grad(x, loss_weights);
  std::vector<torch::Tensor> averaged(kReplicas);
  lowbit::testing::run_replicas(kReplicas, [&](int64_t rank) {
    averaged[rank] = step_grad(share(x, rank), share(loss_weights, rank));
  });
  EXPECT_TRUE(close(averaged[0], single, 1e-5, 1e-8)) << averaged[0] << single;
  const auto weight = torch::randn({4, 6}, torch::requires_grad());
  EXPECT_EQ(lowbit::hooks::batch_numel(weight), 24);
  lowbit::testing::run_replicas(kReplicas, [&](int64_t) {
    EXPECT_EQ(lowbit::hooks::batch_numel(weight), 24);
    EXPECT_EQ(lowbit::hooks::batch_numel(weight * 2), 24 * kReplicas);
  });
}

TEST(QvitActReplicas, LazyInitEqualsTheWholeBatchs) {
  torch::manual_seed(15);
  // The first half is non-negative: alone it would initialise an unsigned code.
  auto x = two_halves({8, 5, 6}, torch::kFloat);
  share(x, 0).abs_();
  const auto loss_weights = torch::rand_like(x);
  for (const int64_t bits : {4, 1}) {
    for (const int64_t channels : {1, 6}) {
      SCOPED_TRACE(std::to_string(bits) + " bits, " + std::to_string(channels) + " channels");
      const auto options = lowbit::quant::QvitActOptions(bits).channels(channels).channel_dim(-1);
      const auto run = [&](const torch::Tensor& input, const torch::Tensor& weights) {
        lowbit::quant::QvitAct act(options);
        auto leaf = input.clone().requires_grad_(true);
        const auto y = act(leaf);
        mean_loss(y, weights).backward();
        return std::make_tuple(act, y.detach(), leaf.grad());
      };
      auto [single, y, grad] = run(x, loss_weights);
      ASSERT_TRUE(single->is_signed());
      std::vector<lowbit::quant::QvitAct> replicas(kReplicas, nullptr);
      std::vector<torch::Tensor> ys(kReplicas), grads(kReplicas);
      lowbit::testing::run_replicas(kReplicas, [&](int64_t rank) {
        std::tie(replicas[rank], ys[rank], grads[rank]) = run(share(x, rank), share(loss_weights, rank));
      });
      for (int64_t r = 0; r < kReplicas; ++r) {
        EXPECT_TRUE(torch::equal(replicas[r]->signed_, single->signed_));
        EXPECT_TRUE(torch::equal(replicas[r]->init_state, single->init_state));
        EXPECT_TRUE(close(replicas[r]->alpha, single->alpha, 1e-5, 1e-7)) << replicas[r]->alpha << single->alpha;
        EXPECT_TRUE(close(replicas[r]->zero_point, single->zero_point, 1e-5, 1e-7));
        EXPECT_TRUE(close(ys[r], share(y, r), 1e-5, 1e-6));
        EXPECT_TRUE(close(grads[r], kReplicas * share(grad, r), 1e-5, 1e-9));
      }
      auto own = std::get<0>(run(share(x, 0), share(loss_weights, 0)));
      EXPECT_FALSE(own->is_signed());
      EXPECT_FALSE(close(own->alpha, single->alpha, 1e-3, 0));
    }
  }
}
