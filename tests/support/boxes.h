#pragma once
// Box tensors for tests, written as rows: boxes({{x1, y1, x2, y2}, ...}) is [N, 4].

#include <torch/torch.h>

#include <array>
#include <vector>

namespace lowbit::testing {

inline torch::Tensor boxes(const std::vector<std::array<double, 4>>& rows, torch::Dtype dtype = torch::kDouble) {
  std::vector<double> flat;
  for (const auto& b : rows) flat.insert(flat.end(), b.begin(), b.end());
  return torch::tensor(flat, dtype).view({static_cast<int64_t>(rows.size()), 4});
}

}  // namespace lowbit::testing
