#include <lowbit/csrc/engine/loop/hook.h>

namespace lowbit::engine {

void HookList::before_epoch(TrainState& s) {
  for (auto& h : hooks_) h->before_epoch(s);
}
void HookList::before_step(TrainState& s) {
  for (auto& h : hooks_) h->before_step(s);
}
void HookList::after_step(TrainState& s, const Batch& batch, const StepOutput& step) {
  for (auto& h : hooks_) h->after_step(s, batch, step);
}
void HookList::after_train_epoch(TrainState& s) {
  for (auto& h : hooks_) h->after_train_epoch(s);
}
void HookList::after_eval(TrainState& s, const MetricValues& values, int64_t samples) {
  for (auto& h : hooks_) h->after_eval(s, values, samples);
}
void HookList::after_epoch(TrainState& s) {
  for (auto& h : hooks_) h->after_epoch(s);
}
void HookList::before_save(TrainState& s, Extras& extras) {
  for (auto& h : hooks_) h->before_save(s, extras);
}
void HookList::after_load(TrainState& s, const Extras& extras) {
  for (auto& h : hooks_) h->after_load(s, extras);
}

}  // namespace lowbit::engine
