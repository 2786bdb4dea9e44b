#include <lowbit/csrc/data/detection_set.h>

#include <c10/util/Exception.h>

#include <algorithm>

namespace lowbit::data {

int64_t DetectionSet::label_of(int64_t category_id) const {
  const auto it = std::lower_bound(categories.begin(), categories.end(), category_id,
                                   [](const DetectionCategory& c, int64_t id) { return c.id < id; });
  TORCH_CHECK(it != categories.end() && it->id == category_id, "unknown category id ", category_id);
  return static_cast<int64_t>(it - categories.begin());
}

int64_t DetectionSet::category_id(int64_t label) const {
  TORCH_CHECK(label >= 0 && label < num_classes(), "label ", label, " is outside [0, ", num_classes(), ")");
  return categories[static_cast<size_t>(label)].id;
}

}  // namespace lowbit::data
