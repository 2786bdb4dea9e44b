// Repeated augmentation (DeiT's RASampler, samplers.py) on the epoch order: each index three times
// in a row, shuffled per epoch, the epoch cut to floor(N / 256) * 256, each copy with its own
// augmentation stream; with data-parallel shares the processes' k-th batches together are exactly
// DeiT's R replicas' k-th batches.
#include <lowbit/csrc/data/ordered_batches.h>
#include <lowbit/csrc/data/repeated_augment.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

namespace {

namespace data = lowbit::data;

struct Drawn {
  std::vector<int64_t> samples;
  std::vector<uint64_t> streams;
};

// Every batch of `epoch` (the shard's part) as its request's samples and streams.
std::vector<Drawn> epoch_batches(int64_t num_samples, data::BatchingOptions options, int64_t epoch,
                                 data::Shard shard = {}) {
  data::OrderedBatches batches("test", num_samples, options.workers(2), [](const data::BatchRequest& request) {
    data::BuiltBatch built;
    built.batch = Drawn{request.samples, request.streams};
    return built;
  });
  batches.start_epoch(epoch, 0, shard);
  std::vector<Drawn> out;
  while (auto batch = batches.next()) out.push_back(std::any_cast<Drawn>(*batch));
  return out;
}

std::vector<int64_t> concatenated(const std::vector<Drawn>& batches) {
  std::vector<int64_t> all;
  for (const auto& b : batches) all.insert(all.end(), b.samples.begin(), b.samples.end());
  return all;
}

}  // namespace

TEST(RepeatedAugment, EpochLengthIsDeitsFloorTo256) {
  EXPECT_EQ(data::repeated_epoch_length(1000, 1), 1000);
  EXPECT_EQ(data::repeated_epoch_length(1000, 3), 768);
  EXPECT_EQ(data::repeated_epoch_length(1281167, 3), 1281024);  // ImageNet-1k: 5004 batches of 256
  EXPECT_EQ(data::repeated_epoch_length(255, 3), 0);
}

TEST(RepeatedAugment, EachIndexThreeTimesInARowWithItsCopyNumber) {
  std::vector<int64_t> permutation(600);
  for (int64_t i = 0; i < 600; ++i) permutation[i] = (i * 7) % 600;
  const auto order = data::repeated_order(permutation, 3);
  ASSERT_EQ(order.size(), 512u);  // floor(600 / 256) * 256
  for (size_t p = 0; p < order.size(); ++p) {
    EXPECT_EQ(order[p].sample, permutation[p / 3]);
    EXPECT_EQ(order[p].copy, static_cast<int64_t>(p % 3));
  }
}

TEST(RepeatedAugment, LoaderEpochsRepeatShuffleAndSeedEveryCopyApart) {
  const auto options = data::BatchingOptions().batch_size(64).seed(9).repeats(3);
  const auto batches = epoch_batches(1000, options, 0);
  ASSERT_EQ(batches.size(), 12u);  // 768 / 64
  const auto samples = concatenated(batches);
  ASSERT_EQ(samples.size(), 768u);
  std::map<int64_t, int> count;
  for (size_t p = 0; p < samples.size(); ++p) {
    ++count[samples[p]];
    if (p % 3 != 0) EXPECT_EQ(samples[p], samples[p - 1]);
  }
  for (const auto& [sample, n] : count) EXPECT_EQ(n, 3) << sample;  // 768 = 256 whole triples
  std::set<uint64_t> streams;
  for (const auto& b : batches) streams.insert(b.streams.begin(), b.streams.end());
  EXPECT_EQ(streams.size(), 768u);  // no two copies share an augmentation
  EXPECT_EQ(batches[0].streams[0] % 1000, static_cast<uint64_t>(batches[0].samples[0]));
  EXPECT_NE(concatenated(epoch_batches(1000, options, 1)), samples);  // reshuffled per epoch
  EXPECT_EQ(concatenated(epoch_batches(1000, options, 0)), samples);  // and fixed by (seed, epoch)
}

TEST(RepeatedAugment, WithoutRepeatsTheStreamIsTheSample) {
  const auto batches = epoch_batches(100, data::BatchingOptions().batch_size(32).seed(1), 0);
  EXPECT_EQ(batches.size(), 4u);
  for (const auto& b : batches) {
    for (size_t k = 0; k < b.samples.size(); ++k) EXPECT_EQ(b.streams[k], static_cast<uint64_t>(b.samples[k]));
  }
}

TEST(RepeatedAugment, SharesTogetherAreDeitsReplicasBatches) {
  const int64_t n = 1000, replicas = 4, local = 16;
  const auto options = data::BatchingOptions().batch_size(replicas * local).seed(3).repeats(3);
  const auto whole = concatenated(epoch_batches(n, options, 2));
  // DeiT's RASampler on the same repeated list: replica r takes positions r, r + R, ... and keeps
  // floor(floor(N / 256) * 256 / R); its k-th local batch is positions [k l, (k + 1) l) of that.
  std::vector<std::vector<int64_t>> deit(replicas);
  const int64_t kept = n / 256 * 256 / replicas;
  for (int64_t r = 0; r < replicas; ++r) {
    for (int64_t j = 0; j < kept; ++j) deit[r].push_back(whole[r + j * replicas]);
  }
  std::vector<std::vector<Drawn>> shares;
  for (int64_t r = 0; r < replicas; ++r) shares.push_back(epoch_batches(n, options, 2, {r, replicas, true}));
  for (size_t k = 0; k < shares[0].size(); ++k) {
    std::multiset<int64_t> ours, theirs;
    for (int64_t r = 0; r < replicas; ++r) {
      ASSERT_EQ(shares[r][k].samples.size(), static_cast<size_t>(local));
      ours.insert(shares[r][k].samples.begin(), shares[r][k].samples.end());
      theirs.insert(deit[r].begin() + k * local, deit[r].begin() + (k + 1) * local);
    }
    EXPECT_EQ(ours, theirs) << "batch " << k;
  }
  EXPECT_EQ(shares[0].size() * local, static_cast<size_t>(kept));
}

TEST(RepeatedAugment, TooFewSamplesForOneEpochIsAnError) {
  EXPECT_THROW(epoch_batches(200, data::BatchingOptions().repeats(3), 0), c10::Error);
}
