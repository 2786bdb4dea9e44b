// layers::BatchNorm (modules/layers/batch_norm.h): alone it is torch::nn::BatchNorm1d/2d (names,
// state dicts, values, gradients, running statistics); with replicas and sync_batch_norm it is
// SyncBatchNorm: R = 2 replicas, each on half of a batch X with its loss a mean over its half and
// the parameter gradients averaged over the replicas (as the engine does), equal one process on X:
//   outputs                      y_r         = y[rows of r]
//   input gradients              dx_r        = R dx[rows of r]   (each loss is a mean over B, not RB)
//   weight and bias gradients    mean_r dw_r = dw
//   running_mean, running_var, num_batches_tracked: equal.
#include <lowbit/modules/hooks/replicas.h>
#include <lowbit/modules/layers/batch_norm.h>

#include "support/error_of.h"
#include "support/thread_replicas.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <sstream>

using lowbit::hooks::ReduceOp;
using lowbit::layers::BatchNorm;
using lowbit::layers::BatchNormImpl;
using lowbit::layers::BatchNormOptions;

namespace {

constexpr int64_t kReplicas = 2;

// A batch of 2B samples whose halves have different statistics per channel, so that a batch norm
// of one half differs from one of the whole.
torch::Tensor two_halves(std::vector<int64_t> shape) {
  auto x = torch::randn(shape);
  const int64_t half = shape[0] / 2;
  std::vector<int64_t> channel(shape.size(), 1);
  channel[1] = shape[1];
  x.narrow(0, 0, half).mul_(torch::rand(channel) + 0.5).add_(torch::randn(channel));
  x.narrow(0, half, half).mul_(torch::rand(channel) * 3 + 0.5).sub_(torch::randn(channel) * 2);
  return x;
}

torch::Tensor share(const torch::Tensor& x, int64_t rank) {
  const int64_t rows = x.size(0) / kReplicas;
  return x.narrow(0, rank * rows, rows);
}

// A loss that is a mean over the batch (every sample has the same number of elements), nonlinear so
// that dL/dy depends on y.
torch::Tensor mean_loss(const torch::Tensor& y, const torch::Tensor& weights) { return (y.square() * weights).mean(); }

void randomise(torch::nn::Module& bn) {
  torch::NoGradGuard no_grad;
  for (auto& p : bn.parameters()) p.copy_(torch::randn_like(p) * 0.5 + 1);
}

std::shared_ptr<BatchNormImpl> copy_of(const BatchNorm& bn) {
  return std::dynamic_pointer_cast<BatchNormImpl>(bn->clone());
}

void average_gradients(torch::nn::Module& module) {
  for (auto& p : module.parameters()) {
    auto grad = p.grad();
    if (grad.defined()) lowbit::hooks::all_reduce_(grad, ReduceOp::Mean);
  }
}

struct Step {
  torch::Tensor output, input_grad, weight_grad, bias_grad;
};

// Two training steps of `bn` on `x` (the same input twice, fresh gradients each time); the second's
// output and gradients, gradients averaged over the replicas.
Step train_twice(BatchNormImpl& bn, const torch::Tensor& x, const torch::Tensor& loss_weights) {
  Step s;
  for (int i = 0; i < 2; ++i) {
    bn.zero_grad();
    auto input = x.detach().clone().requires_grad_(true);
    s.output = bn.forward(input);
    mean_loss(s.output, loss_weights).backward();
    average_gradients(bn);
    s.input_grad = input.grad();
    s.weight_grad = bn.weight.defined() ? bn.weight.grad().clone() : torch::Tensor();
    s.bias_grad = bn.bias.defined() ? bn.bias.grad().clone() : torch::Tensor();
  }
  return s;
}

bool close(const torch::Tensor& a, const torch::Tensor& b) {
  return a.defined() == b.defined() && (!a.defined() || torch::allclose(a, b, 1e-5, 1e-6));
}

// R replicas with sync_batch_norm on the halves of X against one process on X, for `options`.
void expect_sync_equals_one_process(const std::vector<int64_t>& shape, const BatchNormOptions& options) {
  torch::manual_seed(0);
  const auto x = two_halves(shape);
  const auto loss_weights = torch::rand_like(x);
  BatchNorm prototype(options);
  randomise(*prototype);

  auto single = copy_of(prototype);
  const auto whole = train_twice(*single, x, loss_weights);

  std::vector<Step> steps(kReplicas);
  std::vector<std::shared_ptr<BatchNormImpl>> replicas(kReplicas);
  lowbit::testing::run_replicas(kReplicas, [&](int64_t rank) {
    lowbit::hooks::replicas()->sync_batch_norm = true;
    replicas[rank] = copy_of(prototype);
    steps[rank] = train_twice(*replicas[rank], share(x, rank), share(loss_weights, rank));
  });

  for (int64_t r = 0; r < kReplicas; ++r) {
    SCOPED_TRACE("replica " + std::to_string(r));
    EXPECT_TRUE(close(steps[r].output, share(whole.output, r)));
    EXPECT_TRUE(close(steps[r].input_grad, kReplicas * share(whole.input_grad, r)));
    EXPECT_TRUE(close(steps[r].weight_grad, whole.weight_grad));
    EXPECT_TRUE(close(steps[r].bias_grad, whole.bias_grad));
    EXPECT_TRUE(close(replicas[r]->running_mean, single->running_mean));
    EXPECT_TRUE(close(replicas[r]->running_var, single->running_var));
    if (options.track_running_stats()) {
      EXPECT_EQ(replicas[r]->num_batches_tracked.item<int64_t>(), 2);
    }
  }
  // What the test can tell apart: one half's own batch norm is not the whole batch's.
  auto alone = copy_of(prototype);
  const auto own = train_twice(*alone, share(x, 0), share(loss_weights, 0));
  EXPECT_FALSE(close(own.output, share(whole.output, 0)));
  EXPECT_FALSE(close(own.input_grad, kReplicas * share(whole.input_grad, 0)));
}

// Two replicas whose shares are identical: Sum doubles, Mean / Min / Max keep the tensor. Records the
// shape of every reduced tensor.
class MirroredReplicas : public lowbit::hooks::Replicas {
 public:
  int64_t rank() const override { return 0; }
  int64_t world_size() const override { return 2; }
  void all_reduce(at::Tensor& tensor, ReduceOp op) override {
    reduced.push_back(tensor.sizes().vec());
    if (op == ReduceOp::Sum) tensor.mul_(2);
  }
  void broadcast(at::Tensor& tensor, int64_t root) override {}
  std::vector<std::vector<int64_t>> reduced;
};

}  // namespace

TEST(BatchNorm, HasTorchsParameterAndBufferNamesShapesAndInits) {
  for (const bool affine : {true, false}) {
    for (const bool track : {true, false}) {
      const auto options = BatchNormOptions(5).affine(affine).track_running_stats(track);
      BatchNorm ours(options);
      torch::nn::BatchNorm2d theirs(options);
      const auto ours_state = ours->named_parameters(), theirs_state = theirs->named_parameters();
      ASSERT_EQ(ours_state.keys(), theirs_state.keys()) << affine << track;
      for (const auto& p : theirs_state) EXPECT_TRUE(torch::equal(ours_state[p.key()], p.value())) << p.key();
      const auto ours_buffers = ours->named_buffers(), theirs_buffers = theirs->named_buffers();
      ASSERT_EQ(ours_buffers.keys(), theirs_buffers.keys()) << affine << track;
      for (const auto& b : theirs_buffers) {
        EXPECT_TRUE(torch::equal(ours_buffers[b.key()], b.value())) << b.key();
        EXPECT_EQ(ours_buffers[b.key()].scalar_type(), b.value().scalar_type()) << b.key();
      }
    }
  }
}

TEST(BatchNorm, LoadsATorchBatchNorm2dCheckpoint) {
  torch::manual_seed(1);
  torch::nn::BatchNorm2d theirs(4);
  randomise(*theirs);
  theirs->train();
  theirs(torch::randn({3, 4, 2, 2}));  // running statistics and num_batches_tracked move
  std::stringstream stream;
  torch::save(theirs, stream);
  BatchNorm ours(4);
  torch::load(ours, stream);
  for (const auto& t : theirs->named_parameters()) {
    EXPECT_TRUE(torch::equal(ours->named_parameters()[t.key()], t.value()));
  }
  for (const auto& t : theirs->named_buffers()) EXPECT_TRUE(torch::equal(ours->named_buffers()[t.key()], t.value()));
}

TEST(BatchNorm, AloneIsTorchBatchNormValuesGradientsAndRunningStats) {
  torch::manual_seed(2);
  struct Case {
    std::vector<int64_t> shape;
    BatchNormOptions options;
  };
  const std::vector<Case> cases = {{{6, 3, 4, 5}, BatchNormOptions(3)},
                                   {{6, 3, 4, 5}, BatchNormOptions(3).momentum(std::nullopt)},
                                   {{6, 3}, BatchNormOptions(3).affine(false)},
                                   {{6, 3, 7}, BatchNormOptions(3).track_running_stats(false)}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.shape.size());
    torch::nn::AnyModule theirs;
    if (c.shape.size() == 4) theirs = torch::nn::AnyModule(torch::nn::BatchNorm2d(c.options));
    if (c.shape.size() != 4) theirs = torch::nn::AnyModule(torch::nn::BatchNorm1d(c.options));
    randomise(*theirs.ptr());
    BatchNorm ours(c.options);
    {
      torch::NoGradGuard no_grad;
      for (const auto& p : theirs.ptr()->named_parameters()) ours->named_parameters()[p.key()].copy_(p.value());
    }
    const auto x = two_halves(c.shape), loss_weights = torch::rand_like(x);
    for (int step = 0; step < 3; ++step) {
      const bool training = step < 2;
      theirs.ptr()->train(training);
      ours->train(training);
      theirs.ptr()->zero_grad();
      ours->zero_grad();
      auto x_theirs = x.clone().requires_grad_(true), x_ours = x.clone().requires_grad_(true);
      const auto y_theirs = theirs.forward(x_theirs), y_ours = ours(x_ours);
      EXPECT_TRUE(torch::equal(y_ours, y_theirs)) << step;
      mean_loss(y_theirs, loss_weights).backward();
      mean_loss(y_ours, loss_weights).backward();
      EXPECT_TRUE(torch::equal(x_ours.grad(), x_theirs.grad())) << step;
      for (const auto& p : theirs.ptr()->named_parameters()) {
        EXPECT_TRUE(torch::equal(ours->named_parameters()[p.key()].grad(), p.value().grad())) << p.key() << step;
      }
      for (const auto& b : theirs.ptr()->named_buffers()) {
        EXPECT_TRUE(torch::equal(ours->named_buffers()[b.key()], b.value())) << b.key() << step;
      }
    }
  }
}

TEST(BatchNorm, RejectsAnInputWithAnotherChannelCount) {
  BatchNorm bn(3);
  EXPECT_NE(lowbit::testing::error_of([&] { bn(torch::randn({2, 4, 2, 2})); })
                .find("BatchNorm(3): expected an input [B, 3, ...], got shape [2, 4, 2, 2]"),
            std::string::npos);
}

TEST(SyncBatchNorm, TwoReplicasOnHalvesEqualOneProcessOnTheWholeBatch) {
  expect_sync_equals_one_process({8, 3, 4, 5}, BatchNormOptions(3));
}

TEST(SyncBatchNorm, CumulativeAverageAndNoAffineOnTwoDimensionalInputs) {
  expect_sync_equals_one_process({10, 4}, BatchNormOptions(4).momentum(std::nullopt).affine(false));
}

TEST(SyncBatchNorm, WithoutRunningStatisticsNormalisesByTheWholeBatch) {
  expect_sync_equals_one_process({6, 2, 9}, BatchNormOptions(2).track_running_stats(false));
}

TEST(SyncBatchNorm, HalfInputsAreNormalisedInFloat) {
  // Each replica's half-precision share against one process's float computation on the whole batch.
  torch::manual_seed(3);
  const auto x = two_halves({8, 3, 4, 4}), loss_weights = torch::rand_like(x);
  BatchNorm prototype(3);
  randomise(*prototype);
  auto single = copy_of(prototype);
  const auto whole = train_twice(*single, x.to(torch::kHalf).to(torch::kFloat), loss_weights);

  std::vector<Step> steps(kReplicas);
  std::vector<std::shared_ptr<BatchNormImpl>> replicas(kReplicas);
  lowbit::testing::run_replicas(kReplicas, [&](int64_t rank) {
    lowbit::hooks::replicas()->sync_batch_norm = true;
    replicas[rank] = copy_of(prototype);
    steps[rank] = train_twice(*replicas[rank], share(x, rank).to(torch::kHalf), share(loss_weights, rank));
  });
  for (int64_t r = 0; r < kReplicas; ++r) {
    EXPECT_EQ(steps[r].output.scalar_type(), torch::kHalf);
    EXPECT_EQ(steps[r].input_grad.scalar_type(), torch::kHalf);
    EXPECT_EQ(replicas[r]->running_var.scalar_type(), torch::kFloat);
    // Half's resolution, 2^-11 relative, on outputs of size ~3.
    EXPECT_TRUE(torch::allclose(steps[r].output.to(torch::kFloat), share(whole.output, r), 2e-3, 2e-3));
    EXPECT_TRUE(
        torch::allclose(steps[r].input_grad.to(torch::kFloat), kReplicas * share(whole.input_grad, r), 1e-2, 1e-4));
    EXPECT_TRUE(torch::allclose(steps[r].weight_grad, whole.weight_grad, 1e-2, 1e-4));
    EXPECT_TRUE(torch::allclose(steps[r].bias_grad, whole.bias_grad, 1e-2, 1e-4));
    EXPECT_TRUE(torch::allclose(replicas[r]->running_mean, single->running_mean, 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(replicas[r]->running_var, single->running_var, 1e-5, 1e-6));
  }
}

TEST(SyncBatchNorm, WithoutSyncEachReplicaIsTorchBatchNorm2dOnItsShare) {
  torch::manual_seed(4);
  const auto x = two_halves({8, 3, 4, 4}), loss_weights = torch::rand_like(x);
  BatchNorm prototype(3);
  randomise(*prototype);
  std::vector<Step> steps(kReplicas), expected(kReplicas);
  std::vector<std::shared_ptr<BatchNormImpl>> replicas(kReplicas);
  std::vector<torch::nn::BatchNorm2d> references(kReplicas, nullptr);
  lowbit::testing::run_replicas(kReplicas, [&](int64_t rank) {
    ASSERT_FALSE(lowbit::hooks::replicas()->sync_batch_norm);
    replicas[rank] = copy_of(prototype);
    references[rank] = torch::nn::BatchNorm2d(3);
    {
      torch::NoGradGuard no_grad;
      references[rank]->weight.copy_(prototype->weight);
      references[rank]->bias.copy_(prototype->bias);
    }
    steps[rank] = train_twice(*replicas[rank], share(x, rank), share(loss_weights, rank));
  });
  for (int64_t r = 0; r < kReplicas; ++r) {
    // Torch's batch norm on the share, the parameter gradients averaged as in the replicas.
    auto& reference = references[r];
    Step s;
    for (int i = 0; i < 2; ++i) {
      reference->zero_grad();
      auto input = share(x, r).clone().requires_grad_(true);
      s.output = reference(input);
      mean_loss(s.output, share(loss_weights, r)).backward();
      s.input_grad = input.grad();
    }
    EXPECT_TRUE(torch::equal(steps[r].output, s.output));
    EXPECT_TRUE(torch::equal(steps[r].input_grad, s.input_grad));
    EXPECT_TRUE(torch::equal(replicas[r]->running_mean, reference->running_mean));
    EXPECT_TRUE(torch::equal(replicas[r]->running_var, reference->running_var));
    expected[r].weight_grad = reference->weight.grad();
    expected[r].bias_grad = reference->bias.grad();
  }
  EXPECT_TRUE(torch::allclose(steps[0].weight_grad, (expected[0].weight_grad + expected[1].weight_grad) / 2));
  EXPECT_TRUE(torch::allclose(steps[0].bias_grad, (expected[0].bias_grad + expected[1].bias_grad) / 2));
}

TEST(SyncBatchNorm, CommunicatesOneTensorEachWayInTrainingAndNothingInEval) {
  // Mirrored replicas: the whole batch is this share twice, so the output and gradients are the
  // share's own batch norm, and running_var uses the unbiased factor of 2n values.
  torch::manual_seed(5);
  const auto x = two_halves({4, 3, 2, 2});
  BatchNorm reference(3);
  randomise(*reference);
  auto bn = copy_of(reference);
  MirroredReplicas mirrored;
  mirrored.sync_batch_norm = true;
  lowbit::hooks::ReplicasScope scope(&mirrored);

  auto input = x.clone().requires_grad_(true);
  const auto y = bn->forward(input);
  ASSERT_EQ(mirrored.reduced, (std::vector<std::vector<int64_t>>{{3, 3}}));  // [Σx, Σx², n] x C
  mean_loss(y, torch::ones_like(y)).backward();
  ASSERT_EQ(mirrored.reduced.size(), 2u);
  EXPECT_EQ(mirrored.reduced[1], (std::vector<int64_t>{2, 3}));  // [Σdy, Σdy (x - mean)] x C

  {
    lowbit::hooks::ReplicasScope alone(nullptr);
    auto plain_input = x.clone().requires_grad_(true);
    const auto plain = reference(plain_input);
    mean_loss(plain, torch::ones_like(plain)).backward();
    EXPECT_TRUE(torch::allclose(y, plain, 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(input.grad(), plain_input.grad(), 1e-5, 1e-6));
    const auto n = static_cast<double>(x.numel() / 3);
    const auto var = x.transpose(0, 1).reshape({3, -1}).var(1, /*unbiased=*/false);
    EXPECT_TRUE(torch::allclose(bn->running_var, 0.9 + 0.1 * var * (2 * n) / (2 * n - 1), 1e-5, 1e-6));
  }

  // Without an input gradient the backward keeps to local sums: only the forward reduces.
  bn->forward(x).sum().backward();
  EXPECT_EQ(mirrored.reduced.size(), 3u);

  bn->eval();
  const auto evaluated = bn->forward(x);
  reference->eval();
  {
    lowbit::hooks::ReplicasScope alone(nullptr);
    torch::NoGradGuard no_grad;
    reference->running_mean.copy_(bn->running_mean);
    reference->running_var.copy_(bn->running_var);
    EXPECT_TRUE(torch::equal(evaluated, reference(x)));
  }
  mirrored.sync_batch_norm = false;
  bn->train();
  bn->forward(x);
  EXPECT_EQ(mirrored.reduced.size(), 3u);
}
