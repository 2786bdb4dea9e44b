#include <lowbit/csrc/data/repeated_augment.h>

#include <c10/util/Exception.h>

namespace lowbit::data {

int64_t repeated_epoch_length(int64_t num_samples, int64_t repeats) {
  TORCH_CHECK(repeats >= 1, "repeated augmentation: repeats must be >= 1, got ", repeats);
  return repeats == 1 ? num_samples : num_samples / 256 * 256;  // DeiT's num_selected_samples
}

std::vector<EpochEntry> repeated_order(const std::vector<int64_t>& permutation, int64_t repeats) {
  const auto length = repeated_epoch_length(static_cast<int64_t>(permutation.size()), repeats);
  std::vector<EpochEntry> order;
  order.reserve(static_cast<size_t>(length));
  for (int64_t position = 0; position < length; ++position) {
    order.push_back({permutation[static_cast<size_t>(position / repeats)], position % repeats});
  }
  return order;
}

}  // namespace lowbit::data
