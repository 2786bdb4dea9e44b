#include <lowbit/csrc/engine/task/task.h>

#include <lowbit/csrc/util/registry.h>

#include <cstdio>

namespace lowbit::engine {
namespace {

util::Registry<TaskFactory>& task_registry() {
  static util::Registry<TaskFactory> r("task", "task");
  return r;
}

}  // namespace

StepOutput Task::step(Model& model, const Batch& batch) {
  StepOutput out;
  if (distiller_) {
    out = distiller_->forward(model, batch);
  } else {
    out.outputs = model.forward(batch);
    out.losses = model.loss(batch, out.outputs);
  }
  return out;
}

std::string test_report(const std::string& description, int64_t samples) {
  const auto count = "(" + std::to_string(samples) + " images)";
  auto text = description;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  if (text.find('\n') == std::string::npos) return "test " + text + " " + count;
  return "test " + count + ":\n" + text;
}

std::string Task::describe(const MetricValues& values) const {
  std::string text;
  char number[64];
  for (const auto& [name, value] : values) {
    std::snprintf(number, sizeof(number), "%.6g", value);
    text += (text.empty() ? "" : "  ") + name + " " + number;
  }
  return text;
}

void Task::set_distiller(std::shared_ptr<Distiller> distiller) {
  distiller_ = distiller ? register_module("distill", std::move(distiller)) : nullptr;
}

bool register_task(const std::string& name, TaskFactory factory) { return task_registry().add(name, std::move(factory)); }

std::shared_ptr<Task> make_task(const std::string& name, const TaskSettings& settings) {
  return task_registry().get(name)(settings);
}

std::vector<std::string> registered_tasks() { return task_registry().names(); }

}  // namespace lowbit::engine
