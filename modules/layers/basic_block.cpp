#include <lowbit/modules/layers/basic_block.h>

namespace lowbit::layers {

BasicBlockImpl::BasicBlockImpl(BasicBlockOptions options_) : options(std::move(options_)) { reset(); }

void BasicBlockImpl::reset() {
  const auto& o = options;
  TORCH_CHECK_VALUE(o.in_channels() > 0 && o.out_channels() > 0 && o.stride() > 0, "BasicBlock(", o.in_channels(),
                    "->", o.out_channels(), ", stride ", o.stride(), "): channels and stride must be positive");
  const auto conv3x3 = [&](int64_t in, int64_t stride, const quant::Quantizer& input_quantizer) {
    return QConv2d(QConv2dOptions(in, o.out_channels(), 3)
                       .stride(stride)
                       .padding(1)
                       .bias(false)
                       .weight_quantizer(o.weight_quantizer())
                       .input_quantizer(input_quantizer));
  };
  conv1 = register_module("conv1", conv3x3(o.in_channels(), o.stride(), o.input_quantizer()));
  bn1 = register_module("bn1", BatchNorm(o.out_channels()));
  relu = register_module("relu", torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
  conv2 = register_module(
      "conv2", conv3x3(o.out_channels(), 1, o.conv2_input_quantizer().is_empty() ? o.input_quantizer() : o.conv2_input_quantizer()));
  bn2 = register_module("bn2", BatchNorm(o.out_channels()));
  downsample = nullptr;
  if (o.stride() != 1 || o.in_channels() != o.out_channels()) {
    downsample = register_module("downsample", torch::nn::Sequential(
        QConv2d(QConv2dOptions(o.in_channels(), o.out_channels(), 1)
                    .stride(o.stride())
                    .bias(false)
                    .weight_quantizer(o.shortcut_weight_quantizer())
                    .input_quantizer(o.shortcut_input_quantizer())),
        BatchNorm(o.out_channels())));
  }
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  const auto out = bn2(conv2(relu(bn1(conv1(x)))));
  return relu(out + (downsample ? downsample->forward(x) : x));
}

void BasicBlockImpl::pretty_print(std::ostream& stream) const {
  stream << "lowbit::layers::BasicBlock(" << options.in_channels() << ", " << options.out_channels()
         << ", stride=" << options.stride() << ")";
}

}  // namespace lowbit::layers
