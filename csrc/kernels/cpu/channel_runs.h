#pragma once
// Parallel loops over a tensor viewed as [outer, channels, inner] (kernels/lsq.h ChannelLayout)
// for kernels with per-channel state and per-channel gradient sums.
//
// The flat input is cut into blocks of kBlock elements, one task each; inside a block the
// elements come in runs of one channel (the rows of the [outer, channels, inner] view). A block
// writes one partial sum per channel, so the reductions need no atomics, do not depend on the
// thread count, and a small `inner` (per-feature state on the last axis of tokens, inner = 1)
// costs no task per row.

#include <lowbit/csrc/kernels/lsq.h>

#include <ATen/Parallel.h>

#include <algorithm>

namespace lowbit::kernels::cpu {

constexpr int64_t kChannelRunBlock = 16384;

inline int64_t numel_of(const ChannelLayout& layout) { return layout.outer * layout.channels * layout.inner; }
inline int64_t blocks_of(const ChannelLayout& layout) {
  return (numel_of(layout) + kChannelRunBlock - 1) / kChannelRunBlock;
}

// Calls fn(channel, first, last) for every run [first, last) of one channel in block `block`.
template <typename Fn>
void for_each_run_of_block(const ChannelLayout& layout, int64_t block, const Fn& fn) {
  const int64_t last = std::min(numel_of(layout), (block + 1) * kChannelRunBlock);
  int64_t first = block * kChannelRunBlock, row = first / layout.inner, channel = row % layout.channels;
  while (first < last) {
    const int64_t stop = std::min(last, (row + 1) * layout.inner);
    fn(channel, first, stop);
    first = stop;
    ++row;
    if (++channel == layout.channels) channel = 0;
  }
}

// For a layout with inner == 1 (one value per channel, the channels adjacent: per-feature state on
// the last axis of tokens), where runs are single elements: calls fn(channel, first, last) for
// every piece [first, last) of a row of channels inside block `block`; element i of a piece has
// channel `channel + (i - first)`.
template <typename Fn>
void for_each_row_piece_of_block(const ChannelLayout& layout, int64_t block, const Fn& fn) {
  const int64_t last = std::min(numel_of(layout), (block + 1) * kChannelRunBlock);
  for (int64_t first = block * kChannelRunBlock; first < last;) {
    const int64_t channel = first % layout.channels, stop = std::min(last, first + layout.channels - channel);
    fn(channel, first, stop);
    first = stop;
  }
}

// Calls fn(block) for every block, in parallel.
template <typename Fn>
void for_each_block(const ChannelLayout& layout, const Fn& fn) {
  at::parallel_for(0, blocks_of(layout), 1, [&](int64_t begin, int64_t end) {
    for (int64_t block = begin; block < end; ++block) fn(block);
  });
}

// Calls fn(block, channel, first, last) for every run [first, last) of one channel, in parallel over blocks.
template <typename Fn>
void for_each_run(const ChannelLayout& layout, const Fn& fn) {
  for_each_block(layout, [&](int64_t block) {
    for_each_run_of_block(layout, block,
                          [&](int64_t channel, int64_t first, int64_t last) { fn(block, channel, first, last); });
  });
}

}  // namespace lowbit::kernels::cpu
