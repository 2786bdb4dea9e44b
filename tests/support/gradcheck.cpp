#include "support/gradcheck.h"

namespace lowbit::testing {

torch::Tensor numerical_gradient(const std::function<torch::Tensor(const torch::Tensor&)>& f, const torch::Tensor& x,
                                 double eps) {
  torch::NoGradGuard no_grad;
  auto point = x.detach().to(torch::kDouble).clone();
  auto grad = torch::zeros_like(point);
  auto flat_point = point.view(-1);
  auto flat_grad = grad.view(-1);
  for (int64_t i = 0; i < flat_point.numel(); ++i) {
    const double original = flat_point[i].item<double>();
    flat_point[i] = original + eps;
    const double up = f(point).sum().item<double>();
    flat_point[i] = original - eps;
    const double down = f(point).sum().item<double>();
    flat_point[i] = original;
    flat_grad[i] = (up - down) / (2 * eps);
  }
  return grad;
}

GradientPair compare_gradients(const std::function<torch::Tensor(const torch::Tensor&)>& f, const torch::Tensor& x) {
  const auto probe = x.detach().to(torch::kDouble).requires_grad_(true);
  const auto weights = torch::rand(f(probe.detach()).sizes(), torch::kDouble) + 0.5;
  const auto weighted = [&](const torch::Tensor& t) { return f(t) * weights; };
  weighted(probe).sum().backward();
  return {probe.grad(), numerical_gradient(weighted, probe)};
}

}  // namespace lowbit::testing
