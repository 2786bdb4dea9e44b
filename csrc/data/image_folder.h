#pragma once
// The class-folder layout of ImageNet (ILSVRC-2012) and torchvision.datasets.ImageFolder:
//   <root>/<class>/<image>.JPEG
// Classes are root's sub-folders sorted by name in byte order, as torchvision's sorted(); for
// ILSVRC-2012 the sorted wnids are the standard class order (label 0 = n01440764, as in Caffe's
// synset_words.txt). Samples come class by class, each class's files sorted by name. Only .jpg and
// .jpeg files count, in any letter case (.JPEG, .JPG); other files are ignored, and so are entries
// whose name starts with '.' (e.g. .ipynb_checkpoints, which torchvision would take for a class).

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::data {

struct ImageSample {
  std::string path;
  int64_t label;
};

struct ImageFolder {
  std::vector<std::string> classes;  // folder names; label i is classes[i]
  std::vector<ImageSample> samples;
};

// Throws naming root when it cannot be listed or holds no class folder. A class folder without a
// single image is an error naming it, not skipped: skipping would silently shift the label of every
// later class away from the standard order (torchvision's ImageFolder refuses it too).
ImageFolder scan_image_folder(const std::string& root);

}  // namespace lowbit::data
