#pragma once
// IDX files (the MNIST / Fashion-MNIST format, LeCun et al.), raw or gzip-compressed:
//   magic 0x00 0x00 <type> <ndims>, then ndims big-endian uint32 sizes, then the data, big-endian.
//   type 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.

#include <ATen/core/Tensor.h>

#include <string>

namespace lowbit::data {

// The file's contents as a CPU tensor of its element type and shape. Throws naming the file
// when it is missing, not IDX, or shorter or longer than its header says.
at::Tensor read_idx(const std::string& path);

}  // namespace lowbit::data
