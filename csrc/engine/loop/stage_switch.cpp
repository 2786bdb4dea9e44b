#include <lowbit/csrc/engine/loop/stage_switch.h>

#include <torch/utils.h>

#include <algorithm>

namespace lowbit::engine {
namespace {

// Copies the tensors of `source` into the same-named, same-shaped ones of `target` that `carried`.
template <typename Carried>
void copy_tensors(const torch::OrderedDict<std::string, torch::Tensor>& source,
                  torch::OrderedDict<std::string, torch::Tensor> target, const Carried& carried) {
  for (auto& t : target) {
    const auto* s = source.find(t.key());
    if (s && s->sizes() == t.value().sizes() && carried(t.key())) t.value().copy_(*s);
  }
}

}  // namespace

void copy_matching(const torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  // Submodules whose type changed (a stage's new quantizer) keep their fresh state, even where a
  // name and shape agree (lsq's and ternary's `initialized`).
  std::vector<std::string> replaced;
  const auto old_modules = from.named_modules();
  for (const auto& m : to.named_modules()) {
    const auto* old = old_modules.find(m.key());
    if (old && (*old)->name() != m.value()->name()) replaced.push_back(m.key() + ".");
  }
  const auto carried = [&](const std::string& key) {
    return std::none_of(replaced.begin(), replaced.end(), [&](const auto& p) { return key.rfind(p, 0) == 0; });
  };
  copy_tensors(from.named_parameters(), to.named_parameters(), carried);
  copy_tensors(from.named_buffers(), to.named_buffers(), carried);
}

}  // namespace lowbit::engine
