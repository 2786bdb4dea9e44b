// The DeiT / timm image ops against PIL, torchvision and timm: the numbers in
// tests/data/reference/deit_transforms.txt were made by reference/deit_transforms.py (Pillow 13.0.0,
// torchvision 0.26.0, timm 1.0.31) on the images below with fixed parameters. uint8 outputs must be
// equal byte for byte (sum and FNV-1a hash); the erased float images within 1e-5.
#include <lowbit/csrc/data/pil_affine.h>
#include <lowbit/csrc/data/pil_resample.h>
#include <lowbit/csrc/data/rand_augment.h>
#include <lowbit/csrc/data/random_erasing.h>
#include <lowbit/csrc/data/transforms.h>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

using namespace lowbit::data;

namespace {

// deit_transforms.py's noise(): v_i = ((i * 2654435761 + 12345) mod 2^32) >> 24, i in [C, H, W] order.
torch::Tensor noise_image(int64_t c, int64_t h, int64_t w) {
  const auto i = torch::arange(c * h * w, torch::kLong);
  return torch::remainder(i * int64_t{2654435761} + 12345, int64_t{1} << 32).div(1 << 24, "floor").to(torch::kByte).view({c, h, w});
}

// deit_transforms.py's smooth(): v = 50 + ((x - w // 3)^2 + 2 (y - h // 2)^2 + 30 c) mod 150.
torch::Tensor smooth_image(int64_t c, int64_t h, int64_t w) {
  const auto ch = torch::arange(c, torch::kLong).view({c, 1, 1});
  const auto y = torch::arange(h, torch::kLong).view({1, h, 1});
  const auto x = torch::arange(w, torch::kLong).view({1, 1, w});
  return (50 + torch::remainder((x - w / 3).pow(2) + 2 * (y - h / 2).pow(2) + 30 * ch, 150)).to(torch::kByte);
}

torch::Tensor reference_image(const std::string& name) {
  if (name == "noise") return noise_image(3, 37, 53);
  if (name == "smooth") return smooth_image(3, 29, 41);
  EXPECT_EQ(name, "smooth_large");
  return smooth_image(3, 60, 80);
}

// "<C> <H> <W> <sum> <fnv1a64 hex>" of a uint8 image, as deit_transforms.py's digest().
std::string digest(const torch::Tensor& image) {
  const auto bytes = image.contiguous();
  uint64_t hash = 0xCBF29CE484222325ULL;
  const uint8_t* data = bytes.data_ptr<uint8_t>();
  for (int64_t i = 0; i < bytes.numel(); ++i) hash = (hash ^ data[i]) * 0x100000001B3ULL;
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
  std::ostringstream out;
  out << bytes.size(0) << " " << bytes.size(1) << " " << bytes.size(2) << " " << bytes.sum().item<int64_t>() << " " << hex;
  return out.str();
}

// A reference line "<kind> <inputs...> | ... | <expected>", split at " | ".
struct ReferenceCase {
  std::string line;
  std::vector<std::string> inputs;  // the words before the first " | "
  std::vector<std::string> parts;   // the text between and after the bars
};

std::vector<ReferenceCase> reference_cases(const std::string& kind) {
  const auto path = std::string(LOWBIT_SOURCE_DIR) + "/tests/data/reference/deit_transforms.txt";
  std::ifstream file(path);
  EXPECT_TRUE(file) << "cannot read " << path;
  std::vector<ReferenceCase> cases;
  for (std::string line; std::getline(file, line);) {
    if (line.rfind(kind + " ", 0) != 0) continue;
    ReferenceCase reference{line, {}, {}};
    size_t start = 0;
    for (size_t bar; (bar = line.find(" | ", start)) != std::string::npos; start = bar + 3) {
      reference.parts.push_back(line.substr(start, bar - start));
    }
    reference.parts.push_back(line.substr(start));
    std::istringstream words(reference.parts.front());
    for (std::string word; words >> word;) reference.inputs.push_back(word);
    reference.parts.erase(reference.parts.begin());
    cases.push_back(reference);
  }
  EXPECT_FALSE(cases.empty()) << "no '" << kind << "' lines in " << path;
  return cases;
}

// timm's op names (both variants) to lowbit's op and its level mapping.
std::pair<AugmentOp, bool> timm_op(const std::string& name) {
  for (int i = 0; i < kNumAugmentOps; ++i) {
    for (bool increasing : {true, false}) {
      if (augment_op_name(static_cast<AugmentOp>(i), increasing) == name) return {static_cast<AugmentOp>(i), increasing};
    }
  }
  ADD_FAILURE() << "unknown timm op " << name;
  return {AugmentOp::Invert, false};
}

}  // namespace

TEST(DeitReference, ResizeMatchesPilByteForByte) {
  for (const auto& reference : reference_cases("resize")) {
    const auto image = reference_image(reference.inputs[1]);
    const int64_t height = std::stoll(reference.inputs[2]), width = std::stoll(reference.inputs[3]);
    const auto filter = parse_interpolation(reference.inputs[4]);
    EXPECT_EQ(digest(pil_resize(image, height, width, filter)), reference.parts[0]) << reference.line;
    if (filter == Interpolation::Bicubic) {
      EXPECT_EQ(digest(resize(image, height, width, filter)), reference.parts[0]) << reference.line;
    }
  }
}

TEST(DeitReference, EvalResizeAndCenterCropMatchTorchvision) {
  for (const auto& reference : reference_cases("eval")) {
    const auto image = reference_image(reference.inputs[1]);
    const auto out = center_crop(resize_shorter_side(image, std::stoll(reference.inputs[2]), Interpolation::Bicubic),
                                 std::stoll(reference.inputs[3]));
    EXPECT_EQ(digest(out), reference.parts[0]) << reference.line;
  }
}

TEST(DeitReference, RandAugmentOpsMatchTimm) {
  for (const auto& reference : reference_cases("augment")) {
    const auto [op, increasing] = timm_op(reference.inputs[1]);
    RandAugmentOptions options;
    options.increasing = increasing;
    options.interpolation = parse_interpolation(reference.inputs[5]);
    const auto out = apply_augment_op(reference_image(reference.inputs[2]), op, std::stod(reference.inputs[3]),
                                      reference.inputs[4] == "1", options);
    EXPECT_EQ(digest(out), reference.parts[1]) << reference.line;
  }
}

TEST(DeitReference, RotateMatchesPilAtAnyAngle) {
  const std::array<uint8_t, 3> fill = {124, 116, 104};
  for (const auto& reference : reference_cases("rotate")) {
    const auto out = rotate(reference_image(reference.inputs[1]), std::stod(reference.inputs[2]),
                            parse_interpolation(reference.inputs[3]), fill);
    EXPECT_EQ(digest(out), reference.parts[0]) << reference.line;
  }
}

TEST(DeitReference, EraseMatchesTimmRandomErasing) {
  const RandomErasingOptions options;
  for (const auto& reference : reference_cases("erase")) {
    const int64_t height = std::stoll(reference.inputs[1]), width = std::stoll(reference.inputs[2]);
    const double u_area = std::stod(reference.inputs[3]), u_log_aspect = std::stod(reference.inputs[4]);
    // random_erasing.h's box from the fixed draws.
    const double target_area = (options.min_area + (options.max_area - options.min_area) * u_area) * height * width;
    const double log_low = std::log(options.min_aspect), log_high = std::log(options.max_aspect);
    const double aspect = std::exp(log_low + (log_high - log_low) * u_log_aspect);
    const CropBox box{std::stoll(reference.inputs[5]), std::stoll(reference.inputs[6]),
                      static_cast<int64_t>(std::nearbyint(std::sqrt(target_area * aspect))),
                      static_cast<int64_t>(std::nearbyint(std::sqrt(target_area / aspect)))};
    std::istringstream expected_box(reference.parts[0]);
    CropBox timm_box{};
    expected_box >> timm_box.top >> timm_box.left >> timm_box.height >> timm_box.width;
    EXPECT_EQ(std::vector<int64_t>({box.top, box.left, box.height, box.width}),
              std::vector<int64_t>({timm_box.top, timm_box.left, timm_box.height, timm_box.width}))
        << reference.line;
    // deit_transforms.py's erased values: 0.01 * ((k * 37) mod 101) - 0.5.
    const auto k = torch::arange(3 * box.height * box.width, torch::kLong);
    const auto values = (0.01 * torch::remainder(k * 37, 101).to(torch::kDouble) - 0.5).view({3, box.height, box.width});
    const auto image = smooth_image(3, height, width).to(torch::kDouble) / 255.0;
    const auto erased = erase(image, box, values);
    std::istringstream sums(reference.parts[1]);
    double sum = 0, sum_sq = 0;
    sums >> sum >> sum_sq;
    EXPECT_NEAR(erased.sum().item<double>(), sum, 1e-5) << reference.line;
    EXPECT_NEAR((erased * erased).sum().item<double>(), sum_sq, 1e-5) << reference.line;
  }
}
