#pragma once
// COCO files for evaluation: an instances JSON (what pycocotools' COCO(annotation_file) reads
// for a bbox evaluation) and a results JSON (COCO.loadRes). Every error names the file and the
// entry, e.g.
//   instances.json: annotations[17] (id 42): box of negative width -3
//   results.json: [5] (image_id 139): unknown category_id 91

#include <lowbit/csrc/eval/coco_eval.h>

#include <string>
#include <vector>

namespace lowbit::eval {

// "images" [{id}], "categories" [{id}] and "annotations" [{id, image_id, category_id, bbox, area,
// iscrowd}] (absent: none, as in a test-dev image list); other keys are not read. Ids are
// integers, each image and category id given once; an annotation's image and category must be
// listed; a box is 4 finite numbers, its width and height >= 0; iscrowd is 0, 1 or a boolean.
CocoGroundTruth read_coco_ground_truth(const std::string& instances_json);

// A list of {image_id, category_id, bbox, score} (other keys, such as a "segmentation", are not
// read), in file order. As loadRes, an image id that is not an image of `ground_truth` is an
// error; so is a category id that is not one of its categories (pycocotools would drop the
// entry silently). An empty list is no detections (pycocotools fails on it).
std::vector<CocoDetection> read_coco_results(const std::string& results_json, const CocoGroundTruth& ground_truth);

}  // namespace lowbit::eval
