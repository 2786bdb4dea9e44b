#include <lowbit/modules/hooks/training_hooks.h>

namespace lowbit::hooks {
namespace {

template <typename Call>
void for_each_hooked(torch::nn::Module& model, Call call) {
  if (auto* hooked = dynamic_cast<TrainingHooks*>(&model)) call(*hooked);
  for (const auto& module : model.modules(/*include_self=*/false)) {
    if (auto* hooked = dynamic_cast<TrainingHooks*>(module.get())) call(*hooked);
  }
}

}  // namespace

void begin_epoch(torch::nn::Module& model, int64_t epoch, int64_t epochs) {
  for_each_hooked(model, [&](TrainingHooks& h) { h.on_epoch_begin(epoch, epochs); });
}

void end_step(torch::nn::Module& model) {
  for_each_hooked(model, [](TrainingHooks& h) { h.on_step_end(); });
}

}  // namespace lowbit::hooks
