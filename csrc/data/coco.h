#pragma once
// COCO object detection annotations ("instances" files, https://cocodataset.org/#format-data)
// and the folder of their images:
//   {"images": [{"id", "file_name", "width", "height", ...}],
//    "annotations": [{"id", "image_id", "category_id", "bbox": [x, y, w, h], "area", "iscrowd", ...}],
//    "categories": [{"id", "name", ...}], ...}
//
// - Images come sorted by id, the order of torchvision's CocoDetection (sorted(coco.imgs.keys())),
//   which DETR samples from. Images without annotations are kept.
// - Each image's annotations come in file order (pycocotools' imgToAnns); crowd ones (iscrowd 1)
//   are kept with ignore = true. "iscrowd" may be absent (0), as DETR and torchvision read it.
// - Category ids, sorted, map to labels 0..K-1 (detection_set.h).
// - The file is parsed as a stream: every entry of images / annotations / categories is read and
//   dropped as soon as it closes, and segmentations, "info" and "licenses" are never built, so the
//   memory held is the file's bytes plus the DetectionSet.
//
// Errors (c10::Error) name the file and the entry: "<file>: annotations[17] (id 42): bbox has
// negative width -3", "<file>: annotations[3] (id 7): category_id 91 is not in categories",
// "<file>: annotations[5] (id 9): image_id 12 is not in images", "<file>: images[0] (id 139):
// missing key \"file_name\"", "<file>: \"images\" is empty", "<file>: images[2] (id 632):
// <folder>/000000000632.jpg does not exist" (every image file is stat'ed here), and for
// malformed JSON nlohmann's message with its line and column.

#include <lowbit/csrc/data/detection_set.h>

#include <string>

namespace lowbit::data {

DetectionSet read_coco(const std::string& annotation_file, const std::string& image_folder);

}  // namespace lowbit::data
