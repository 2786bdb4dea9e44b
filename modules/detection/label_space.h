#pragma once
// What DETR's class outputs mean. The data sets give contiguous labels 0..K-1 and the category
// id of each (the batch's meta["category_ids"]; COCO: its 80 ids, 1..90 with gaps).
//   category_id  class c = the category id of the label (official DETR: num_classes = max id + 1
//                = 91 for COCO, so class_embed has 92 outputs with no-object last; the official
//                weights predict category ids). Needs the category ids, all < classes.
//   contiguous   class c = the label (a model trained from scratch with classes: 80 on COCO,
//                20 on VOC). Needs K <= classes.
// Post-processing scores only the classes that are some label's (the data set's K columns of
// the softmax), so it always returns contiguous labels; with category_id this skips the unused
// COCO ids, which could never match a ground-truth box.

#include <ATen/core/Tensor.h>

#include <string>

namespace lowbit::detection {

enum class LabelSpace { CategoryId, Contiguous };

LabelSpace parse_label_space(const std::string& name);  // "category_id" | "contiguous"

class LabelMap {
 public:
  LabelMap(LabelSpace space, int64_t classes);

  // int64 [K]; throws naming an id out of range (category_id) or K > classes (contiguous).
  void set_category_ids(const at::Tensor& category_ids);

  // The class index of each label in `labels` (int64 [G]); throws naming a label out of range.
  at::Tensor classes_of(const at::Tensor& labels) const;

  // The class index of every contiguous label (int64 [K]), or undefined when K is not known
  // (contiguous space before set_category_ids: every class is a label).
  const at::Tensor& label_classes() const { return label_classes_; }

  LabelSpace space() const { return space_; }
  int64_t classes() const { return classes_; }

 private:
  LabelSpace space_;
  int64_t classes_;
  at::Tensor label_classes_;
};

}  // namespace lowbit::detection
