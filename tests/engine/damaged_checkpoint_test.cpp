// A damaged checkpoint (truncated, bits flipped) is reported as bad input naming the file: the
// readers either load it (a flip inside tensor data may go unnoticed) or throw lowbit::InputError
// with one line starting with the path, never another exception or a crash; `lowbit eval
// --checkpoint` and `lowbit train --resume` of such a file exit with status 2 and that line, and a
// resume writes nothing into the run.
#include <lowbit/csrc/engine/checkpoint/checkpoint.h>
#include <lowbit/csrc/util/files.h>
#include <lowbit/csrc/util/input_error.h>

#include "support/run_cli.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <sstream>

namespace {

using lowbit::testing::TempDir;
namespace engine = lowbit::engine;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Runs `read` on `path`: true when it loaded, false when it threw the promised InputError.
bool loads_or_names_the_file(const std::string& path, const std::function<void()>& read) {
  try {
    read();
    return true;
  } catch (const lowbit::InputError& e) {
    const std::string msg = e.msg();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return false;
  }
}

std::set<std::string> listing(const std::string& dir) {
  std::set<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* entry = ::readdir(d)) names.insert(entry->d_name);
    ::closedir(d);
  }
  return names;
}

}  // namespace

TEST(DamagedCheckpoint, TruncatedAndBitFlippedFilesLoadOrNameTheFile) {
  TempDir dir;
  torch::manual_seed(0);
  torch::nn::Sequential model(torch::nn::Linear(6, 4), torch::nn::BatchNorm1d(4), torch::nn::Linear(4, 2));
  torch::optim::Adam optimizer(model->parameters());
  const auto good = dir.file("good.pt");
  engine::save_checkpoint(good, *model, optimizer, {1, 2, 3, 4});
  const auto bytes = read_bytes(good);
  ASSERT_GT(bytes.size(), 1000u);

  const auto damaged = dir.file("damaged.pt");
  const auto all_readers = [&](const std::string& path) {
    int loaded = 0;
    loaded += loads_or_names_the_file(path, [&] { engine::read_position(path); });
    loaded += loads_or_names_the_file(path, [&] { engine::read_checkpoint_model(path); });
    loaded += loads_or_names_the_file(path, [&] {
      torch::nn::Sequential into(torch::nn::Linear(6, 4), torch::nn::BatchNorm1d(4), torch::nn::Linear(4, 2));
      torch::optim::Adam into_optimizer(into->parameters());
      engine::load_checkpoint(path, *into, &into_optimizer);
    });
    return loaded;
  };
  // Every truncation loses the zip's central directory at the end: no reader loads.
  for (const size_t keep : {size_t{0}, size_t{3}, size_t{100}, bytes.size() / 2, bytes.size() - 1}) {
    write_bytes(damaged, bytes.substr(0, keep));
    EXPECT_EQ(all_readers(damaged), 0) << keep << " of " << bytes.size() << " bytes";
  }
  // 200 seeded single-bit flips: each loads or is named; flips in the zip's headers are caught.
  std::mt19937_64 rng(12);
  int rejected = 0;
  for (int i = 0; i < 200; ++i) {
    auto flipped = bytes;
    const auto at = std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(rng);
    flipped[at] = static_cast<char>(flipped[at] ^ (1 << (i % 8)));
    write_bytes(damaged, flipped);
    rejected += all_readers(damaged) < 3;
  }
  EXPECT_GT(rejected, 0);
  EXPECT_EQ(all_readers(good), 3);
}

TEST(DamagedCheckpoint, EvalAndResumeExitTwoNamingTheFile) {
  if (!lowbit::util::file_exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) GTEST_SKIP() << "Fashion-MNIST (Debian dataset-fashion-mnist) is absent";
  TempDir dir;
  const auto recipe = std::string(LOWBIT_SOURCE_DIR) + "/tests/engine/recipes/valid_base.yaml";
  const auto trained = lowbit::testing::run_cli({"train", recipe, "--set", "output=" + dir.path()});
  ASSERT_EQ(trained.status, 0) << trained.output;
  const auto run = dir.file("tiny");
  const auto checkpoint = run + "/checkpoint.pt";
  const auto bytes = read_bytes(checkpoint);
  write_bytes(checkpoint, bytes.substr(0, bytes.size() / 2));
  const auto before = listing(run);

  for (const auto& args : std::vector<std::vector<std::string>>{{"eval", recipe, "--checkpoint", checkpoint},
                                                               {"train", "--resume", run}}) {
    const auto r = lowbit::testing::run_cli(args);
    EXPECT_EQ(r.status, 2) << args[0] << ": " << r.output;
    EXPECT_EQ(r.output.rfind("lowbit: error: " + checkpoint + ": cannot load this checkpoint (", 0), 0u) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  }
  EXPECT_EQ(listing(run), before);
  EXPECT_EQ(read_bytes(checkpoint).size(), bytes.size() / 2);
}
