#include <lowbit/csrc/data/voc.h>

#include <lowbit/csrc/util/files.h>
#include <lowbit/csrc/util/suggest.h>

#include <c10/util/Exception.h>
#include <pugixml.hpp>

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace lowbit::data {
namespace {

const std::vector<std::string>& voc_class_names() {
  static const std::vector<std::string> names(kVocClasses.begin(), kVocClasses.end());
  return names;
}

// The number in <name> under `node`, e.g. <xmin>48</xmin>, read as a float (detectron2: float(text);
// mmdet truncates, int(float(text))).
double xml_number(const pugi::xml_node& node, const char* name, const std::string& where) {
  const auto child = node.child(name);
  TORCH_CHECK(child, where, ": no <", name, ">");
  const std::string text = child.text().get();
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  TORCH_CHECK(!text.empty() && end != text.c_str() && *end == '\0', where, ": <", name, "> must be a number, got '",
              text, "'");
  return value;
}

DetectionAnnotation read_object(const pugi::xml_node& object, const std::string& where) {
  TORCH_CHECK(object.child("name"), where, ": no <name>");
  const std::string name = object.child("name").text().get();
  const auto& classes = voc_class_names();
  const auto it = std::find(classes.begin(), classes.end(), name);
  TORCH_CHECK(it != classes.end(), where, ": unknown class '", name, "'", util::did_you_mean(name, classes));
  const auto label = static_cast<int64_t>(it - classes.begin());
  const auto bndbox = object.child("bndbox");
  TORCH_CHECK(bndbox, where, " ('", name, "'): no <bndbox>");
  const auto box_where = where + " ('" + name + "') <bndbox>";
  const double xmin = xml_number(bndbox, "xmin", box_where), ymin = xml_number(bndbox, "ymin", box_where);
  const double xmax = xml_number(bndbox, "xmax", box_where), ymax = xml_number(bndbox, "ymax", box_where);
  TORCH_CHECK(xmax >= xmin && ymax >= ymin, box_where, ": empty box, xmin ", xmin, " xmax ", xmax, " ymin ", ymin,
              " ymax ", ymax);
  // 1-based inclusive pixel indices -> continuous (x, y, w, h): see voc.h.
  const double w = xmax - xmin + 1, h = ymax - ymin + 1;
  const bool difficult = object.child("difficult") && object.child("difficult").text().as_int() != 0;
  return {{static_cast<float>(xmin - 1), static_cast<float>(ymin - 1), static_cast<float>(w), static_cast<float>(h)},
          label, label + 1, w * h, difficult};
}

// The image described by Annotations/<name>.xml of `year_dir`.
DetectionImage read_annotation_file(const std::string& year_dir, const std::string& name, int64_t id) {
  const auto xml = util::join_path(year_dir, "Annotations/" + name + ".xml");
  const auto bytes = util::read_file(xml);
  pugi::xml_document doc;
  const auto parsed = doc.load_buffer(bytes.data(), bytes.size());
  TORCH_CHECK(parsed, xml, ": not valid XML: ", parsed.description(), " at byte ", parsed.offset);
  const auto annotation = doc.child("annotation");
  TORCH_CHECK(annotation, xml, ": no <annotation> element");
  const auto size = annotation.child("size");
  TORCH_CHECK(size, xml, ": no <size>");
  DetectionImage image{id, util::join_path(year_dir, "JPEGImages/" + name + ".jpg"),
                       static_cast<int64_t>(xml_number(size, "width", xml + " <size>")),
                       static_cast<int64_t>(xml_number(size, "height", xml + " <size>")), {}};
  TORCH_CHECK(image.width > 0 && image.height > 0, xml, ": <size> ", image.width, "x", image.height, " is empty");
  int64_t index = 0;
  for (const auto& object : annotation.children("object")) {
    image.annotations.push_back(read_object(object, xml + ": object " + std::to_string(index++)));
  }
  return image;
}

void read_image_set(const std::string& devkit, const VocImageSet& set, std::vector<DetectionImage>& images) {
  const auto year_dir = util::join_path(devkit, "VOC" + set.year);
  const auto list = util::join_path(year_dir, "ImageSets/Main/" + set.name + ".txt");
  std::istringstream lines(util::read_file(list));
  std::string line;
  for (int64_t number = 1; std::getline(lines, line); ++number) {
    std::istringstream fields(line);
    std::string name;
    if (!(fields >> name)) continue;  // blank line
    auto image = read_annotation_file(year_dir, name, static_cast<int64_t>(images.size()));
    TORCH_CHECK(util::file_exists(image.path), list, ":", number, ": ", image.path, " does not exist");
    images.push_back(std::move(image));
  }
}

}  // namespace

VocImageSet parse_voc_image_set(const std::string& spec) {
  const auto slash = spec.find('/');
  const bool valid = slash == 4 && spec.find('/', slash + 1) == std::string::npos && slash + 1 < spec.size() &&
                     spec.find_first_not_of("0123456789") == 4;
  TORCH_CHECK(valid, "expected a VOC image set as \"<year>/<set>\", e.g. \"2007/trainval\", got \"", spec, "\"");
  return {spec.substr(0, slash), spec.substr(slash + 1)};
}

DetectionSet read_voc(const std::string& devkit, const std::vector<VocImageSet>& sets) {
  TORCH_CHECK(!sets.empty(), "read_voc: no image sets given");
  DetectionSet set;
  for (size_t k = 0; k < kVocClasses.size(); ++k) set.categories.push_back({static_cast<int64_t>(k) + 1, kVocClasses[k]});
  for (const auto& image_set : sets) read_image_set(devkit, image_set, set.images);
  TORCH_CHECK(!set.images.empty(), devkit, ": the image sets list no image");
  return set;
}

}  // namespace lowbit::data
