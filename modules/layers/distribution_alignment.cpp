#include <lowbit/modules/layers/distribution_alignment.h>

#include <torch/torch.h>

namespace lowbit::layers {

DistributionAlignmentImpl::DistributionAlignmentImpl(DistributionAlignmentOptions options_) : options(options_) {
  // The unbiased variance of one value is 0/0.
  TORCH_CHECK_VALUE(options.head_dim() >= 2, "DistributionAlignment: head_dim must be >= 2, got ", options.head_dim());
  TORCH_CHECK_VALUE(options.eps() > 0, "DistributionAlignment: eps must be > 0, got ", options.eps());
  reset();
}

void DistributionAlignmentImpl::reset() {
  scale = register_parameter("scale", torch::ones({1, 1, 1, options.head_dim()}));
  bias = register_parameter("bias", torch::zeros({options.head_dim()}));
}

torch::Tensor DistributionAlignmentImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == options.head_dim(), "DistributionAlignment(head_dim=", options.head_dim(),
              "): expected input [..., ", options.head_dim(), "], got shape ", x.sizes());
  const auto mean = x.mean(-1, /*keepdim=*/true);
  const auto var = x.var(-1, /*unbiased=*/true, /*keepdim=*/true);
  const auto standardised = (x - mean) / torch::sqrt(var + options.eps());
  return standardised * scale.view({options.head_dim()}) + bias;
}

void DistributionAlignmentImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::layers::DistributionAlignment(head_dim=" << options.head_dim() << ", eps=" << options.eps() << ")";
}

}  // namespace lowbit::layers
