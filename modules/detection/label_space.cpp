#include <lowbit/modules/detection/label_space.h>

#include <lowbit/csrc/util/suggest.h>

#include <torch/torch.h>

namespace lowbit::detection {

LabelSpace parse_label_space(const std::string& name) {
  return static_cast<LabelSpace>(util::choose("label space", name, {"category_id", "contiguous"}));
}

LabelMap::LabelMap(LabelSpace space, int64_t classes) : space_(space), classes_(classes) {}

void LabelMap::set_category_ids(const at::Tensor& category_ids) {
  TORCH_CHECK(category_ids.dim() == 1 && category_ids.scalar_type() == torch::kLong,
              "DETR: category_ids must be int64 [K], got ", category_ids.scalar_type(), " ", category_ids.sizes());
  const int64_t k = category_ids.numel();
  if (space_ == LabelSpace::Contiguous) {
    TORCH_CHECK(k <= classes_, "DETR: the data set has ", k, " labels but the detector ", classes_,
                " classes (label_space contiguous: classes must be >= the number of labels)");
    label_classes_ = torch::arange(k, torch::kLong);
    return;
  }
  const auto on_cpu = category_ids.cpu();  // one transfer; the engine passes the ids with every batch
  const auto ids = on_cpu.accessor<int64_t, 1>();
  for (int64_t i = 0; i < k; ++i) {
    TORCH_CHECK(ids[i] >= 0 && ids[i] < classes_, "DETR: label ", i, " has category id ", ids[i],
                ", outside the detector's ", classes_,
                " classes (label_space category_id: classes must be > the largest id; COCO: 91)");
  }
  label_classes_ = on_cpu;
}

at::Tensor LabelMap::classes_of(const at::Tensor& labels) const {
  if (space_ == LabelSpace::Contiguous) return labels;
  TORCH_CHECK(label_classes_.defined(),
              "DETR: label_space category_id needs the data set's category ids (set_category_ids) before the loss");
  return label_classes_.to(labels.device()).index_select(0, labels);
}

}  // namespace lowbit::detection
