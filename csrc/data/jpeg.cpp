#include <lowbit/csrc/data/jpeg.h>

#include <lowbit/csrc/util/files.h>
#include <lowbit/csrc/util/files.h>

#include <ATen/ATen.h>

#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE and size_t declared first

#include <jpeglib.h>
#include <jerror.h>  // after jpeglib.h: its message list depends on jconfig.h's settings

namespace lowbit::data {
namespace {

// libjpeg reports a fatal error by calling error_exit, which must not return. It longjmps back to
// the step that called libjpeg (below), never through a C++ frame: every step runs in a function
// that holds no object with a destructor, which is when [csetjmp.syn] makes longjmp well defined.
struct ErrorManager {
  jpeg_error_mgr base;  // first member: libjpeg hands back &base as info->err
  std::jmp_buf step;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void on_error(j_common_ptr info) {
  auto* errors = reinterpret_cast<ErrorManager*>(info->err);
  info->err->format_message(info, errors->message);
  std::longjmp(errors->step, 1);
}

// level < 0: a warning, after which libjpeg goes on with made-up data (a grey or smeared rest of
// the image, e.g. for a truncated file); those that mean lost pixels are errors here.
void on_message(j_common_ptr info, int level) {
  if (level >= 0) return;  // trace messages
  switch (info->err->msg_code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
      on_error(info);
    default:
      return;
  }
}

// A zeroed jpeg_decompress_struct is safe to destroy whether or not jpeg_create_decompress ran.
struct Decompressor {
  jpeg_decompress_struct info{};
  ErrorManager errors{};
  ~Decompressor() { jpeg_destroy_decompress(&info); }
};

// The steps. Each returns false when libjpeg failed, with its message in d.errors.message.
bool read_header(Decompressor& d, const std::string& bytes) {
  d.info.err = jpeg_std_error(&d.errors.base);
  d.errors.base.error_exit = on_error;
  d.errors.base.emit_message = on_message;
  if (setjmp(d.errors.step)) return false;
  jpeg_create_decompress(&d.info);
  jpeg_mem_src(&d.info, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&d.info, TRUE);
  return true;
}

bool start(Decompressor& d) {
  if (setjmp(d.errors.step)) return false;
  jpeg_start_decompress(&d.info);
  return true;
}

bool read_rows(Decompressor& d, uint8_t* pixels) {
  if (setjmp(d.errors.step)) return false;
  const size_t row_bytes = size_t{d.info.output_width} * 3;
  while (d.info.output_scanline < d.info.output_height) {
    JSAMPROW row = pixels + row_bytes * d.info.output_scanline;
    jpeg_read_scanlines(&d.info, &row, 1);
  }
  jpeg_finish_decompress(&d.info);  // reads up to EOI, so a truncated tail is reported
  return true;
}

// What a file that is not a JPEG probably is, from its signature; nullptr if unknown. (ImageNet's
// training set holds a PNG and a few CMYK JPEGs under .JPEG names.)
const char* guess_format(const std::string& bytes) {
  const auto starts_with = [&](size_t at, const char* magic, size_t n) {
    return bytes.size() >= at + n && bytes.compare(at, n, magic, n) == 0;
  };
  if (starts_with(0, "\x89PNG", 4)) return "PNG";
  if (starts_with(0, "GIF8", 4)) return "GIF";
  if (starts_with(0, "RIFF", 4) && starts_with(8, "WEBP", 4)) return "WebP";
  if (starts_with(0, "II*\0", 4) || starts_with(0, "MM\0*", 4)) return "TIFF";
  if (starts_with(0, "BM", 2)) return "BMP";
  return nullptr;
}

// The smallest M in {1, 2, 4} with ceil(shorter * M / 8) >= min_size (libjpeg rounds scaled sizes
// up), else 8. Only these scales have SIMD inverse DCTs in libjpeg-turbo: on the ImageNet sample 3/8
// to 7/8 decode no faster than 8/8, and 5/8 to 7/8 slower.
int scale_eighths(int64_t height, int64_t width, int64_t min_size) {
  const int64_t shorter = std::min(height, width);
  for (int m : {1, 2, 4}) {
    if ((shorter * m + 7) / 8 >= min_size) return m;
  }
  return 8;
}

}  // namespace

at::Tensor decode_jpeg(const std::string& path, int64_t min_size) {
  const std::string bytes = util::read_file(path);
  const bool is_jpeg = bytes.size() >= 3 && bytes.compare(0, 3, "\xff\xd8\xff", 3) == 0;
  if (!is_jpeg) {
    const char* format = guess_format(bytes);
    TORCH_CHECK(!bytes.empty(), path, ": not a JPEG file (empty)");
    TORCH_CHECK(false, path, ": not a JPEG file (starts with ", util::hex_prefix(bytes),
                format ? std::string(": ") + format + "?" : std::string("; expected ff d8 ff"), ")");
  }
  Decompressor d;
  TORCH_CHECK(read_header(d, bytes), path, ": corrupt or truncated JPEG (", d.errors.message, ")");
  const auto space = d.info.jpeg_color_space;
  TORCH_CHECK(space != JCS_CMYK && space != JCS_YCCK, path, ": CMYK JPEG is not supported (convert it to RGB)");
  TORCH_CHECK(space == JCS_GRAYSCALE || space == JCS_YCbCr || space == JCS_RGB, path,
              ": unsupported JPEG colour space (", d.info.num_components, " components)");
  d.info.out_color_space = JCS_RGB;
  if (min_size > 0) {
    d.info.scale_num = scale_eighths(d.info.image_height, d.info.image_width, min_size);
    d.info.scale_denom = 8;
  }
  TORCH_CHECK(start(d), path, ": corrupt or truncated JPEG (", d.errors.message, ")");
  const int64_t height = d.info.output_height, width = d.info.output_width;
  auto pixels = at::empty({height, width, 3}, at::kByte);
  TORCH_CHECK(read_rows(d, pixels.data_ptr<uint8_t>()), path, ": corrupt or truncated JPEG (", d.errors.message, ")");
  return pixels.permute({2, 0, 1});
}

}  // namespace lowbit::data
