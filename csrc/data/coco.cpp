#include <lowbit/csrc/data/coco.h>

#include <lowbit/csrc/util/files.h>

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>

namespace lowbit::data {
namespace {

using nlohmann::json;

struct CocoImageEntry {
  size_t index;  // in "images", for messages
  int64_t id;
  std::string file_name;
  int64_t width, height;
};

struct CocoAnnotationEntry {
  size_t index;  // in "annotations"
  int64_t id, image_id, category_id;
  std::array<float, 4> box;
  double area;
  bool crowd;
};

struct CocoCategoryEntry {
  size_t index;  // in "categories"
  DetectionCategory category;
};

// One object of "images", "annotations" or "categories" with where it is, for messages:
// "<file>: annotations[17] (id 42): ...".
class CocoEntry {
 public:
  CocoEntry(const std::string& file, const char* section, size_t index, const json& object)
      : file_(file), section_(section), index_(index), object_(object) {
    const auto it = object.find("id");
    if (it != object.end() && it->is_number_integer()) id_ = it->get<int64_t>();
  }

  size_t index() const { return index_; }

  [[noreturn]] void fail(const std::string& what) const {
    TORCH_CHECK(false, file_, ": ", section_, "[", index_, "]", id_ ? " (id " + std::to_string(*id_) + ")" : "", ": ",
                what);
  }

  const json& at(const char* key) const {
    const auto it = object_.find(key);
    if (it == object_.end()) fail(std::string("missing key \"") + key + "\"");
    return *it;
  }

  int64_t integer(const char* key) const {
    const auto& value = at(key);
    if (!value.is_number_integer()) fail(std::string("\"") + key + "\" must be an integer, got " + value.dump());
    return value.get<int64_t>();
  }

  double number(const char* key) const {
    const auto& value = at(key);
    if (!value.is_number()) fail(std::string("\"") + key + "\" must be a number, got " + value.dump());
    return value.get<double>();
  }

  std::string string(const char* key) const {
    const auto& value = at(key);
    if (!value.is_string()) fail(std::string("\"") + key + "\" must be a string, got " + value.dump());
    return value.get<std::string>();
  }

  bool has(const char* key) const { return object_.contains(key); }

 private:
  const std::string& file_;
  const char* section_;
  size_t index_;
  const json& object_;
  std::optional<int64_t> id_;
};

CocoImageEntry read_image(const CocoEntry& e) {
  CocoImageEntry image{e.index(), e.integer("id"), e.string("file_name"), e.integer("width"), e.integer("height")};
  if (image.width <= 0 || image.height <= 0) {
    e.fail("image size " + std::to_string(image.width) + "x" + std::to_string(image.height) + " is empty");
  }
  return image;
}

std::array<float, 4> read_bbox(const CocoEntry& e) {
  const auto& bbox = e.at("bbox");
  const bool four_numbers = bbox.is_array() && bbox.size() == 4 &&
                            std::all_of(bbox.begin(), bbox.end(), [](const json& v) { return v.is_number(); });
  if (!four_numbers) e.fail("\"bbox\" must be 4 numbers [x, y, w, h], got " + bbox.dump());
  std::array<float, 4> box{};
  for (size_t i = 0; i < 4; ++i) box[i] = bbox[i].get<float>();
  if (box[2] < 0) e.fail(c10::str("bbox has negative width ", box[2]));
  if (box[3] < 0) e.fail(c10::str("bbox has negative height ", box[3]));
  return box;
}

CocoAnnotationEntry read_annotation(const CocoEntry& e) {
  CocoAnnotationEntry a{e.index(), e.integer("id"), e.integer("image_id"), e.integer("category_id"), read_bbox(e),
                        e.number("area"), false};
  if (e.has("iscrowd")) {
    const auto crowd = e.integer("iscrowd");
    if (crowd != 0 && crowd != 1) e.fail("\"iscrowd\" must be 0 or 1, got " + std::to_string(crowd));
    a.crowd = crowd == 1;
  }
  return a;
}

CocoCategoryEntry read_category(const CocoEntry& e) { return {e.index(), {e.integer("id"), e.string("name")}}; }

// nlohmann's parser callback (json::parser_callback_t) that turns each entry of the three arrays
// into a struct when its object closes and then drops it; every other array or object value is
// refused at its start, so nlohmann never builds it (segmentations, "info", "licenses").
// Depths as nlohmann counts them: 1 = the top-level keys and their values, 2 = the entries of an
// array there, 3 = the keys and values of an entry, 4 = the elements of "bbox".
class CocoStream {
 public:
  explicit CocoStream(const std::string& file) : file_(file) {}

  bool operator()(int depth, json::parse_event_t event, json& parsed) {
    using Event = json::parse_event_t;
    const bool start = event == Event::object_start || event == Event::array_start;
    if (depth == 0) {
      TORCH_CHECK(event != Event::array_start && event != Event::value, file_, ": expected a JSON object at the top");
      return true;
    }
    if (depth == 1) return top_level(event, parsed);
    if (section_ == Section::Other) return !start;
    if (depth == 2) return entry(event, parsed);
    if (depth == 3 && event == Event::key) entry_key_ = parsed.get_ref<const std::string&>();
    // Of an entry's containers only an annotation's "bbox" is read.
    if (start) return depth == 3 && event == Event::array_start && section_ == Section::Annotations && entry_key_ == "bbox";
    return true;
  }

  void check_complete() const {
    for (const auto* key : {"images", "annotations", "categories"}) {
      TORCH_CHECK(seen_.count(key), file_, ": missing key \"", key, "\"");
    }
  }

  std::vector<CocoImageEntry> images;
  std::vector<CocoAnnotationEntry> annotations;
  std::vector<CocoCategoryEntry> categories;

 private:
  enum class Section { Other, Images, Annotations, Categories };

  bool top_level(json::parse_event_t event, const json& parsed) {
    using Event = json::parse_event_t;
    if (event == Event::key) {
      const auto& key = parsed.get_ref<const std::string&>();
      section_ = key == "images" ? Section::Images
                 : key == "annotations" ? Section::Annotations
                 : key == "categories" ? Section::Categories
                                       : Section::Other;
      section_name_ = key;
      return true;
    }
    if (section_ == Section::Other) return event != Event::object_start && event != Event::array_start;
    TORCH_CHECK(event == Event::array_start || event == Event::array_end, file_, ": \"", section_name_,
                "\" must be an array");
    if (event == Event::array_start) {
      seen_[section_name_] = true;
      next_index_ = 0;
    }
    return true;
  }

  bool entry(json::parse_event_t event, const json& parsed) {
    using Event = json::parse_event_t;
    if (event == Event::object_start) return true;
    TORCH_CHECK(event == Event::object_end, file_, ": ", section_name_, "[", next_index_, "]: expected an object",
                event == Event::value ? ", got " + parsed.dump() : std::string());
    const CocoEntry e(file_, section_name_.c_str(), next_index_++, parsed);
    if (section_ == Section::Images) images.push_back(read_image(e));
    if (section_ == Section::Annotations) annotations.push_back(read_annotation(e));
    if (section_ == Section::Categories) categories.push_back(read_category(e));
    return false;  // read: drop it
  }

  const std::string& file_;
  Section section_ = Section::Other;
  std::string section_name_;
  std::string entry_key_;
  size_t next_index_ = 0;
  std::map<std::string, bool> seen_;
};

std::string entry_name(const char* section, size_t index, int64_t id) {
  return c10::str(section, "[", index, "] (id ", id, ")");
}

// Categories sorted by id; a repeated id is an error.
std::vector<DetectionCategory> sorted_categories(const std::string& file, std::vector<CocoCategoryEntry> entries) {
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.category.id < b.category.id; });
  std::vector<DetectionCategory> categories;
  for (size_t i = 0; i < entries.size(); ++i) {
    TORCH_CHECK(i == 0 || entries[i].category.id != entries[i - 1].category.id, file, ": ",
                entry_name("categories", entries[i].index, entries[i].category.id), ": the id is repeated");
    categories.push_back(entries[i].category);
  }
  return categories;
}

// Images sorted by id, files under `folder`; a repeated id or a missing file is an error.
std::vector<DetectionImage> sorted_images(const std::string& file, const std::string& folder,
                                          std::vector<CocoImageEntry> entries) {
  TORCH_CHECK(!entries.empty(), file, ": \"images\" is empty");
  for (const auto& e : entries) {  // in file order: the first missing file is reported
    const auto path = util::join_path(folder, e.file_name);
    TORCH_CHECK(util::file_exists(path), file, ": ", entry_name("images", e.index, e.id), ": ", path, " does not exist");
  }
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  std::vector<DetectionImage> images;
  images.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    TORCH_CHECK(i == 0 || e.id != entries[i - 1].id, file, ": ", entry_name("images", e.index, e.id), ": the id is repeated");
    images.push_back({e.id, util::join_path(folder, e.file_name), e.width, e.height, {}});
  }
  return images;
}

void attach_annotations(const std::string& file, const std::vector<CocoAnnotationEntry>& entries, DetectionSet& set) {
  std::unordered_map<int64_t, size_t> image_of;
  for (size_t i = 0; i < set.images.size(); ++i) image_of.emplace(set.images[i].id, i);
  std::unordered_map<int64_t, int64_t> label_of;
  for (int64_t k = 0; k < set.num_classes(); ++k) label_of.emplace(set.categories[static_cast<size_t>(k)].id, k);
  for (const auto& a : entries) {
    const auto image = image_of.find(a.image_id);
    TORCH_CHECK(image != image_of.end(), file, ": ", entry_name("annotations", a.index, a.id), ": image_id ", a.image_id,
                " is not in images");
    const auto label = label_of.find(a.category_id);
    TORCH_CHECK(label != label_of.end(), file, ": ", entry_name("annotations", a.index, a.id), ": category_id ",
                a.category_id, " is not in categories");
    set.images[image->second].annotations.push_back({a.box, label->second, a.category_id, a.area, a.crowd});
  }
}

}  // namespace

DetectionSet read_coco(const std::string& annotation_file, const std::string& image_folder) {
  const auto bytes = util::read_file(annotation_file);
  CocoStream stream(annotation_file);
  try {
    const auto remainder = json::parse(bytes, std::ref(stream));  // the top level, emptied
    static_cast<void>(remainder);
  } catch (const json::exception& e) {
    TORCH_CHECK(false, annotation_file, ": not valid JSON: ", e.what());
  }
  stream.check_complete();
  DetectionSet set;
  set.categories = sorted_categories(annotation_file, std::move(stream.categories));
  set.images = sorted_images(annotation_file, image_folder, std::move(stream.images));
  attach_annotations(annotation_file, stream.annotations, set);
  return set;
}

}  // namespace lowbit::data
