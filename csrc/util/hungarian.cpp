#include <lowbit/csrc/util/hungarian.h>

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

namespace lowbit::util {
namespace {

// Minimum-cost matching of every row of the row-major rows x cols matrix `cost` (rows <= cols).
// Returns, for each row, its column.
std::vector<int64_t> assign_rows(const double* cost, int64_t rows, int64_t cols) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  constexpr int64_t kFree = -1;
  // Potentials: reduced cost of (i, j) is cost[i][j] - row_potential[i] - col_potential[j] >= 0.
  std::vector<double> row_potential(rows, 0.0), col_potential(cols, 0.0);
  std::vector<int64_t> row_of_col(cols, kFree), col_of_row(rows, kFree);
  // Per search: the cheapest known reduced distance to each column and the column reached
  // just before it on that path (kFree: reached directly from the new row).
  std::vector<double> distance(cols);
  std::vector<int64_t> previous(cols);
  std::vector<char> visited(cols);

  for (int64_t start = 0; start < rows; ++start) {
    std::fill(distance.begin(), distance.end(), kInf);
    std::fill(visited.begin(), visited.end(), 0);
    // The path grows from `start`; `row` is the row whose edges are relaxed next, `reach` the
    // distance (in reduced cost) at which `row` was reached.
    int64_t row = start, last_col = kFree;
    double reach = 0;
    std::vector<int64_t> visited_cols;
    while (true) {
      int64_t best_col = kFree;
      double best = kInf;
      for (int64_t j = 0; j < cols; ++j) {
        if (visited[j]) continue;
        const double through = reach + cost[row * cols + j] - row_potential[row] - col_potential[j];
        if (through < distance[j]) {
          distance[j] = through;
          previous[j] = last_col;
        }
        if (distance[j] < best) {
          best = distance[j];
          best_col = j;
        }
      }
      visited[best_col] = 1;
      visited_cols.push_back(best_col);
      reach = best;
      if (row_of_col[best_col] == kFree) {
        last_col = best_col;
        break;
      }
      row = row_of_col[best_col];
      last_col = best_col;
    }
    // Shift the potentials so that every edge on the shortest-path tree has reduced cost 0 and
    // all reduced costs stay non-negative (Dijkstra's distances as potentials).
    row_potential[start] += reach;
    for (const int64_t j : visited_cols) {
      if (j == last_col) continue;
      const double shift = reach - distance[j];
      row_potential[row_of_col[j]] += shift;
      col_potential[j] -= shift;
    }
    // Flip the matching along the path back to `start`.
    for (int64_t j = last_col; j != kFree;) {
      const int64_t before = previous[j];
      const int64_t new_row = before == kFree ? start : row_of_col[before];
      row_of_col[j] = new_row;
      col_of_row[new_row] = j;
      j = before;
    }
  }
  return col_of_row;
}

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
  const auto matched = assign_rows(oriented.data_ptr<double>(), transposed ? m : n, transposed ? n : m);
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
