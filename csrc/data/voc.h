#pragma once
// PASCAL VOC detection in the VOCdevkit layout (Everingham et al., IJCV 2010), read with pugixml:
//   <devkit>/VOC<year>/ImageSets/Main/<set>.txt   one image name per line
//   <devkit>/VOC<year>/Annotations/<name>.xml     <size>, and per <object> <name>, <difficult>, <bndbox>
//   <devkit>/VOC<year>/JPEGImages/<name>.jpg
// Several (year, set) pairs are read one after the other, e.g. {2007, trainval} + {2012, trainval}
// ("VOC07+12" training) or {2007, test}; an image's id is its index in that concatenation.
//
// The 20 classes in the standard order (the devkit's VOCinit.m) are the categories, ids 1..20.
// Boxes: VOC's <bndbox> holds 1-based pixel indices, both ends included, so (xmin = 1, xmax = W)
// covers the whole image; as continuous coordinates that box is [xmin - 1, xmax] (detectron2,
// data/datasets/pascal_voc.py: "bbox[0] -= 1.0; bbox[1] -= 1.0"), hence
//   x = xmin - 1,  y = ymin - 1,  w = xmax - xmin + 1,  h = ymax - ymin + 1,  area = w * h,
// which also makes the IoU of two boxes the devkit's inclusive-pixel IoU (VOCevaldet.m's +1).
// (mmdet 2.x's XMLDataset keeps (xmin, ymin, xmax, ymax) as they are: one pixel narrower.)
// <difficult> 1 sets ignore (absent: 0, as mmdet); such objects stay out of the training
// targets and are ignored by the VOC metric.
//
// Errors (c10::Error) name the file and the object: "<xml>: object 2: no <bndbox>",
// "<xml>: object 0: unknown class 'dgo' (did you mean 'dog'?)", "<xml>: cannot read (...)",
// "<set file>:17: <devkit>/VOC2007/JPEGImages/000017.jpg does not exist" (every image is stat'ed).

#include <lowbit/csrc/data/detection_set.h>

#include <array>
#include <string>
#include <vector>

namespace lowbit::data {

inline constexpr std::array<const char*, 20> kVocClasses = {
    "aeroplane", "bicycle", "bird",  "boat",        "bottle", "bus",   "car",   "cat",   "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"};

// One image set of one year: VOC<year>/ImageSets/Main/<name>.txt.
struct VocImageSet {
  std::string year;  // "2007"
  std::string name;  // "trainval", "test"
};

// "2007/trainval" -> {"2007", "trainval"}; throws for anything else ("2007", "07/test").
VocImageSet parse_voc_image_set(const std::string& spec);

DetectionSet read_voc(const std::string& devkit, const std::vector<VocImageSet>& sets);

}  // namespace lowbit::data
