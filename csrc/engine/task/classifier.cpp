#include <lowbit/csrc/engine/task/classifier.h>

#include <lowbit/modules/layers/named_outputs.h>
#include <lowbit/modules/losses/kd.h>

#include <torch/nn/modules/container/sequential.h>

namespace lowbit::engine {

Classifier::Classifier(std::shared_ptr<torch::nn::Module> network, NetworkForward forward, ClassifierOptions options)
    : network_(std::move(network)), forward_(std::move(forward)), options_(options) {
  TORCH_CHECK(network_ && forward_, "Classifier: no network");
  TORCH_CHECK_VALUE(options_.label_smoothing() >= 0 && options_.label_smoothing() < 1,
                    "Classifier: label_smoothing must be in [0, 1), got ", options_.label_smoothing());
  adopt_members(*this, *network_);
}

Outputs Classifier::forward(const Batch& batch) {
  // A Sequential ending in a layer with named outputs: the layers before it, then all its outputs.
  auto* sequential = dynamic_cast<torch::nn::SequentialImpl*>(network_.get());
  auto* heads = sequential && !sequential->is_empty()
                    ? dynamic_cast<layers::NamedOutputs*>(sequential->ptr(sequential->size() - 1).get())
                    : nullptr;
  if (!heads) return {{"logits", forward_(batch.images)}};
  auto x = batch.images;
  auto layer = sequential->begin();
  for (size_t i = 0; i + 1 < sequential->size(); ++i, ++layer) x = layer->forward(x);
  Outputs outputs;
  for (auto& [name, value] : heads->outputs(x)) outputs.emplace(name, std::move(value));
  return outputs;
}

void Classifier::train(bool on) {
  Model::train(on);
  network_->train(on);
}

LossDict Classifier::loss(const Batch& batch, const Outputs& outputs) {
  TORCH_CHECK(batch.labels.defined(), "Classifier: the batch has no labels");
  return {{"ce", losses::classification_cross_entropy(output(outputs, "logits", "Classifier"), batch.labels,
                                                      batch.soft_labels, options_.label_smoothing())}};
}

}  // namespace lowbit::engine
