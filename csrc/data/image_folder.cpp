#include <lowbit/csrc/data/image_folder.h>

#include <lowbit/csrc/util/files.h>

#include <c10/util/Exception.h>

#include <cctype>

namespace lowbit::data {
namespace {

bool is_jpeg_name(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string extension = name.substr(dot + 1);
  for (auto& c : extension) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return extension == "jpg" || extension == "jpeg";
}

}  // namespace

ImageFolder scan_image_folder(const std::string& root) {
  ImageFolder folder;
  std::vector<std::string> empty_classes;
  for (const auto& entry : util::list_directory(root)) {
    if (!entry.is_directory || entry.name[0] == '.') continue;
    const auto label = static_cast<int64_t>(folder.classes.size());
    const auto class_dir = util::join_path(root, entry.name);
    const auto before = folder.samples.size();
    for (const auto& file : util::list_directory(class_dir)) {
      if (!file.is_directory && file.name[0] != '.' && is_jpeg_name(file.name)) {
        folder.samples.push_back({util::join_path(class_dir, file.name), label});
      }
    }
    if (folder.samples.size() == before) empty_classes.push_back(entry.name);
    folder.classes.push_back(entry.name);
  }
  TORCH_CHECK(!folder.classes.empty(), root, ": no class folders (expected ",
              util::join_path(root, "<class>/<image>.JPEG"), ")");
  if (!empty_classes.empty()) {
    std::string names;
    for (size_t i = 0; i < std::min<size_t>(empty_classes.size(), 5); ++i) names += (i ? ", " : "") + empty_classes[i];
    if (empty_classes.size() > 5) names += ", ...";
    TORCH_CHECK(false, root, ": ", empty_classes.size(), " of ", folder.classes.size(),
                " class folders hold no .jpg/.jpeg image (", names,
                "); an empty class would shift the labels of the classes after it");
  }
  return folder;
}

}  // namespace lowbit::data
