#include <lowbit/modules/detection/detector.h>

namespace lowbit::detection {

void check_images_and_mask(const torch::Tensor& images, const torch::Tensor& mask, const std::string& who) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3, who, ": expected images [B, 3, H, W], got ", images.sizes());
  TORCH_CHECK(mask.dim() == 3 && mask.scalar_type() == torch::kBool && mask.size(0) == images.size(0) &&
                  mask.size(1) == images.size(2) && mask.size(2) == images.size(3),
              who, ": expected a bool mask [B, H, W] = [", images.size(0), ", ", images.size(2), ", ", images.size(3),
              "], got ", mask.scalar_type(), " ", mask.sizes());
}

}  // namespace lowbit::detection
