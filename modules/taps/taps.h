#pragma once
// Taps: a named record of the intermediate tensors of one forward pass (attention maps,
// queries and keys, decoder queries, feature maps), through which distillation losses read a
// model without reaching into its members.
//
// A layer publishes a tensor under a short name ("attn.q"); a TapRecorder attached to a model
// stores it under the layer's qualified name in that model, e.g. "3.attn.q" for the fourth
// module of a Sequential. Publishing is a no-op (one thread-local check) while no recorder is
// active, so layers always publish. Student and teacher can record at the same time: each
// recorder keeps only what modules of its own model publish.
//
//   taps::TapRecord record;
//   {
//     taps::TapRecorder recorder(*model, record, {R"(\.attn\.(q|k)$)"});
//     logits = model->forward(images);
//   }
//   loss = dgd(record.at("3.attn.q"), teacher_record.at("3.attn.q"));

#include <torch/nn/module.h>

#include <regex>
#include <string>
#include <unordered_map>
#include <vector>

namespace lowbit::taps {

class TapRecord {
 public:
  // Stores `value` under `name`; a name published twice in one record is an error naming it
  // (two layers with one qualified name, or two forwards recorded without clear()).
  void put(const std::string& name, torch::Tensor value);

  bool contains(const std::string& name) const;

  // The tensor named `name`; a missing name is an error naming it, with the closest recorded
  // name and the number of taps recorded.
  const torch::Tensor& at(const std::string& name) const;

  // Recorded names in publication order; with `pattern` (ECMAScript regex, searched), only
  // those matching.
  std::vector<std::string> names() const;
  std::vector<std::string> names(const std::string& pattern) const;

  size_t size() const { return order_.size(); }
  void clear();

 private:
  std::unordered_map<std::string, torch::Tensor> tensors_;
  std::vector<std::string> order_;
};

// Records into `record` what the modules of `model` publish on this thread while it lives.
// With `patterns`, only taps whose qualified name matches one of them (regex search) are
// kept, so a loss that needs the queries does not hold every attention map alive.
// A module that runs more than once in a forward (a head shared by the FPN levels) publishes its
// taps once per call: with number_repeats, the k-th repeat of a name is kept as "<name>#<k>"
// (k = 1, 2, ...); without, a repeat is the record's error.
class TapRecorder {
 public:
  TapRecorder(const torch::nn::Module& model, TapRecord& record, const std::vector<std::string>& patterns = {},
              bool number_repeats = false);
  ~TapRecorder();
  TapRecorder(const TapRecorder&) = delete;
  TapRecorder& operator=(const TapRecorder&) = delete;

  // Called by publish(): stores `value` when `module` belongs to this recorder's model.
  bool offer(const torch::nn::Module& module, const std::string& tap, const torch::Tensor& value);

 private:
  std::unordered_map<const torch::nn::Module*, std::string> prefixes_;
  std::vector<std::regex> patterns_;
  TapRecord& record_;
  bool number_repeats_;
};

// A regex (for a recorder's patterns) that matches exactly the tap name `name`.
std::string exact_pattern(const std::string& name);

// Whether any recorder is active on this thread: lets a layer skip computing a tensor that
// only a tap would use.
bool recording();

// Offers `value` as `<qualified name of module>.<tap>` to the active recorders (the root
// module's taps are named `<tap>`).
void publish(const torch::nn::Module& module, const std::string& tap, const torch::Tensor& value);

}  // namespace lowbit::taps
