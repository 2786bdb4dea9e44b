#pragma once
// The methods' "it trains" tests: fit a small network on the first 2,000 Fashion-MNIST training
// images (Debian's dataset-fashion-mnist) and measure it on the first 1,000 test images.
// Images are scaled to [0, 1] and normalised with the data set's mean and std (0.2860, 0.3530).

#include <torch/torch.h>

#include <functional>
#include <ostream>

namespace lowbit::testing {

struct FitOptions {
  TORCH_ARG(int64_t, steps) = 300;
  TORCH_ARG(int64_t, batch_size) = 64;
  TORCH_ARG(double, lr) = 2e-3;  // Adam, cosine decay to 0 over `steps`
  TORCH_ARG(double, weight_decay) = 0;
  TORCH_ARG(uint64_t, seed) = 0;
  // > 0: hooks::begin_epoch is called as if the steps were this many epochs
  TORCH_ARG(int64_t, epochs_for_hooks) = 0;
};

struct FitResult {
  double first_loss = 0;  // mean training loss over the first 20 steps
  double last_loss = 0;   // mean training loss over the last 20 steps
  double test_accuracy = 0;  // in [0, 1], on 1,000 test images, model in eval mode
  double seconds = 0;        // wall time of the fit and the evaluation
};

// "loss 1.41 -> 0.34, test accuracy 0.81, 8.5 s", what the training tests print.
std::ostream& operator<<(std::ostream& out, const FitResult& result);

// Loss for one batch: the default is cross-entropy of `model(images)`. Methods with their own
// objective (distillation, auxiliary terms) pass their own.
using BatchLoss = std::function<torch::Tensor(const torch::Tensor& images, const torch::Tensor& labels)>;

// Trains `model` (input [B, 1, 28, 28], output [B, 10] logits) with Adam on the 2,000 images.
FitResult fit_fashion_mnist(torch::nn::Module& model, const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                            const FitOptions& options = {}, const BatchLoss& loss = nullptr);

template <typename ModuleHolder>
FitResult fit_fashion_mnist(ModuleHolder& model, const FitOptions& options = {}, const BatchLoss& loss = nullptr) {
  return fit_fashion_mnist(*model, [&](const torch::Tensor& x) { return model->forward(x); }, options, loss);
}

}  // namespace lowbit::testing
