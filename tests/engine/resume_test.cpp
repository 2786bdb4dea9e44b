// A run killed mid-epoch and resumed ends with the same weights, bit for bit, as an
// uninterrupted run (fixed seed), on the CPU and on CUDA (with a GPU). Runs the real `lowbit train`
// in child processes.
#include <lowbit/csrc/engine/checkpoint/checkpoint.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/build.h>
#include <lowbit/csrc/engine/train.h>
#include <lowbit/csrc/util/files.h>

#include "support/require_gpu.h"
#include "support/spawn_cli.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace {

using lowbit::testing::TempDir;

int wait_for(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

torch::OrderedDict<std::string, torch::Tensor> final_state(const lowbit::engine::Recipe& recipe, const std::string& run) {
  auto model = lowbit::engine::build_model(recipe, recipe.stages.size() - 1);
  lowbit::engine::load_checkpoint(lowbit::util::join_path(run, "checkpoint.pt"), *model, nullptr);
  auto state = model->named_parameters();
  for (const auto& b : model->named_buffers()) state.insert(b.key(), b.value());
  return state;
}

bool fashion_mnist_installed() {
  return lowbit::util::file_exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
}

// Runs the recipe below uninterrupted and killed in its second stage then resumed, on `device`.
void expect_killed_run_resumes_bit_exact(const std::string& device) {
  TempDir dir;
  // 3000 images in batches of 50: 60 steps an epoch, 2 epochs, two stages, a checkpoint every 7 steps.
  const std::string recipe_path = dir.file("recipe.yaml");
  dir.write("recipe.yaml", R"(
name: resume
seed: 3
data: {dataset: fashion_mnist, batch_size: 50, limit_train: 3000, limit_test: 500}
model: {name: small_cnn, channels: [16, 32], weight_quantizer: {name: xnor}, input_quantizer: {name: sign, ste: approx}}
stages:
  - {name: warm, epochs: 1, optimizer: {name: adam, lr: 0.002}, input_quantizer: {name: identity}}
  - {name: binary, epochs: 2, optimizer: {name: sgd, lr: 0.05, momentum: 0.9}, schedule: {name: cosine}}
train: {checkpoint_every: 7, log_every: 10}
device: )" + device + "\n");
  const auto recipe = lowbit::engine::parse_recipe(recipe_path);

  ASSERT_EQ(wait_for(lowbit::testing::spawn_cli({"train", recipe_path, "--set", "output=" + dir.file("a")})), 0);

  const pid_t victim = lowbit::testing::spawn_cli({"train", recipe_path, "--set", "output=" + dir.file("b")});
  const auto run_b = dir.file("b/resume");
  const auto checkpoint = lowbit::util::join_path(run_b, "checkpoint.pt");
  lowbit::engine::Position seen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while (std::chrono::steady_clock::now() < deadline) {
    if (lowbit::util::file_exists(checkpoint)) {
      seen = lowbit::engine::read_position(checkpoint);
      if (seen.stage == 1 && seen.batch > 0) break;  // mid-epoch in the second stage
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(victim, SIGKILL);
  ASSERT_EQ(wait_for(victim), -SIGKILL) << "the run finished before it could be killed";
  ASSERT_EQ(seen.stage, 1);
  ASSERT_GT(seen.batch, 0);

  ASSERT_EQ(wait_for(lowbit::testing::spawn_cli({"train", "--resume", run_b})), 0);
  const auto a = final_state(recipe, dir.file("a/resume"));
  const auto b = final_state(recipe, run_b);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& entry : a) {
    EXPECT_TRUE(torch::equal(entry.value(), b[entry.key()])) << entry.key();
  }
  EXPECT_EQ(lowbit::engine::read_position(checkpoint).step, 180);
}

}  // namespace

TEST(Resume, KilledMidEpochEndsBitExact) {
  if (!fashion_mnist_installed()) GTEST_SKIP() << "Fashion-MNIST (Debian dataset-fashion-mnist) is absent";
  expect_killed_run_resumes_bit_exact("cpu");
}

TEST(CudaResume, KilledMidEpochEndsBitExact) {
  REQUIRE_GPU();
  if (!fashion_mnist_installed()) GTEST_SKIP() << "Fashion-MNIST (Debian dataset-fashion-mnist) is absent";
  expect_killed_run_resumes_bit_exact("cuda");
}
