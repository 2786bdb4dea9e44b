// A checkpoint loads onto the device of the model it is loaded into, whichever device it was
// written from (LibTorch's Module::load would move each parameter to the device its saved tensor
// is read onto: rank 1's model on cuda:1 to cuda:0, a CPU model to the GPU), and a model on a GPU
// gets that GPU's generator state back (its dropout and drop-path masks), as it gets the CPU's.
// Needs a GPU (Resume.KilledMidEpochEndsBitExact loads CPU files on the CPU).
#include <lowbit/csrc/engine/checkpoint/checkpoint.h>

#include "support/require_gpu.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace {

struct Trained {
  torch::nn::Linear model{torch::nn::LinearOptions(6, 3)};
  torch::optim::SGD sgd{model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9)};

  explicit Trained(const torch::Device& device) {
    model->to(device);  // the same parameters (set_data), now on `device`
    model(torch::randn({4, 6}, device)).sum().backward();  // momentum buffers on `device`
    sgd.step();
  }
};

void expect_on(const torch::nn::Module& model, const torch::optim::Optimizer& optimizer, const torch::Device& device) {
  for (const auto& p : model.parameters()) EXPECT_EQ(p.device(), device);
  int64_t states = 0;
  for (const auto& [key, state] : optimizer.state()) {
    const auto& buffer = static_cast<const torch::optim::SGDParamState&>(*state).momentum_buffer();
    EXPECT_EQ(buffer.device(), device);
    ++states;
  }
  EXPECT_EQ(states, 2);
}

// Written from `from`, loaded into a model on `into`: the model stays there and gets the values.
void expect_loads_across(const torch::Device& from, const torch::Device& into) {
  SCOPED_TRACE(from.str() + " -> " + into.str());
  lowbit::testing::TempDir dir;
  const auto path = dir.file("checkpoint.pt");
  Trained saved(from), loaded(into);
  lowbit::engine::save_checkpoint(path, *saved.model, saved.sgd, {0, 1, 2, 3});
  const auto position = lowbit::engine::load_checkpoint(path, *loaded.model, &loaded.sgd);
  EXPECT_EQ(position.step, 3);
  expect_on(*loaded.model, loaded.sgd, into);
  EXPECT_TRUE(torch::equal(loaded.model->weight.cpu(), saved.model->weight.cpu()));
}

}  // namespace

TEST(CudaCheckpoint, LoadsAcrossDevicesAndRestoresTheGpuGenerator) {
  REQUIRE_GPU();
  const torch::Device gpu(torch::kCUDA, 0);
  expect_loads_across(gpu, torch::kCPU);
  expect_loads_across(torch::kCPU, gpu);
  expect_loads_across(gpu, gpu);
  // The GPU's generator: the draws after a save are drawn again after a load.
  lowbit::testing::TempDir dir;
  const auto path = dir.file("checkpoint.pt");
  Trained run(gpu);
  lowbit::engine::save_checkpoint(path, *run.model, run.sgd, {});
  const auto first = torch::rand({1000}, gpu);
  lowbit::engine::load_checkpoint(path, *run.model, &run.sgd);
  EXPECT_TRUE(torch::equal(torch::rand({1000}, gpu), first));
}
