#pragma once
// The identity quantizer: full precision. A layer with identity quantizers is its float twin.

#include <lowbit/modules/quant/quantizer.h>

namespace lowbit::quant {

struct IdentityOptions {};

class IdentityImpl : public QuantizerCloneable<IdentityImpl> {
 public:
  explicit IdentityImpl(IdentityOptions options = {}) : QuantizerCloneable("lowbit::quant::Identity") {}
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x) override { return x; }
  std::string registry_name() const override { return "identity"; }
  Params config() const override { return {}; }
  IdentityOptions options;
};
TORCH_MODULE(Identity);

}  // namespace lowbit::quant
