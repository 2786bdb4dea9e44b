#pragma once
// Repeated augmentation (Hoffer et al., CVPR 2020; Berman et al. 2019) as DeiT's RASampler
// (facebookresearch/deit samplers.py), on the whole epoch order that data::Shard then cuts into
// each process's part. DeiT's sampler, for R processes and `repeats` copies:
//   indices = randperm(N) with every index repeated `repeats` times in a row (repeat_interleave),
//   process r takes positions r, r + R, r + 2R, ... of it, and keeps its first
//   floor(floor(N / 256) * 256 / R).
// So the R processes' k-th batches together are positions [k B, (k + 1) B) of the repeated list
// (B the whole batch): one process, or our equal shares of every batch, see exactly these whole
// batches, and an epoch keeps the first floor(N / 256) * 256 positions, whatever R is. Each
// process's part of a batch differs from DeiT's (consecutive instead of strided positions), which
// only changes where each copy is computed. Every copy is augmented independently: copy c of a
// sample draws its augmentation from the stream c N + sample (ordered_batches.h).

#include <cstdint>
#include <vector>

namespace lowbit::data {

// The samples in one epoch: N without repeats (repeats = 1), floor(N / 256) * 256 with them.
int64_t repeated_epoch_length(int64_t num_samples, int64_t repeats);

// One entry of an epoch's order: the sample, and which of its copies this is (0 without repeats).
struct EpochEntry {
  int64_t sample;
  int64_t copy;
};

// `permutation` (of the N samples) with each entry repeated `repeats` times in a row, truncated
// to repeated_epoch_length(N, repeats).
std::vector<EpochEntry> repeated_order(const std::vector<int64_t>& permutation, int64_t repeats);

}  // namespace lowbit::data
