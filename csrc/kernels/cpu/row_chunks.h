#pragma once
// Parallel loops over a tensor viewed as [rows, cols] with per-row statistics (kernels/
// weight_quantizers.h). A row longer than kRowChunk elements is cut into equal chunks, short rows
// are grouped into one task; row sums are accumulated per chunk in double and added in chunk order,
// so they do not depend on the thread count.

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace lowbit::kernels::cpu {

constexpr int64_t kRowChunk = 16384;

struct RowChunks {
  int64_t rows, cols, per_row, length;  // chunks per row, elements per chunk (the last may be shorter)

  RowChunks(int64_t rows_, int64_t cols_)
      : rows(rows_), cols(cols_), per_row(std::max<int64_t>(1, (cols_ + kRowChunk - 1) / kRowChunk)),
        length((cols_ + per_row - 1) / per_row) {}

  // fn(row, chunk, first, last) over flat indices [first, last), chunk = row * per_row + k.
  template <typename Fn>
  void for_each(const Fn& fn) const {
    if (rows == 0 || cols == 0) return;
    const int64_t grain = std::max<int64_t>(1, kRowChunk / std::max<int64_t>(1, length));
    at::parallel_for(0, rows * per_row, grain, [&](int64_t begin, int64_t end) {
      for (int64_t chunk = begin; chunk < end; ++chunk) {
        const int64_t row = chunk / per_row, first = row * cols + (chunk % per_row) * length;
        fn(row, chunk, first, std::min(first + length, (row + 1) * cols));
      }
    });
  }

  // Per-row sums: sum(row, first, last) returns a chunk's std::array<double, k>; the rows' totals.
  template <typename Sum>
  auto sums(const Sum& sum) const {
    using Sums = decltype(sum(int64_t{}, int64_t{}, int64_t{}));
    std::vector<Sums> partial(static_cast<size_t>(rows * per_row));
    for_each([&](int64_t row, int64_t chunk, int64_t first, int64_t last) { partial[chunk] = sum(row, first, last); });
    std::vector<Sums> total(static_cast<size_t>(rows), Sums{});
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t k = 0; k < per_row; ++k) {
        for (size_t t = 0; t < total[row].size(); ++t) total[row][t] += partial[row * per_row + k][t];
      }
    }
    return total;
  }

  // Row statistics, then an element-wise pass that uses them. Each stage is a Reduction (below):
  // its sums over the row, then its finish(row, totals), which stores what the later stages need.
  // Rows of one chunk run every stage and `apply(row, first, last)` in one task, while the row is
  // in cache; longer rows take one parallel sweep per stage.
  template <typename Apply, typename... Stages>
  void reduce_then_apply(const Apply& apply, const Stages&... stages) const {
    if (cols == 0) {  // rows without elements: each stage finishes on zero sums (means 0 / 0, as ATen's)
      for (int64_t row = 0; row < rows; ++row) (stages.finish(row, decltype(stages.sum(row, 0, 0)){}), ...);
      return;
    }
    if (per_row == 1) {
      for_each([&](int64_t row, int64_t, int64_t first, int64_t last) {
        (stages.finish(row, stages.sum(row, first, last)), ...);
        apply(row, first, last);
      });
      return;
    }
    (finish_rows(stages), ...);
    for_each([&](int64_t row, int64_t, int64_t first, int64_t last) { apply(row, first, last); });
  }

 private:
  template <typename Stage>
  void finish_rows(const Stage& stage) const {
    const auto total = sums(stage.sum);
    for (int64_t row = 0; row < rows; ++row) stage.finish(row, total[row]);
  }
};

// A stage of RowChunks::reduce_then_apply: sum(row, first, last) -> std::array<double, k> of a
// chunk, finish(row, totals) once the row's totals are known.
template <typename Sum, typename Finish>
struct Reduction {
  Sum sum;
  Finish finish;
};
template <typename Sum, typename Finish>
Reduction<Sum, Finish> reduction(Sum sum, Finish finish) {
  return {sum, finish};
}

}  // namespace lowbit::kernels::cpu
