#include "support/fashion_fit.h"

#include <lowbit/csrc/data/mnist.h>
#include <lowbit/modules/hooks/training_hooks.h>

#include <chrono>
#include <cmath>

namespace lowbit::testing {
namespace {

struct Subset {
  torch::Tensor images, labels;
};

Subset load(data::Split split, int64_t count) {
  const auto set = data::load_mnist(data::kFashionMnistRoot, split);
  auto images = set.images.slice(0, 0, count).to(torch::kFloat).div_(255).sub_(0.2860).div_(0.3530);
  return {images, set.labels.slice(0, 0, count)};
}

const Subset& train_subset() {
  static const Subset subset = load(data::Split::Train, 2000);
  return subset;
}

const Subset& test_subset() {
  static const Subset subset = load(data::Split::Test, 1000);
  return subset;
}

// One intra-op thread while a fit runs: ctest runs test processes side by side, and several
// OpenMP teams spinning on the same two cores slow each other down by an order of magnitude.
class OneThread {
 public:
  OneThread() : previous_(at::get_num_threads()) { at::set_num_threads(1); }
  ~OneThread() { at::set_num_threads(previous_); }

 private:
  int previous_;
};

}  // namespace

std::ostream& operator<<(std::ostream& out, const FitResult& result) {
  return out << "loss " << result.first_loss << " -> " << result.last_loss << ", test accuracy " << result.test_accuracy
             << ", " << result.seconds << " s";
}

FitResult fit_fashion_mnist(torch::nn::Module& model, const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                            const FitOptions& options, const BatchLoss& loss) {
  OneThread one_thread;
  const auto started = std::chrono::steady_clock::now();
  torch::manual_seed(options.seed());
  const auto& train = train_subset();
  const int64_t n = train.images.size(0);
  torch::optim::Adam optimizer(model.parameters(), torch::optim::AdamOptions(options.lr()).weight_decay(options.weight_decay()));
  const int64_t window = std::min<int64_t>(20, options.steps() / 2);
  const int64_t steps_per_epoch =
      options.epochs_for_hooks() > 0 ? std::max<int64_t>(1, options.steps() / options.epochs_for_hooks()) : 0;
  FitResult result;
  torch::Tensor order = torch::randperm(n);
  int64_t cursor = 0;
  model.train();
  for (int64_t step = 0; step < options.steps(); ++step) {
    if (steps_per_epoch > 0 && step % steps_per_epoch == 0) {
      hooks::begin_epoch(model, std::min(step / steps_per_epoch, options.epochs_for_hooks() - 1), options.epochs_for_hooks());
    }
    if (cursor + options.batch_size() > n) {
      order = torch::randperm(n);
      cursor = 0;
    }
    const auto index = order.slice(0, cursor, cursor + options.batch_size());
    cursor += options.batch_size();
    const auto images = train.images.index_select(0, index), labels = train.labels.index_select(0, index);
    const auto value = loss ? loss(images, labels) : torch::nn::functional::cross_entropy(forward(images), labels);
    for (auto& group : optimizer.param_groups()) {
      group.options().set_lr(options.lr() * 0.5 * (1 + std::cos(M_PI * step / options.steps())));
    }
    optimizer.zero_grad();
    value.backward();
    optimizer.step();
    hooks::end_step(model);
    const double v = value.item<double>();
    if (step < window) result.first_loss += v / window;
    if (step >= options.steps() - window) result.last_loss += v / window;
  }
  model.eval();
  torch::NoGradGuard no_grad;
  const auto& test = test_subset();
  const auto predicted = forward(test.images).argmax(1);
  result.test_accuracy = predicted.eq(test.labels).to(torch::kDouble).mean().item<double>();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace lowbit::testing
