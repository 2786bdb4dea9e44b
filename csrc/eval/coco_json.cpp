// Reading the COCO instances and results JSON files (coco_json.h) with nlohmann_json.
#include <lowbit/csrc/eval/coco_json.h>

#include <lowbit/csrc/util/files.h>

#include <c10/util/Exception.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

namespace lowbit::eval {
namespace {

using Json = nlohmann::json;

// Where an entry sits, for messages: "instances.json: annotations[17] (id 42)".
struct Entry {
  const std::string& file;
  const char* array;  // "" for the top-level list of a results file
  size_t index;
  const char* id_key = nullptr;  // set once the entry's id has been read
  int64_t id = 0;

  std::string where() const {
    std::string text = file + ": " + array + "[" + std::to_string(index) + "]";
    if (id_key != nullptr) text += std::string(" (") + id_key + " " + std::to_string(id) + ")";
    return text;
  }
};

// A value in a message: its JSON type and text, shortened.
std::string describe(const Json& value) {
  auto text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return std::string(value.type_name()) + " " + text;
}

Json parse_json_file(const std::string& path) {
  const auto bytes = util::read_file(path);
  Json root;
  try {
    root = Json::parse(bytes);
  } catch (const Json::parse_error& e) {
    TORCH_CHECK(false, path, ": not valid JSON (", e.what(), ")");
  }
  return root;
}

const Json& member(const Json& object, const char* key, const Entry& entry) {
  TORCH_CHECK(object.is_object(), entry.where(), ": expected an object, got ", describe(object));
  const auto it = object.find(key);
  TORCH_CHECK(it != object.end(), entry.where(), ": missing key '", key, "'");
  return *it;
}

int64_t integer_member(const Json& object, const char* key, const Entry& entry) {
  const auto& value = member(object, key, entry);
  TORCH_CHECK(value.is_number_integer(), entry.where(), ": '", key, "' must be an integer, got ", describe(value));
  return value.get<int64_t>();
}

double number_member(const Json& object, const char* key, const Entry& entry) {
  const auto& value = member(object, key, entry);
  TORCH_CHECK(value.is_number() && std::isfinite(value.get<double>()), entry.where(), ": '", key,
              "' must be a finite number, got ", describe(value));
  return value.get<double>();
}

// "bbox": [x, y, width, height], width and height >= 0.
CocoBox box_member(const Json& object, const Entry& entry) {
  const auto& value = member(object, "bbox", entry);
  TORCH_CHECK(value.is_array() && value.size() == 4, entry.where(), ": 'bbox' must be [x, y, width, height], got ",
              describe(value));
  CocoBox box{};
  for (size_t i = 0; i < 4; ++i) {
    TORCH_CHECK(value[i].is_number() && std::isfinite(value[i].get<double>()), entry.where(),
                ": 'bbox' must hold 4 finite numbers, got ", describe(value));
    box[i] = value[i].get<double>();
  }
  TORCH_CHECK(box[2] >= 0, entry.where(), ": box of negative width ", box[2]);
  TORCH_CHECK(box[3] >= 0, entry.where(), ": box of negative height ", box[3]);
  return box;
}

bool crowd_member(const Json& object, const Entry& entry) {
  const auto& value = member(object, "iscrowd", entry);
  if (value.is_boolean()) return value.get<bool>();
  TORCH_CHECK(value.is_number_integer() && (value.get<int64_t>() == 0 || value.get<int64_t>() == 1), entry.where(),
              ": 'iscrowd' must be 0, 1 or a boolean, got ", describe(value));
  return value.get<int64_t>() == 1;
}

const Json& array_member(const Json& root, const char* key, const std::string& file) {
  const auto it = root.find(key);
  TORCH_CHECK(it != root.end(), file, ": missing key '", key, "'");
  TORCH_CHECK(it->is_array(), file, ": '", key, "' must be a list, got ", describe(*it));
  return *it;
}

// The "id"s of root[key], each once, in file order.
std::vector<int64_t> read_ids(const Json& root, const char* key, const std::string& file) {
  const auto& list = array_member(root, key, file);
  std::vector<int64_t> ids;
  ids.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) ids.push_back(integer_member(list[i], "id", Entry{file, key, i}));
  auto sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  const auto twice = std::adjacent_find(sorted.begin(), sorted.end());
  if (twice != sorted.end()) {
    const size_t second = std::find(std::find(ids.begin(), ids.end(), *twice) + 1, ids.end(), *twice) - ids.begin();
    TORCH_CHECK(false, Entry{file, key, second}.where(), ": id ", *twice, " is given twice");
  }
  return ids;
}

bool listed(const std::vector<int64_t>& sorted_ids, int64_t id) {
  return std::binary_search(sorted_ids.begin(), sorted_ids.end(), id);
}

CocoAnnotation read_annotation(const Json& object, Entry& entry, const std::vector<int64_t>& sorted_images,
                               const std::vector<int64_t>& sorted_categories) {
  entry.id = integer_member(object, "id", entry);
  entry.id_key = "id";
  CocoAnnotation a{};
  a.image_id = integer_member(object, "image_id", entry);
  TORCH_CHECK(listed(sorted_images, a.image_id), entry.where(), ": image_id ", a.image_id, " is not in 'images'");
  a.category_id = integer_member(object, "category_id", entry);
  TORCH_CHECK(listed(sorted_categories, a.category_id), entry.where(), ": category_id ", a.category_id,
              " is not in 'categories'");
  a.bbox = box_member(object, entry);
  a.area = number_member(object, "area", entry);
  a.iscrowd = crowd_member(object, entry);
  return a;
}

CocoDetection read_detection(const Json& object, Entry& entry, const std::vector<int64_t>& sorted_images,
                             const std::vector<int64_t>& sorted_categories) {
  CocoDetection d{};
  d.image_id = integer_member(object, "image_id", entry);
  TORCH_CHECK(listed(sorted_images, d.image_id), entry.where(), ": image_id ", d.image_id,
              " is not an image of the annotations (pycocotools: 'Results do not correspond to current coco set')");
  entry.id = d.image_id;
  entry.id_key = "image_id";
  d.category_id = integer_member(object, "category_id", entry);
  TORCH_CHECK(listed(sorted_categories, d.category_id), entry.where(), ": unknown category_id ", d.category_id);
  d.bbox = box_member(object, entry);
  d.score = number_member(object, "score", entry);
  return d;
}

std::vector<int64_t> sorted(std::vector<int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace

CocoGroundTruth read_coco_ground_truth(const std::string& instances_json) {
  const auto root = parse_json_file(instances_json);
  TORCH_CHECK(root.is_object(), instances_json, ": expected an object with 'images', 'annotations' and 'categories', got ",
              describe(root));
  CocoGroundTruth truth;
  truth.image_ids = read_ids(root, "images", instances_json);
  truth.category_ids = read_ids(root, "categories", instances_json);
  if (!root.contains("annotations")) return truth;
  const auto& annotations = array_member(root, "annotations", instances_json);
  const auto images = sorted(truth.image_ids), categories = sorted(truth.category_ids);
  truth.annotations.reserve(annotations.size());
  for (size_t i = 0; i < annotations.size(); ++i) {
    Entry entry{instances_json, "annotations", i};
    truth.annotations.push_back(read_annotation(annotations[i], entry, images, categories));
  }
  return truth;
}

std::vector<CocoDetection> read_coco_results(const std::string& results_json, const CocoGroundTruth& ground_truth) {
  const auto root = parse_json_file(results_json);
  TORCH_CHECK(root.is_array(), results_json,
              ": expected a list of detections [{image_id, category_id, bbox, score}, ...], got ", describe(root));
  const auto images = sorted(ground_truth.image_ids), categories = sorted(ground_truth.category_ids);
  std::vector<CocoDetection> detections;
  detections.reserve(root.size());
  for (size_t i = 0; i < root.size(); ++i) {
    Entry entry{results_json, "", i};
    detections.push_back(read_detection(root[i], entry, images, categories));
  }
  return detections;
}

}  // namespace lowbit::eval
