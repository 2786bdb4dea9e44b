#include <lowbit/csrc/data/cifar.h>

#include <lowbit/csrc/data/gzip_file.h>
#include <lowbit/csrc/util/files.h>

#include <ATen/ATen.h>

#include <vector>

namespace lowbit::data {
namespace {

constexpr int64_t kPixels = 3 * 32 * 32;

std::vector<std::string> batch_files(Split split, CifarVariant variant) {
  if (variant != CifarVariant::Cifar10) return {split == Split::Train ? "train.bin" : "test.bin"};
  if (split == Split::Test) return {"test_batch.bin"};
  return {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"};
}

}  // namespace

ImageSet load_cifar(const std::string& root, Split split, CifarVariant variant) {
  const int64_t label_bytes = variant == CifarVariant::Cifar10 ? 1 : 2;
  const int64_t label_offset = variant == CifarVariant::Cifar100Fine ? 1 : 0;
  const int64_t record = label_bytes + kPixels;
  const int64_t classes = variant == CifarVariant::Cifar10 ? 10 : variant == CifarVariant::Cifar100Fine ? 100 : 20;
  std::vector<at::Tensor> images, labels;
  for (const auto& name : batch_files(split, variant)) {
    const auto path = util::join_path(root, name);
    const std::string bytes = read_maybe_gzipped(path);
    TORCH_CHECK(!bytes.empty() && static_cast<int64_t>(bytes.size()) % record == 0, path, ": ", bytes.size(),
                " bytes is not a whole number of ", record, "-byte ",
                variant == CifarVariant::Cifar10 ? "CIFAR-10" : "CIFAR-100", " records");
    const int64_t n = static_cast<int64_t>(bytes.size()) / record;
    const auto raw = at::from_blob(const_cast<char*>(bytes.data()), {n, record}, at::kByte);
    images.push_back(raw.slice(1, label_bytes).reshape({n, 3, 32, 32}).clone());
    labels.push_back(raw.select(1, label_offset).to(at::kLong));
    const int64_t largest = labels.back().max().item<int64_t>();
    TORCH_CHECK(largest < classes, path, ": label ", largest, " is outside [0, ", classes, ")");
  }
  return {at::cat(images), at::cat(labels), classes};
}

}  // namespace lowbit::data
