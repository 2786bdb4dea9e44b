#pragma once
// Optimal assignment (the linear sum assignment problem, as scipy.optimize.linear_sum_assignment):
// given a cost matrix C of n rows and m columns, pick min(n, m) pairs (row, column), no row or
// column twice, with the smallest total cost.
//
// Method: shortest augmenting paths with row/column potentials (the Hungarian method of Kuhn and
// Munkres in the form of Jonker and Volgenant, 1987). Rows are added one at a time; each
// addition runs a Dijkstra-like search over the reduced costs C[i][j] - u[i] - v[j] >= 0 and
// flips the matching along the cheapest path, then shifts the potentials so the reduced costs
// of matched pairs stay 0. O(n^2 m) for n <= m; a matrix with more rows than columns is solved
// transposed. Costs are taken in double precision; a non-finite cost (inf, NaN) is an error,
// since a forbidden pair must be given a large finite cost by the caller.
//
// Used by the DETR-style matchers (modules/losses/drd.*); a general utility, hence csrc/util.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace lowbit::util {

struct Assignment {
  // Matched pairs (rows[k], cols[k]), sorted by row; min(n, m) of them.
  std::vector<int64_t> rows, cols;
  double cost = 0;  // sum of the matched costs
};

// `cost`: a 2-D floating tensor (any device; copied to the CPU). An empty side gives no pairs.
Assignment linear_sum_assignment(const at::Tensor& cost);

}  // namespace lowbit::util
