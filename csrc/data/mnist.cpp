#include <lowbit/csrc/data/mnist.h>

#include <lowbit/csrc/data/idx.h>
#include <lowbit/csrc/util/files.h>

#include <ATen/ATen.h>

namespace lowbit::data {
namespace {

// root/name.gz if present, else root/name (reported as missing when neither exists).
std::string find_file(const std::string& root, const std::string& name) {
  const auto plain = util::join_path(root, name);
  return util::file_exists(plain + ".gz") ? plain + ".gz" : plain;
}

}  // namespace

ImageSet load_mnist(const std::string& root, Split split) {
  const std::string prefix = split == Split::Train ? "train" : "t10k";
  const auto images_path = find_file(root, prefix + "-images-idx3-ubyte");
  const auto labels_path = find_file(root, prefix + "-labels-idx1-ubyte");
  auto images = read_idx(images_path);
  auto labels = read_idx(labels_path);
  TORCH_CHECK(images.dim() == 3 && images.scalar_type() == at::kByte, images_path,
              ": expected uint8 images [N, H, W], got ", images.scalar_type(), " ", images.sizes());
  TORCH_CHECK(labels.dim() == 1 && labels.scalar_type() == at::kByte, labels_path,
              ": expected uint8 labels [N], got ", labels.scalar_type(), " ", labels.sizes());
  TORCH_CHECK(images.size(0) == labels.size(0), images_path, " holds ", images.size(0), " images but ", labels_path,
              " holds ", labels.size(0), " labels");
  TORCH_CHECK(labels.numel() == 0 || labels.max().item<int64_t>() < 10, labels_path, ": label ",
              labels.max().item<int64_t>(), " is outside [0, 10)");
  return {images.unsqueeze(1), labels.to(at::kLong), 10};
}

}  // namespace lowbit::data
