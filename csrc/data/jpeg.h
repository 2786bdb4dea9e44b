#pragma once
// JPEG decoding with libjpeg-turbo (ITU-T T.81 / JFIF; baseline and progressive).
//   YCbCr or RGB files -> RGB; grayscale -> RGB with three equal channels (PIL's convert("RGB")).
//   CMYK / YCCK (Adobe) and other colour spaces are refused with an error naming the file.
// Damaged data is an error, not a grey patch: libjpeg's corrupt-data warnings (premature end of
// file or of a data segment, bad Huffman or arithmetic code, lost restart marker) are raised as
// errors; warnings that lose no pixels (extraneous bytes between segments, unknown JFIF revision,
// bad ICC profile, unknown Adobe transform code) are ignored. None of the 1000 files of the ImageNet
// sample in ../shared/data raises any libjpeg warning.

#include <ATen/core/Tensor.h>

#include <string>

namespace lowbit::data {

// The image in `path` as uint8 [3, H, W], RGB. The tensor keeps the decoder's interleaved layout
// (strides [1, 3W, 3], i.e. channels-last); call .contiguous() for planar storage.
//
// min_size > 0 lets libjpeg decode at a reduced scale M/8 (scale_num/scale_denom: the inverse DCT
// is computed at the smaller size): the smallest M in {1, 2, 4} that keeps the shorter side >=
// min_size, else full size (M = 8). Callers pass the size they will shrink the image to anyway, e.g.
// 256 before Resize(256). Measured on the ImageNet sample (one thread): 1/2 decodes 1.15x, 1/4 1.25x
// and 1/8 1.45x as fast as full size; a typical 500x375 image has no reduced scale >= 256.
//
// Throws c10::Error naming the file: "<path>: not a JPEG file (starts with 89 50 4e 47: PNG?)",
// "<path>: corrupt or truncated JPEG (<libjpeg message>)", "<path>: CMYK JPEG is not supported ...".
at::Tensor decode_jpeg(const std::string& path, int64_t min_size = 0);

}  // namespace lowbit::data
