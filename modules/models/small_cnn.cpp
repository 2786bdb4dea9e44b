// small_cnn: a compact convolutional classifier for 28x28 / 32x32 images (Fashion-MNIST,
// MNIST, CIFAR), BNN-style (Hubara et al. 2016): per stage
//   QConv2d 3x3 -> BatchNorm -> Hardtanh -> MaxPool 2x2,
// then Flatten -> QLinear. Hardtanh makes the clipped STE of a following sign() exact and
// gives the full-precision twin its nonlinearity. With the policy's full_precision_ends the
// first convolution and the classifier stay real-valued; every other layer is quantized.
// Options: channels [32, 64, 128], in_channels 1, classes 10, image_size 28.
#include <lowbit/modules/layers/batch_norm.h>
#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/models/registry.h>

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

namespace lowbit::models {
namespace {

torch::nn::Sequential small_cnn(ParamReader& p, const QuantPolicy& policy) {
  const auto channels = p.get<std::vector<int64_t>>("channels", {32, 64, 128});
  const auto in_channels = p.get<int64_t>("in_channels", 1);
  const auto classes = p.get<int64_t>("classes", 10);
  auto size = p.get<int64_t>("image_size", 28);
  LOWBIT_CHECK_OPTION(!channels.empty(), "channels", "model 'small_cnn': needs channels");
  LOWBIT_CHECK_OPTION(in_channels > 0, "in_channels", "model 'small_cnn': needs in_channels > 0, got ", in_channels);
  LOWBIT_CHECK_OPTION(classes >= 1, "classes", "model 'small_cnn': needs classes >= 1 (outputs), got ", classes);
  torch::nn::Sequential net;
  int64_t previous = in_channels;
  for (size_t i = 0; i < channels.size(); ++i) {
    const bool first = i == 0;
    net->push_back(layers::QConv2d(layers::QConv2dOptions(previous, channels[i], 3)
                                       .padding(1)
                                       .bias(false)
                                       .weight_quantizer(policy.weight_quantizer(first, channels[i]))
                                       .input_quantizer(policy.input_quantizer(first, previous))));
    net->push_back(layers::BatchNorm(channels[i]));
    net->push_back(torch::nn::Hardtanh());
    net->push_back(torch::nn::MaxPool2d(2));
    previous = channels[i];
    size /= 2;
    LOWBIT_CHECK_OPTION(size >= 1, "image_size", "model 'small_cnn': image_size is too small for ", channels.size(), " stages");
  }
  net->push_back(torch::nn::Flatten());
  const int64_t features = previous * size * size;
  net->push_back(layers::QLinear(layers::QLinearOptions(features, classes)
                                     .weight_quantizer(policy.weight_quantizer(true, classes))
                                     .input_quantizer(policy.input_quantizer(true, features))));
  return net;
}

}  // namespace

LOWBIT_REGISTER_MODEL(small_cnn, small_cnn);

}  // namespace lowbit::models
