#pragma once
// A classification network as an engine Model: outputs {"logits": network(images)} (and, when the
// network is a Sequential whose last layer has NamedOutputs, every output of that layer, e.g. a
// distilled DeiT's "dist_logits"); its own loss is the label cross-entropy
//   L = CE(logits, labels)  with label smoothing eps: targets (1 - eps)·onehot + eps/C,
// or, for a batch with soft labels (data.mixup), CE to them (losses::classification_cross_entropy).
//
//   auto net = models::make("small_cnn", params, policy);       // or any module with forward(x)
//   auto model = std::make_shared<engine::Classifier>(net, engine::ClassifierOptions().label_smoothing(0.1));
//
// The network's children (and its own parameters and buffers) are the classifier's under the
// same names, so that state dicts, checkpoints and tap names are the network's own
// ("blocks.0.attn.q", not "network.blocks..."). They are shared, not copied: training the
// classifier trains the network.

#include <lowbit/csrc/engine/task/model.h>

#include <torch/arg.h>

#include <functional>
#include <memory>

namespace lowbit::engine {

struct ClassifierOptions {
  TORCH_ARG(double, label_smoothing) = 0.0;  // in [0, 1)
};

class Classifier : public Model {
 public:
  using NetworkForward = std::function<torch::Tensor(const torch::Tensor&)>;

  Classifier(std::shared_ptr<torch::nn::Module> network, NetworkForward forward, ClassifierOptions options = {});

  // A module holder (torch::nn::Sequential, a TORCH_MODULE of the user's) with forward(images).
  template <typename Holder, typename = decltype(std::declval<Holder&>()->forward(std::declval<torch::Tensor>()))>
  explicit Classifier(Holder network, ClassifierOptions options = {})
      : Classifier(network.ptr(), [network](const torch::Tensor& x) mutable { return network->forward(x); }, options) {}

  Outputs forward(const Batch& batch) override;
  // {"ce": CE(logits, labels)}, with the options' label smoothing; CE(logits, soft labels) when the
  // batch has them.
  LossDict loss(const Batch& batch, const Outputs& outputs) override;

  // Sets the network's own mode too (a user's forward may read is_training() of its root).
  void train(bool on = true) override;

  torch::nn::Module& network() { return *network_; }
  const ClassifierOptions& options() const { return options_; }

 private:
  std::shared_ptr<torch::nn::Module> network_;
  NetworkForward forward_;
  ClassifierOptions options_;
};

}  // namespace lowbit::engine
