// prefetch_to_device: on the CPU the wrapped reader itself; on a GPU the same batches, on the
// device, in order, with the wrapped reader's errors where they were. The CUDA tests skip where no
// GPU is present (scripts/gpu-check runs them on one).
#include <lowbit/config.h>
#include <lowbit/csrc/engine/datasets/device_prefetch.h>
#include <lowbit/lowbit.h>

#include "support/require_gpu.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#ifdef LOWBIT_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <stdexcept>
#include <vector>

namespace {

using lowbit::engine::Batch;
using lowbit::engine::EpochReader;
using lowbit::engine::PrefetchOptions;
using lowbit::engine::prefetch_to_device;

// The given batches in order; next() throws instead of returning batch `fail_at`.
class ListReader : public EpochReader {
 public:
  explicit ListReader(std::vector<Batch> batches, int64_t fail_at = -1) : batches_(std::move(batches)), fail_at_(fail_at) {}
  bool next(Batch& batch) override {
    if (index_ >= static_cast<int64_t>(batches_.size())) return false;
    if (index_ == fail_at_) {
      ++index_;
      throw std::runtime_error("batch " + std::to_string(fail_at_) + " is corrupt");
    }
    batch = batches_[index_++];
    return true;
  }

 private:
  std::vector<Batch> batches_;
  int64_t fail_at_, index_ = 0;
};

// A detection-like batch: every kind of tensor a Batch holds, values depending on `seed`.
Batch make_batch(int64_t seed, int64_t size = 4) {
  torch::manual_seed(seed);
  Batch b;
  b.images = torch::randn({size, 3, 8, 10});
  b.labels = torch::randint(0, 10, {size}, torch::kLong);
  for (int64_t i = 0; i < size; ++i) {
    b.targets.push_back({{"boxes", torch::rand({i + 1, 4})}, {"image_id", torch::scalar_tensor(seed * 100 + i, torch::kLong)}});
  }
  b.meta = {{"mask", torch::rand({size, 8, 10}) > 0.5}, {"image_sizes", torch::full({size, 2}, 8.0)}};
  return b;
}

std::vector<Batch> make_batches(int64_t count) {
  std::vector<Batch> batches;
  for (int64_t i = 0; i < count; ++i) batches.push_back(make_batch(i));
  return batches;
}

// Same tensors (values, dtypes, shapes), wherever they are.
void expect_same_batch(const Batch& actual, const Batch& expected) {
  EXPECT_TRUE(torch::equal(actual.images.cpu(), expected.images));
  EXPECT_TRUE(torch::equal(actual.labels.cpu(), expected.labels));
  ASSERT_EQ(actual.targets.size(), expected.targets.size());
  for (size_t i = 0; i < expected.targets.size(); ++i) {
    ASSERT_EQ(actual.targets[i].size(), expected.targets[i].size());
    for (const auto& [name, t] : expected.targets[i]) EXPECT_TRUE(torch::equal(actual.targets[i].at(name).cpu(), t)) << name;
  }
  ASSERT_EQ(actual.meta.size(), expected.meta.size());
  for (const auto& [name, t] : expected.meta) EXPECT_TRUE(torch::equal(actual.meta.at(name).cpu(), t)) << name;
}

void expect_all_on(const Batch& batch, const torch::Device& device) {
  EXPECT_EQ(batch.images.device(), device);
  EXPECT_EQ(batch.labels.device(), device);
  for (const auto& target : batch.targets) {
    for (const auto& [name, t] : target) EXPECT_EQ(t.device(), device) << name;
  }
  for (const auto& [name, t] : batch.meta) EXPECT_EQ(t.device(), device) << name;
}

}  // namespace

TEST(DevicePrefetch, CpuReturnsTheWrappedReaderItself) {
  const auto batches = make_batches(3);
  auto list = std::make_unique<ListReader>(batches);
  const auto* wrapped = list.get();
  auto reader = prefetch_to_device(std::move(list), torch::kCPU);
  EXPECT_EQ(reader.get(), wrapped);
  Batch batch;
  for (const auto& expected : batches) {
    ASSERT_TRUE(reader->next(batch));
    EXPECT_TRUE(batch.images.is_same(expected.images));  // not copied
    expect_same_batch(batch, expected);
  }
  EXPECT_FALSE(reader->next(batch));
}

TEST(DevicePrefetch, CpuChannelsLastChangesOnlyTheImagesLayout) {
  const auto batches = make_batches(2);
  auto reader = prefetch_to_device(std::make_unique<ListReader>(batches), torch::kCPU, PrefetchOptions().channels_last(true));
  Batch batch;
  for (const auto& expected : batches) {
    ASSERT_TRUE(reader->next(batch));
    EXPECT_TRUE(batch.images.is_contiguous(torch::MemoryFormat::ChannelsLast));
    expect_same_batch(batch, expected);
    expect_all_on(batch, torch::kCPU);
  }
  EXPECT_FALSE(reader->next(batch));
}

TEST(DevicePrefetch, NullReaderIsRefused) {
  EXPECT_THROW(prefetch_to_device(nullptr, torch::kCPU), c10::ValueError);
}

TEST(DevicePrefetch, CudaBatchesEqualTheHostOnesOnTheDevice) {
  REQUIRE_GPU();
  const auto batches = make_batches(5);
  auto reader = prefetch_to_device(std::make_unique<ListReader>(batches), torch::kCUDA);
  Batch batch;
  for (const auto& expected : batches) {
    ASSERT_TRUE(reader->next(batch));
    expect_all_on(batch, torch::Device(torch::kCUDA, 0));
    expect_same_batch(batch, expected);
    EXPECT_TRUE(batch.images.is_contiguous());
  }
  EXPECT_FALSE(reader->next(batch));
  EXPECT_FALSE(reader->next(batch));  // and stays at the end
}

TEST(DevicePrefetch, CudaChannelsLastImages) {
  REQUIRE_GPU();
  const auto batches = make_batches(2);
  auto reader = prefetch_to_device(std::make_unique<ListReader>(batches), torch::kCUDA, PrefetchOptions().channels_last(true));
  Batch batch;
  for (const auto& expected : batches) {
    ASSERT_TRUE(reader->next(batch));
    EXPECT_TRUE(batch.images.is_cuda());
    EXPECT_TRUE(batch.images.is_contiguous(torch::MemoryFormat::ChannelsLast));
    expect_same_batch(batch, expected);
  }
}

TEST(DevicePrefetch, CudaReaderErrorComesOutInPlaceOfItsBatch) {
  REQUIRE_GPU();
  const auto batches = make_batches(4);
  auto reader = prefetch_to_device(std::make_unique<ListReader>(batches, /*fail_at=*/1), torch::kCUDA);
  Batch batch;
  ASSERT_TRUE(reader->next(batch));  // batch 1 is read ahead here: its error waits for its turn
  expect_same_batch(batch, batches[0]);
  EXPECT_THROW(reader->next(batch), std::runtime_error);
  for (size_t i : {2, 3}) {
    ASSERT_TRUE(reader->next(batch));
    expect_same_batch(batch, batches[i]);
  }
  EXPECT_FALSE(reader->next(batch));
}

#ifdef LOWBIT_WITH_CUDA
// The consumer computes on a stream of its own, slowly, and drops each batch early: batches are
// complete when it reads them and their memory is not reused while its kernels still run.
TEST(DevicePrefetch, CudaConsumerStreamSeesCompleteBatches) {
  REQUIRE_GPU();
  std::vector<Batch> batches;
  std::vector<double> sums;
  for (int64_t i = 0; i < 12; ++i) {
    Batch b;
    b.images = torch::full({64, 3, 64, 64}, static_cast<float>(i + 1));
    sums.push_back(b.images.sum().item<double>());
    batches.push_back(b);
  }
  const auto consumer = c10::cuda::getStreamFromPool();
  const c10::cuda::CUDAStreamGuard on_consumer(consumer);
  auto reader = prefetch_to_device(std::make_unique<ListReader>(batches), torch::kCUDA);
  const auto slow = torch::randn({1024, 1024}, torch::kCUDA);
  std::vector<torch::Tensor> totals;
  Batch batch;
  while (reader->next(batch)) {
    for (int k = 0; k < 20; ++k) (void)slow.mm(slow);  // keeps the consumer's stream busy
    totals.push_back(batch.images.sum(torch::kDouble));
    batch = Batch();
  }
  ASSERT_EQ(totals.size(), sums.size());
  for (size_t i = 0; i < sums.size(); ++i) EXPECT_DOUBLE_EQ(totals[i].item<double>(), sums[i]) << "batch " << i;
}
#endif
