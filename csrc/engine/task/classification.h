#pragma once
// Classification: batches of images and labels; a network built by name (modules/models) trained
// as a Classifier (label cross-entropy with the recipe's label smoothing) or against a teacher
// with the recipe's distill: terms; evaluated by loss, top-1 and top-5, printed as
//   loss 0.3512  top1 87.21  top5 99.60
// and logged with top-1 on the training batches.

#include <lowbit/csrc/engine/task/task.h>

namespace lowbit::engine {

class ClassificationTask : public Task {
 public:
  explicit ClassificationTask(TaskSettings settings = {}) : settings_(settings) {}

  std::shared_ptr<Model> make_model(const std::string& name, const Params& params,
                                    const models::QuantPolicy& policy) const override;
  std::vector<MetricSpec> default_metrics() const override;
  std::vector<MetricSpec> train_metrics() const override;
  std::string describe(const MetricValues& values) const override;

 private:
  TaskSettings settings_;
};

}  // namespace lowbit::engine
