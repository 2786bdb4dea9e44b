#pragma once
// MNIST-format data sets (MNIST, Fashion-MNIST) from their four IDX files, raw or .gz:
//   <root>/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
// Fashion-MNIST ships with Debian's dataset-fashion-mnist under kFashionMnistRoot.

#include <lowbit/csrc/data/image_set.h>

#include <string>

namespace lowbit::data {

inline constexpr const char* kFashionMnistRoot = "/usr/share/datasets/fashion-mnist";

// images [N, 1, 28, 28] uint8, labels [N] int64, 10 classes. Throws naming the missing or bad
// file, or the mismatch between images and labels.
ImageSet load_mnist(const std::string& root, Split split);

}  // namespace lowbit::data
