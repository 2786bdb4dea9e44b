#pragma once
// A detection data set as COCO and PASCAL VOC both describe it: images (id, file, size), the boxes
// annotated on each, and the categories. Readers: read_coco (coco.h), read_voc (voc.h).
//
// Labels are contiguous, 0..K-1, in the order of the category ids: label k is categories[k], and
// categories are sorted by id (COCO: 1..90 with gaps -> 0..79, as DETR's and mmdet's cat2label;
// VOC: ids 1..20 in the standard class order).

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::data {

struct DetectionCategory {
  int64_t id;
  std::string name;
};

struct DetectionAnnotation {
  std::array<float, 4> box;  // (x, y, w, h) in pixels of the original image, as COCO's "bbox"
  int64_t label;             // contiguous, index into DetectionSet::categories
  int64_t category_id;       // the data set's id of that category
  double area;               // COCO: the annotation's "area" (of its segmentation); VOC: w * h
  // COCO iscrowd, VOC difficult: left out of the training targets and "ignore" when evaluating.
  bool ignore;
};

struct DetectionImage {
  int64_t id;         // COCO: the image's id; VOC: its index in the list of the sets read
  std::string path;   // the image file
  int64_t width, height;  // as the annotation file states them
  std::vector<DetectionAnnotation> annotations;  // in file order; may be empty
};

struct DetectionSet {
  std::vector<DetectionCategory> categories;  // sorted by id; label k = categories[k]
  std::vector<DetectionImage> images;

  int64_t num_classes() const { return static_cast<int64_t>(categories.size()); }
  // The label of category `id` (binary search over the sorted ids); throws for an unknown id.
  int64_t label_of(int64_t category_id) const;
  // The category id of label `label`; throws outside [0, K).
  int64_t category_id(int64_t label) const;
};

}  // namespace lowbit::data
