#pragma once
// CIFAR-10 / CIFAR-100 in the official binary layout (Krizhevsky 2009):
//   CIFAR-10 : <root>/data_batch_{1..5}.bin, test_batch.bin; records <label><1024 R><1024 G><1024 B>
//   CIFAR-100: <root>/train.bin, test.bin;   records <coarse label><fine label><3072 pixels>
// root is the folder holding the .bin files (cifar-10-batches-bin/, cifar-100-binary/).

#include <lowbit/csrc/data/image_set.h>

#include <string>

namespace lowbit::data {

enum class CifarVariant { Cifar10, Cifar100Fine, Cifar100Coarse };

// images [N, 3, 32, 32] uint8, labels [N] int64 (10, 100 or 20 classes). Throws naming a missing
// file or one that is not a whole number of records.
ImageSet load_cifar(const std::string& root, Split split, CifarVariant variant);

}  // namespace lowbit::data
