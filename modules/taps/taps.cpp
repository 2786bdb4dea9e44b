#include <lowbit/modules/taps/taps.h>

#include <lowbit/csrc/util/suggest.h>

#include <c10/util/Exception.h>

namespace lowbit::taps {
namespace {

// The recorders alive on this thread, innermost last.
thread_local std::vector<TapRecorder*> active;

}  // namespace

void TapRecord::put(const std::string& name, torch::Tensor value) {
  TORCH_CHECK(tensors_.emplace(name, std::move(value)).second, "tap '", name,
              "' was published twice in one record (two layers with one name, or a record not cleared between forwards)");
  order_.push_back(name);
}

bool TapRecord::contains(const std::string& name) const { return tensors_.count(name) > 0; }

const torch::Tensor& TapRecord::at(const std::string& name) const {
  const auto it = tensors_.find(name);
  TORCH_CHECK(it != tensors_.end(), "missing tap '", name, "'", util::did_you_mean(name, order_), "; ", order_.size(),
              " taps were recorded", order_.empty() ? " (does the model publish it, and was a recorder active?)" : "");
  return it->second;
}

std::vector<std::string> TapRecord::names() const { return order_; }

std::vector<std::string> TapRecord::names(const std::string& pattern) const {
  const std::regex re(pattern);
  std::vector<std::string> result;
  for (const auto& name : order_) {
    if (std::regex_search(name, re)) result.push_back(name);
  }
  return result;
}

void TapRecord::clear() {
  tensors_.clear();
  order_.clear();
}

TapRecorder::TapRecorder(const torch::nn::Module& model, TapRecord& record, const std::vector<std::string>& patterns,
                         bool number_repeats)
    : record_(record), number_repeats_(number_repeats) {
  prefixes_.emplace(&model, "");
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    prefixes_.emplace(item.value().get(), item.key() + ".");
  }
  for (const auto& pattern : patterns) patterns_.emplace_back(pattern);
  active.push_back(this);
}

TapRecorder::~TapRecorder() {
  for (auto it = active.begin(); it != active.end(); ++it) {
    if (*it == this) {
      active.erase(it);
      break;
    }
  }
}

bool TapRecorder::offer(const torch::nn::Module& module, const std::string& tap, const torch::Tensor& value) {
  const auto it = prefixes_.find(&module);
  if (it == prefixes_.end()) return false;
  std::string name = it->second + tap;
  bool wanted = patterns_.empty();
  for (const auto& re : patterns_) wanted = wanted || std::regex_search(name, re);
  if (!wanted) return true;
  if (number_repeats_ && record_.contains(name)) {
    int64_t k = 1;
    while (record_.contains(name + "#" + std::to_string(k))) ++k;
    name += "#" + std::to_string(k);
  }
  record_.put(name, value);
  return true;
}

std::string exact_pattern(const std::string& name) {
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  return "^" + std::regex_replace(name, special, R"(\$&)") + "$";
}

bool recording() { return !active.empty(); }

void publish(const torch::nn::Module& module, const std::string& tap, const torch::Tensor& value) {
  for (auto* recorder : active) recorder->offer(module, tap, value);
}

}  // namespace lowbit::taps
