#include <lowbit/csrc/engine/task/detection.h>

#include <lowbit/csrc/engine/metrics/detection.h>
#include <lowbit/csrc/engine/task/detector_model.h>
#include <lowbit/modules/detection/registry.h>

namespace lowbit::engine {

std::shared_ptr<Model> DetectionTask::make_model(const std::string& name, const Params& params,
                                                 const models::QuantPolicy& policy) const {
  return std::make_shared<DetectorModel>(detection::make(name, params, policy));
}

std::vector<MetricSpec> DetectionTask::default_metrics() const { return {{"coco_bbox", {}}}; }

// Training batches are augmented crops: their detections are not evaluated.
std::vector<MetricSpec> DetectionTask::train_metrics() const { return {}; }

std::string DetectionTask::describe(const MetricValues& values) const {
  if (auto summary = coco_summary(values)) return *summary;
  return Task::describe(values);
}

LOWBIT_REGISTER_TASK(detection, [](const TaskSettings&) -> std::shared_ptr<Task> {
  return std::make_shared<DetectionTask>();
});

}  // namespace lowbit::engine
