// layers::BatchNorm with ghost batches (batch_norm.h): a training batch normalised in chunks of G
// samples equals one torch::nn::BatchNorm per chunk (as nn.DataParallel's replicas, each on its
// share): outputs and input gradients chunk by chunk, weight and bias gradients summed over the
// chunks (the replicas' gradients reduced onto the module), running statistics those of the first
// chunk's module (replica 0's, the module's own buffers).
#include <lowbit/modules/layers/batch_norm.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

using lowbit::layers::BatchNorm;
using lowbit::layers::BatchNormOptions;

namespace {

struct Replica {
  torch::nn::BatchNorm2d bn{nullptr};
  torch::Tensor x, y;
};

void check_against_replicas(const BatchNormOptions& options, int64_t ghost_batch, int64_t batch) {
  torch::manual_seed(3);
  BatchNorm ghost(options);
  ghost->ghost_batch = ghost_batch;
  {
    torch::NoGradGuard no_grad;
    ghost->weight.uniform_(0.5, 1.5);
    ghost->bias.uniform_(-0.5, 0.5);
  }
  const auto x = torch::randn({batch, options.num_features(), 3, 2}) * 2 + 1;
  const auto upstream = torch::randn_like(x);
  auto x_ghost = x.clone().requires_grad_();
  const auto y = ghost(x_ghost);
  (y * upstream).sum().backward();

  std::vector<Replica> replicas;
  auto dweight = torch::zeros_like(ghost->weight), dbias = torch::zeros_like(ghost->bias);
  for (int64_t start = 0, i = 0; start < batch; start += ghost_batch, ++i) {
    const int64_t rows = std::min(ghost_batch, batch - start);
    Replica r;
    r.bn = torch::nn::BatchNorm2d(options);
    {
      torch::NoGradGuard no_grad;
      r.bn->weight.copy_(ghost->weight);
      r.bn->bias.copy_(ghost->bias);
    }
    r.x = x.narrow(0, start, rows).clone().requires_grad_();
    r.y = r.bn(r.x);
    (r.y * upstream.narrow(0, start, rows)).sum().backward();
    EXPECT_TRUE(torch::allclose(y.narrow(0, start, rows), r.y, 1e-5, 1e-6)) << "chunk " << i;
    EXPECT_TRUE(torch::allclose(x_ghost.grad().narrow(0, start, rows), r.x.grad(), 1e-4, 1e-5)) << "chunk " << i;
    dweight += r.bn->weight.grad();
    dbias += r.bn->bias.grad();
    replicas.push_back(r);
  }
  ASSERT_GT(replicas.size(), 1u);
  EXPECT_TRUE(torch::allclose(ghost->weight.grad(), dweight, 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(ghost->bias.grad(), dbias, 1e-4, 1e-5));
  const auto& first = replicas.front().bn;
  EXPECT_TRUE(torch::allclose(ghost->running_mean, first->running_mean, 1e-5, 1e-7));
  EXPECT_TRUE(torch::allclose(ghost->running_var, first->running_var, 1e-5, 1e-7));
  EXPECT_EQ(ghost->num_batches_tracked.item<int64_t>(), 1);
}

}  // namespace

TEST(GhostBatchNorm, EachChunkIsTorchBatchNormOnItsShareRunningStatsOfTheFirst) {
  check_against_replicas(BatchNormOptions(3), 4, 12);
  check_against_replicas(BatchNormOptions(3), 4, 10);  // a shorter last chunk
  check_against_replicas(BatchNormOptions(2).momentum(std::nullopt), 3, 9);  // cumulative average
}

TEST(GhostBatchNorm, WholeBatchesAndEvaluationAreUnchanged) {
  torch::manual_seed(5);
  BatchNorm ghost(BatchNormOptions(3)), plain(BatchNormOptions(3));
  ghost->ghost_batch = 8;
  const auto x = torch::randn({8, 3, 2, 2});
  EXPECT_TRUE(torch::equal(ghost(x), plain(x)));  // a batch of at most G samples is one chunk
  ghost->eval();
  plain->eval();
  const auto more = torch::randn({16, 3, 2, 2});
  EXPECT_TRUE(torch::equal(ghost(more), plain(more)));  // running statistics in evaluation
}

TEST(GhostBatchNorm, SetGhostBatchReachesEveryBatchNorm) {
  torch::nn::Sequential inner(BatchNorm(BatchNormOptions(2)));
  torch::nn::Sequential net(BatchNorm(BatchNormOptions(2)), torch::nn::ReLU());
  net->register_module("inner", inner);
  lowbit::layers::set_ghost_batch(*net, 32);
  int64_t count = 0;
  for (const auto& m : net->modules()) {
    if (auto* bn = dynamic_cast<lowbit::layers::BatchNormImpl*>(m.get())) {
      EXPECT_EQ(bn->ghost_batch, 32);
      ++count;
    }
  }
  EXPECT_EQ(count, 2);
  EXPECT_THROW(lowbit::layers::set_ghost_batch(*net, -1), c10::ValueError);
}
