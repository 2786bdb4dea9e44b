// The data readers on damaged files: seeded truncations and bit flips of valid IDX (raw and
// gzip), MNIST-pair and CIFAR-10 / CIFAR-100 files. Each read either succeeds with labels in range
// or throws one line naming the damaged file (or, for a pair that no longer agrees, both files);
// never a crash or another exception.
#include <lowbit/csrc/data/cifar.h>
#include <lowbit/csrc/data/idx.h>
#include <lowbit/csrc/data/mnist.h>
#include <lowbit/csrc/util/files.h>

#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <functional>
#include <random>

namespace {

using lowbit::testing::TempDir;
using FuzzRng = std::mt19937_64;

std::string idx_file(unsigned char type, const std::vector<uint32_t>& dims, const std::string& data) {
  std::string h = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (auto d : dims) h += {char(d >> 24), char(d >> 16), char(d >> 8), char(d)};
  return h + data;
}

std::string pattern(size_t n, unsigned modulo) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>(i * 7 % modulo);
  return out;
}

// `bytes` truncated (first half of the cases) or with 1-3 bits flipped.
std::string damaged(const std::string& bytes, FuzzRng& rng, int round) {
  if (round % 2 == 0) return bytes.substr(0, std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(rng));
  auto out = bytes;
  for (int i = 0, n = 1 + round % 3; i < n; ++i) {
    const auto at = std::uniform_int_distribution<size_t>(0, out.size() - 1)(rng);
    out[at] = static_cast<char>(out[at] ^ (1 << std::uniform_int_distribution<int>(0, 7)(rng)));
  }
  return out;
}

// Runs `read`; a throw must be one c10::Error line naming `file`. Returns whether it loaded.
bool loads_or_names(const std::string& file, const std::function<void()>& read) {
  try {
    read();
    return true;
  } catch (const c10::Error& e) {
    const std::string msg = e.msg();
    EXPECT_NE(msg.find(file), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return false;
  }
}

// `rounds` damaged versions of `name` (holding `good`) in `dir`, each read by `read` (which checks
// what it loaded); returns how many were rejected. Every truncation (even rounds) must be.
int fuzz(const TempDir& dir, const std::string& name, const std::string& good, bool gzip, int rounds,
         const std::function<void()>& read) {
  FuzzRng rng(std::hash<std::string>()(name));
  int rejected = 0;
  for (int round = 0; round < rounds; ++round) {
    dir.write(name, damaged(good, rng, round), gzip);
    SCOPED_TRACE(name + " round " + std::to_string(round));
    rejected += !loads_or_names(dir.file(name), read);
  }
  dir.write(name, good, gzip);
  EXPECT_TRUE(loads_or_names(dir.file(name), read)) << name << " undamaged";
  return rejected;
}

// A gzip file damaged after compression, as a download cut short or a bad disk does.
int fuzz_compressed(const TempDir& dir, const std::string& name, const std::string& good, int rounds,
                    const std::function<void()>& read) {
  dir.write(name, good, /*gzip=*/true);
  const auto compressed = lowbit::util::read_file(dir.file(name));
  FuzzRng rng(std::hash<std::string>()(name) + 1);
  int rejected = 0;
  for (int round = 0; round < rounds; ++round) {
    dir.write(name, damaged(compressed, rng, round));
    SCOPED_TRACE(name + " (compressed) round " + std::to_string(round));
    rejected += !loads_or_names(dir.file(name), read);
  }
  dir.write(name, good, true);
  return rejected;
}

}  // namespace

TEST(ReaderFuzz, IdxAndMnistFilesTruncatedOrFlipped) {
  TempDir dir;
  const auto images = idx_file(0x08, {6, 5, 4}, pattern(6 * 5 * 4, 256));
  const auto labels = idx_file(0x08, {6}, pattern(6, 10));
  dir.write("t10k-labels-idx1-ubyte", labels);
  const auto read_pair = [&] {
    const auto set = lowbit::data::load_mnist(dir.path(), lowbit::data::Split::Test);
    EXPECT_LT(set.labels.max().item<int64_t>(), 10);
  };
  const auto raw_images = dir.file("t10k-images-idx3-ubyte");
  EXPECT_GE(fuzz(dir, "t10k-images-idx3-ubyte", images, false, 120, read_pair), 60);
  EXPECT_GE(fuzz(dir, "t10k-labels-idx1-ubyte", labels, false, 120, read_pair), 60);
  EXPECT_GE(fuzz(dir, "floats.idx", idx_file(0x0D, {3, 2}, pattern(24, 256)), false, 60,
                 [&] { lowbit::data::read_idx(dir.file("floats.idx")); }),
            30);
  // Gzip: damaged before compression (the IDX checks) and after (zlib's CRC and length checks).
  lowbit::util::remove_tree(raw_images);
  EXPECT_GE(fuzz(dir, "t10k-images-idx3-ubyte.gz", images, true, 60, read_pair), 30);
  EXPECT_GE(fuzz_compressed(dir, "t10k-images-idx3-ubyte.gz", images, 120, read_pair), 60);
}

TEST(ReaderFuzz, CifarFilesTruncatedOrFlipped) {
  TempDir dir;
  std::string records;
  for (int i = 0; i < 3; ++i) records += std::string(1, char(i * 3)) + pattern(3072, 256);
  const auto read10 = [&] {
    const auto set = lowbit::data::load_cifar(dir.path(), lowbit::data::Split::Test, lowbit::data::CifarVariant::Cifar10);
    EXPECT_LT(set.labels.max().item<int64_t>(), 10);
  };
  // A truncation at a record boundary is a smaller valid file: at most a few of the 60 are.
  EXPECT_GE(fuzz(dir, "test_batch.bin", records, false, 120, read10), 55);
  std::string records100;
  for (int i = 0; i < 3; ++i) records100 += std::string{char(i), char(i * 30)} + pattern(3072, 256);
  const auto read100 = [&] {
    const auto set =
        lowbit::data::load_cifar(dir.path(), lowbit::data::Split::Test, lowbit::data::CifarVariant::Cifar100Fine);
    EXPECT_LT(set.labels.max().item<int64_t>(), 100);
  };
  EXPECT_GE(fuzz(dir, "test.bin", records100, false, 120, read100), 55);
  EXPECT_GE(fuzz_compressed(dir, "test.bin", records100, 60, read100), 30);
}
