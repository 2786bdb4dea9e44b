#include <lowbit/modules/layers/bottleneck.h>

namespace lowbit::layers {

BottleneckImpl::BottleneckImpl(BottleneckOptions options_) : options(std::move(options_)) { reset(); }

void BottleneckImpl::reset() {
  const auto& o = options;
  TORCH_CHECK_VALUE(o.in_channels() > 0 && o.width() > 0 && o.stride() > 0, "Bottleneck(", o.in_channels(), "->",
                    o.out_channels(), ", stride ", o.stride(), "): channels and stride must be positive");
  const auto conv = [](int64_t in, int64_t out, int64_t kernel, int64_t stride, const quant::Quantizer& weight,
                       const quant::Quantizer& input) {
    return QConv2d(QConv2dOptions(in, out, kernel)
                       .stride(stride)
                       .padding(kernel / 2)
                       .bias(false)
                       .weight_quantizer(weight)
                       .input_quantizer(input));
  };
  const int64_t w = o.width();
  conv1 = register_module("conv1", conv(o.in_channels(), w, 1, 1, o.weight_quantizer(), o.input_quantizer()));
  bn1 = register_module("bn1", BatchNorm(w));
  conv2 = register_module("conv2", conv(w, w, 3, o.stride(), o.weight_quantizer(), o.inner_input_quantizer()));
  bn2 = register_module("bn2", BatchNorm(w));
  conv3 = register_module("conv3", conv(w, 4 * w, 1, 1, o.conv3_weight_quantizer(), o.inner_input_quantizer()));
  bn3 = register_module("bn3", BatchNorm(4 * w));
  relu = register_module("relu", torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
  downsample = nullptr;
  if (o.stride() != 1 || o.in_channels() != o.out_channels()) {
    downsample = register_module(
        "downsample", torch::nn::Sequential(conv(o.in_channels(), 4 * w, 1, o.stride(), o.shortcut_weight_quantizer(),
                                                 o.shortcut_input_quantizer()),
                                            BatchNorm(4 * w)));
  }
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  const auto out = bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))));
  return relu(out + (downsample ? downsample->forward(x) : x));
}

void BottleneckImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::layers::Bottleneck(" << options.in_channels() << ", " << options.out_channels()
         << ", stride=" << options.stride() << ")";
}

}  // namespace lowbit::layers
