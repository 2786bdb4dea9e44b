#include <lowbit/csrc/util/hungarian.h>

#include "support/error_of.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <set>

using lowbit::util::linear_sum_assignment;

namespace {

// The smallest total cost over all ways of pairing each row of the smaller side with a distinct
// column of the larger one, by enumerating permutations of the larger side.
double brute_force(const torch::Tensor& cost) {
  const auto c = cost.size(0) <= cost.size(1) ? cost.to(torch::kDouble) : cost.t().to(torch::kDouble);
  const int64_t n = c.size(0), m = c.size(1);
  const auto a = c.accessor<double, 2>();
  std::vector<int64_t> cols(m);
  std::iota(cols.begin(), cols.end(), 0);
  double best = std::numeric_limits<double>::infinity();
  do {
    double total = 0;
    for (int64_t i = 0; i < n; ++i) total += a[i][cols[i]];
    best = std::min(best, total);
  } while (std::next_permutation(cols.begin(), cols.end()));
  return best;
}

// A valid assignment: min(n, m) pairs, rows sorted, no row or column twice, `cost` their sum.
void expect_valid(const lowbit::util::Assignment& result, const torch::Tensor& cost) {
  const int64_t n = cost.size(0), m = cost.size(1);
  ASSERT_EQ(result.rows.size(), static_cast<size_t>(std::min(n, m)));
  ASSERT_EQ(result.cols.size(), result.rows.size());
  EXPECT_TRUE(std::is_sorted(result.rows.begin(), result.rows.end()));
  EXPECT_EQ(std::set<int64_t>(result.rows.begin(), result.rows.end()).size(), result.rows.size());
  EXPECT_EQ(std::set<int64_t>(result.cols.begin(), result.cols.end()).size(), result.cols.size());
  double total = 0;
  for (size_t k = 0; k < result.rows.size(); ++k) {
    ASSERT_TRUE(result.rows[k] >= 0 && result.rows[k] < n && result.cols[k] >= 0 && result.cols[k] < m);
    total += cost[result.rows[k]][result.cols[k]].item<double>();
  }
  EXPECT_NEAR(result.cost, total, 1e-9);
}

}  // namespace

TEST(Hungarian, HandExample) {
  // Rows 0 and 1 both prefer column 1; the optimum gives it to row 0 and row 1 column 0:
  // 1 + 2 + 3 = 6, against 6.5 for the next best (3 + 0.5 + 3).
  const auto cost = torch::tensor({{4.0, 1.0, 3.0}, {2.0, 0.5, 5.0}, {3.0, 2.0, 3.0}});
  const auto result = linear_sum_assignment(cost);
  expect_valid(result, cost);
  EXPECT_EQ(result.cols, (std::vector<int64_t>{1, 0, 2}));
  EXPECT_DOUBLE_EQ(result.cost, 6.0);
}

TEST(Hungarian, OptimalOnRandomSquareMatricesUpTo9) {
  torch::manual_seed(0);
  for (int64_t n = 1; n <= 9; ++n) {
    for (int trial = 0; trial < (n <= 7 ? 6 : 2); ++trial) {
      // Half the trials with small integers, which makes many ties and several optima.
      const auto cost = trial % 2 ? torch::randint(0, 4, {n, n}).to(torch::kDouble)
                                  : torch::randn({n, n}, torch::kDouble) * 10;
      const auto result = linear_sum_assignment(cost);
      expect_valid(result, cost);
      EXPECT_NEAR(result.cost, brute_force(cost), 1e-9) << "n = " << n << ", trial " << trial << "\n" << cost;
    }
  }
}

TEST(Hungarian, RectangularBothWays) {
  torch::manual_seed(1);
  for (const auto& [n, m] : std::vector<std::pair<int64_t, int64_t>>{{1, 5}, {2, 7}, {3, 8}, {5, 8}, {4, 9}}) {
    for (int trial = 0; trial < 3; ++trial) {
      const auto cost = trial == 2 ? torch::randint(0, 3, {n, m}).to(torch::kDouble) : torch::rand({n, m}, torch::kDouble);
      const auto wide = linear_sum_assignment(cost);
      expect_valid(wide, cost);
      EXPECT_NEAR(wide.cost, brute_force(cost), 1e-9) << n << "x" << m;
      const auto tall = linear_sum_assignment(cost.t());
      expect_valid(tall, cost.t());
      EXPECT_NEAR(tall.cost, wide.cost, 1e-9) << m << "x" << n;
    }
  }
}

TEST(Hungarian, TallMatrixLeavesTheExpensiveRowsOut) {
  // Four rows, two columns: rows 1 and 3 are the cheap ones.
  const auto cost = torch::tensor({{9.0, 9.0}, {1.0, 5.0}, {8.0, 7.0}, {6.0, 2.0}});
  const auto result = linear_sum_assignment(cost);
  EXPECT_EQ(result.rows, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(result.cols, (std::vector<int64_t>{0, 1}));
  EXPECT_DOUBLE_EQ(result.cost, 3.0);
}

TEST(Hungarian, AllTiedCostsGiveAPermutation) {
  const auto cost = torch::full({5, 5}, 2.5);
  const auto result = linear_sum_assignment(cost);
  expect_valid(result, cost);
  EXPECT_DOUBLE_EQ(result.cost, 12.5);
}

TEST(Hungarian, NegativeCostsAndEmptySides) {
  const auto cost = torch::tensor({{-1.0, -3.0}, {-2.0, -10.0}});
  EXPECT_DOUBLE_EQ(linear_sum_assignment(cost).cost, -11.0);  // -1 + -10
  EXPECT_TRUE(linear_sum_assignment(torch::zeros({0, 3})).rows.empty());
  EXPECT_TRUE(linear_sum_assignment(torch::zeros({3, 0})).rows.empty());
}

TEST(Hungarian, NonFiniteCostsAreRejected) {
  auto cost = torch::zeros({2, 3});
  cost[1][2] = std::numeric_limits<float>::infinity();
  EXPECT_NE(lowbit::testing::error_of([&] { linear_sum_assignment(cost); }).find("cost[1][2] = inf is not finite"),
            std::string::npos);
  cost[1][2] = 0;
  cost[0][1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(lowbit::testing::error_of([&] { linear_sum_assignment(cost); }).find("cost[0][1] = nan is not finite"),
            std::string::npos);
  EXPECT_NE(lowbit::testing::error_of([&] { linear_sum_assignment(torch::zeros({3})); }).find("2-D cost matrix"),
            std::string::npos);
}
