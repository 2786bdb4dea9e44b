#pragma once
// The engine's contract with a model (as mmengine's BaseModel): named outputs of a forward pass,
// the model's own named losses in training, predictions in evaluation. The engine trains any
// Model; classification networks built by name are wrapped in a Classifier (classifier.h), and
// a C++ user's module can derive from Model directly.
//
//   class MyNet : public engine::Model {
//     Outputs forward(const Batch& b) override { return {{"logits", body(b.images)}}; }
//     LossDict loss(const Batch& b, const Outputs& o) override { ... {"ce", cross_entropy(...)} }
//   };
//
// Auxiliary heads are explicit outputs under their own names (a distilled DeiT's
// "dist_logits"), which loss terms and metrics name; taps (modules/taps) stay for the
// intermediate tensors of the network.

#include <lowbit/csrc/engine/datasets/batch.h>

#include <torch/nn/module.h>

#include <string>
#include <utility>
#include <vector>

namespace lowbit::engine {

// Named outputs: "logits" for classifiers; a detector's boxes and scores.
using Outputs = TensorMap;

// Named losses in the order they were added; the objective is their sum.
class LossDict {
 public:
  LossDict() = default;
  LossDict(std::initializer_list<std::pair<std::string, torch::Tensor>> entries);

  // Throws on a name already present.
  void add(const std::string& name, torch::Tensor value);
  // entry(0) + entry(1) + ... in order (entry(0) itself for one entry).
  torch::Tensor total() const;

  const std::vector<std::pair<std::string, torch::Tensor>>& entries() const { return entries_; }
  std::vector<std::string> names() const;
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  std::vector<std::pair<std::string, torch::Tensor>> entries_;
};

// What one training step produced: the losses to sum, and the student's outputs (for the
// training metrics).
struct StepOutput {
  LossDict losses;
  torch::Tensor loss;  // losses.total(), filled in by the training loop
  Outputs outputs;
};

class Model : public torch::nn::Module {
 public:
  using torch::nn::Module::Module;

  // Named outputs of `batch`, in training and in evaluation.
  virtual Outputs forward(const Batch& batch) = 0;
  // The model's own objective on its outputs of `batch`.
  virtual LossDict loss(const Batch& batch, const Outputs& outputs) = 0;
  // What evaluation measures (the engine calls it in eval mode, without gradient): forward's
  // outputs unless the model post-processes them (a detector's score threshold and NMS).
  virtual Outputs predict(const Batch& batch) { return forward(batch); }
};

// Registers the children, parameters and buffers of `from` in `into` under the same names (shared,
// not copied), so that a wrapper's state dict, checkpoints and tap names are the wrapped network's.
void adopt_members(torch::nn::Module& into, torch::nn::Module& from);

// The output `name` of `outputs`; a missing name is an error naming `who` and the outputs present.
const torch::Tensor& output(const Outputs& outputs, const std::string& name, const std::string& who);

}  // namespace lowbit::engine
