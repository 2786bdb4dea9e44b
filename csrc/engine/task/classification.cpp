#include <lowbit/csrc/engine/task/classification.h>

#include <lowbit/csrc/engine/task/classifier.h>
#include <lowbit/modules/models/registry.h>

#include <iomanip>
#include <sstream>

namespace lowbit::engine {

std::shared_ptr<Model> ClassificationTask::make_model(const std::string& name, const Params& params,
                                                      const models::QuantPolicy& policy) const {
  return std::make_shared<Classifier>(models::make(name, params, policy),
                                      ClassifierOptions().label_smoothing(settings_.label_smoothing));
}

std::vector<MetricSpec> ClassificationTask::default_metrics() const {
  return {{"loss", {}}, {"accuracy", {{"topk", std::vector<int64_t>{1, 5}}}}};
}

std::vector<MetricSpec> ClassificationTask::train_metrics() const {
  return {{"accuracy", {{"topk", std::vector<int64_t>{1}}}}};
}

// Losses to 4 significant digits, accuracies (percent) to 2 decimals.
std::string ClassificationTask::describe(const MetricValues& values) const {
  std::ostringstream text;
  for (const auto& [name, value] : values) {
    if (text.tellp() > 0) text << "  ";
    text << name << " ";
    if (name.rfind("top", 0) == 0) {
      text << std::fixed << std::setprecision(2) << value << std::defaultfloat;
    } else {
      text << std::setprecision(4) << value;
    }
  }
  return text.str();
}

LOWBIT_REGISTER_TASK(classification, [](const TaskSettings& s) -> std::shared_ptr<Task> {
  return std::make_shared<ClassificationTask>(s);
});

}  // namespace lowbit::engine
