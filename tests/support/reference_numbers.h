#pragma once
// Reference numbers written by a Python script beside a test (e.g. tests/data/reference/
// mixup_reference.py): one tensor a line, "<name> <shape, e.g. 4x2x5x7 or scalar> <values...>".

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace lowbit::testing {

// The tensors of `path` (relative to the source tree) by name, in double precision.
inline std::map<std::string, torch::Tensor> read_reference_numbers(const std::string& path) {
  const auto file_path = std::string(LOWBIT_SOURCE_DIR) + "/" + path;
  std::ifstream file(file_path);
  EXPECT_TRUE(file) << "cannot read " << file_path;
  std::map<std::string, torch::Tensor> values;
  std::string line;
  while (std::getline(file, line)) {
    std::istringstream fields(line);
    std::string name, shape_text;
    fields >> name >> shape_text;
    std::vector<int64_t> shape;
    std::istringstream dims(shape_text == "scalar" ? "" : shape_text);
    for (std::string dim; std::getline(dims, dim, 'x');) shape.push_back(std::stoll(dim));
    std::vector<double> numbers;
    for (double v; fields >> v;) numbers.push_back(v);
    values[name] = torch::tensor(numbers, torch::kDouble).reshape(shape);
  }
  return values;
}

}  // namespace lowbit::testing
