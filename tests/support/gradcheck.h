#pragma once
// Finite-difference gradients for tests (LibTorch has no gradcheck in C++).

#include <torch/torch.h>

#include <functional>

namespace lowbit::testing {

// Central differences of the scalar f at x (double precision): d f / d x_i.
torch::Tensor numerical_gradient(const std::function<torch::Tensor(const torch::Tensor&)>& f, const torch::Tensor& x,
                                 double eps = 1e-6);

// The autograd gradient of sum(f(x) * weights) at x, and its finite-difference twin; `weights`
// is a fixed random tensor so that every output element matters.
struct GradientPair {
  torch::Tensor analytic, numeric;
};
GradientPair compare_gradients(const std::function<torch::Tensor(const torch::Tensor&)>& f, const torch::Tensor& x);

}  // namespace lowbit::testing
