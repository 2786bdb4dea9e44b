// Training hooks reach every module that has them, nested anywhere, and nothing else.
#include <lowbit/modules/hooks/training_hooks.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace {

struct CountingImpl : torch::nn::Cloneable<CountingImpl>, lowbit::hooks::TrainingHooks {
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x) { return x; }
  void on_epoch_begin(int64_t epoch, int64_t epochs) override {
    last_epoch = epoch;
    total = epochs;
  }
  void on_step_end() override { ++steps; }
  int64_t last_epoch = -1, total = 0, steps = 0;
};
TORCH_MODULE(Counting);

TEST(TrainingHooks, ReachNestedModules) {
  Counting outer, inner;
  torch::nn::Sequential model(outer, torch::nn::ReLU());
  model->register_module("nested", torch::nn::ModuleList(inner));
  lowbit::hooks::begin_epoch(*model, 3, 10);
  lowbit::hooks::end_step(*model);
  lowbit::hooks::end_step(*model);
  for (const auto& c : {outer, inner}) {
    EXPECT_EQ(c->last_epoch, 3);
    EXPECT_EQ(c->total, 10);
    EXPECT_EQ(c->steps, 2);
  }
}

TEST(TrainingHooks, RootModuleIsCalledToo) {
  Counting root;
  lowbit::hooks::begin_epoch(*root, 1, 2);
  EXPECT_EQ(root->last_epoch, 1);
}

}  // namespace
