#include <lowbit/csrc/util/hungarian.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace lowbit::util {
namespace {

// Minimum-cost matching of every row of the row-major rows x cols matrix `cost` (rows <= cols), one
// row at a time by a shortest augmenting path in reduced costs (Dijkstra with potentials).
class RowAssignment {
 public:
  RowAssignment(const double* cost, int64_t rows, int64_t cols)
      : cost_(cost), cols_(cols), row_potential_(rows, 0.0), col_potential_(cols, 0.0), row_of_col_(cols, kFree),
        col_of_row_(rows, kFree), distance_(cols), previous_(cols), visited_(cols) {}

  // For each row, its column.
  std::vector<int64_t> solve() {
    for (int64_t start = 0; start < static_cast<int64_t>(col_of_row_.size()); ++start) augment(start, search(start));
    return col_of_row_;
  }

 private:
  static constexpr double kInf = std::numeric_limits<double>::infinity();
  static constexpr int64_t kFree = -1;

  struct Path {
    int64_t last_col;                   // the free column the path ends in
    double reach;                       // its distance (reduced cost) from `start`
    std::vector<int64_t> visited_cols;  // the shortest-path tree's columns
  };

  // Grows the shortest path from row `start` until it reaches a free column; `previous_` records
  // the column reached just before each one (kFree: directly from `start`).
  Path search(int64_t start) {
    std::fill(distance_.begin(), distance_.end(), kInf);
    std::fill(visited_.begin(), visited_.end(), 0);
    Path path{kFree, 0.0, {}};
    int64_t row = start;  // the row whose edges are relaxed next, reached at distance path.reach
    while (true) {
      int64_t best_col = kFree;
      double best = kInf;
      for (int64_t j = 0; j < cols_; ++j) {
        if (visited_[j]) continue;
        const double through = path.reach + cost_[row * cols_ + j] - row_potential_[row] - col_potential_[j];
        if (through < distance_[j]) {
          distance_[j] = through;
          previous_[j] = path.last_col;
        }
        if (distance_[j] < best) {
          best = distance_[j];
          best_col = j;
        }
      }
      visited_[best_col] = 1;
      path.visited_cols.push_back(best_col);
      path.reach = best;
      path.last_col = best_col;
      if (row_of_col_[best_col] == kFree) return path;
      row = row_of_col_[best_col];
    }
  }

  // Shifts the potentials so that every edge on the shortest-path tree has reduced cost 0 and all
  // reduced costs stay non-negative, then flips the matching along the path back to `start`.
  void augment(int64_t start, const Path& path) {
    row_potential_[start] += path.reach;
    for (const int64_t j : path.visited_cols) {
      if (j == path.last_col) continue;
      const double shift = path.reach - distance_[j];
      row_potential_[row_of_col_[j]] += shift;
      col_potential_[j] -= shift;
    }
    for (int64_t j = path.last_col; j != kFree;) {
      const int64_t before = previous_[j];
      const int64_t new_row = before == kFree ? start : row_of_col_[before];
      row_of_col_[j] = new_row;
      col_of_row_[new_row] = j;
      j = before;
    }
  }

  const double* cost_;
  int64_t cols_;
  // Potentials: the reduced cost of (i, j) is cost[i][j] - row_potential[i] - col_potential[j] >= 0.
  std::vector<double> row_potential_, col_potential_;
  std::vector<int64_t> row_of_col_, col_of_row_;
  // Per search: the cheapest known reduced distance to each column and the column before it.
  std::vector<double> distance_;
  std::vector<int64_t> previous_;
  std::vector<char> visited_;
};

}  // namespace

Assignment linear_sum_assignment(const at::Tensor& cost) {
  TORCH_CHECK(cost.dim() == 2, "linear_sum_assignment: expected a 2-D cost matrix, got shape ", cost.sizes());
  TORCH_CHECK(at::isFloatingType(cost.scalar_type()), "linear_sum_assignment: expected a floating cost matrix, got ",
              cost.scalar_type());
  const auto values = cost.detach().to(at::kCPU, at::kDouble).contiguous();
  const int64_t n = values.size(0), m = values.size(1);
  const double* data = values.data_ptr<double>();
  for (int64_t k = 0; k < n * m; ++k) {
    TORCH_CHECK(std::isfinite(data[k]), "linear_sum_assignment: cost[", k / m, "][", k % m, "] = ", data[k],
                " is not finite (give forbidden pairs a large finite cost)");
  }
  Assignment result;
  if (n == 0 || m == 0) return result;
  const bool transposed = n > m;
  const auto oriented = transposed ? values.t().contiguous() : values;
  const auto matched = RowAssignment(oriented.data_ptr<double>(), transposed ? m : n, transposed ? n : m).solve();
  if (!transposed) {
    for (int64_t i = 0; i < n; ++i) {
      result.rows.push_back(i);
      result.cols.push_back(matched[i]);
    }
  } else {
    // matched[j] is the row of column j; list the pairs by row.
    std::vector<int64_t> col_of_row(n, -1);
    for (int64_t j = 0; j < m; ++j) col_of_row[matched[j]] = j;
    for (int64_t i = 0; i < n; ++i) {
      if (col_of_row[i] < 0) continue;
      result.rows.push_back(i);
      result.cols.push_back(col_of_row[i]);
    }
  }
  for (size_t k = 0; k < result.rows.size(); ++k) result.cost += data[result.rows[k] * m + result.cols[k]];
  return result;
}

}  // namespace lowbit::util
