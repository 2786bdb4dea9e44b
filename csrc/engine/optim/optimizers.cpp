// The built-in optimizers (optimizer.h): LibTorch's SGD, Adam and AdamW; LAMB (lamb.h).
#include <lowbit/csrc/engine/optim/lamb.h>
#include <lowbit/csrc/engine/optim/optimizer.h>

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

namespace lowbit::engine {
namespace {

// A LibTorch optimizer whose group options come from `options(lr, weight_decay)`.
template <typename Optimizer, typename Options>
class TorchOptimizerKind : public OptimizerKind {
 public:
  explicit TorchOptimizerKind(std::function<Options(double, double)> options) : options_(std::move(options)) {}
  std::unique_ptr<torch::optim::OptimizerOptions> group_options(double lr, double weight_decay) const override {
    return std::make_unique<Options>(options_(lr, weight_decay));
  }
  std::unique_ptr<torch::optim::Optimizer> make(std::vector<torch::optim::OptimizerParamGroup> groups, double lr,
                                                double weight_decay) const override {
    return std::make_unique<Optimizer>(std::move(groups), options_(lr, weight_decay));
  }

 private:
  std::function<Options(double, double)> options_;
};

struct AdamBetas {
  double beta1, beta2, eps;
};

AdamBetas read_betas(ParamReader& p, double eps) {
  AdamBetas b{p.get<double>("beta1", 0.9), p.get<double>("beta2", 0.999), p.get<double>("eps", eps)};
  p.check(b.beta1 >= 0 && b.beta1 < 1, "beta1", "expected a number in [0, 1), got " + c10::str(b.beta1));
  p.check(b.beta2 >= 0 && b.beta2 < 1, "beta2", "expected a number in [0, 1), got " + c10::str(b.beta2));
  p.check(b.eps > 0, "eps", "expected a positive number, got " + c10::str(b.eps));
  return b;
}

std::unique_ptr<OptimizerKind> sgd(ParamReader& p) {
  const double momentum = p.get<double>("momentum", 0.9);
  p.check(momentum >= 0, "momentum", "expected a non-negative number, got " + c10::str(momentum));
  const bool nesterov = p.get<bool>("nesterov", false);
  return std::make_unique<TorchOptimizerKind<torch::optim::SGD, torch::optim::SGDOptions>>([=](double lr, double wd) {
    return torch::optim::SGDOptions(lr).momentum(momentum).nesterov(nesterov).weight_decay(wd);
  });
}

template <typename Optimizer, typename Options>
std::unique_ptr<OptimizerKind> adam(ParamReader& p) {
  const auto b = read_betas(p, 1e-8);
  return std::make_unique<TorchOptimizerKind<Optimizer, Options>>(
      [=](double lr, double wd) { return Options(lr).betas({b.beta1, b.beta2}).eps(b.eps).weight_decay(wd); });
}

// FusedLAMB's defaults: eps 1e-6, max_grad_norm 1.0, use_nvlamb false.
std::unique_ptr<OptimizerKind> lamb(ParamReader& p) {
  const auto b = read_betas(p, 1e-6);
  const double max_grad_norm = p.get<double>("max_grad_norm", 1.0);
  p.check(max_grad_norm >= 0, "max_grad_norm",
          "expected a non-negative number (0: no clipping), got " + c10::str(max_grad_norm));
  const bool use_nvlamb = p.get<bool>("use_nvlamb", false);
  return std::make_unique<TorchOptimizerKind<Lamb, LambOptions>>([=](double lr, double wd) {
    return LambOptions(lr)
        .betas({b.beta1, b.beta2})
        .eps(b.eps)
        .weight_decay(wd)
        .max_grad_norm(max_grad_norm)
        .use_nvlamb(use_nvlamb);
  });
}

}  // namespace

LOWBIT_REGISTER_OPTIMIZER(sgd, sgd);
LOWBIT_REGISTER_OPTIMIZER(adam, (adam<torch::optim::Adam, torch::optim::AdamOptions>));
LOWBIT_REGISTER_OPTIMIZER(adamw, (adam<torch::optim::AdamW, torch::optim::AdamWOptions>));
LOWBIT_REGISTER_OPTIMIZER(lamb, lamb);

}  // namespace lowbit::engine
