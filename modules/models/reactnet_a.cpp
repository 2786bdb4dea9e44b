// ReActNet-A (Liu et al. ECCV 2020; liuzechun/ReActNet mobilenet/{1_step1,2_step2}/reactnet.py):
// the MobileNetV1-derived binary network of the paper's headline result (69.4% top-1, README 69.5).
//   stem   conv1 (3×3 s2, real-valued end) → bn1, no activation (firstconv3x3)
//   body   block1 .. block13, one per official BasicBlock, each a Stage of two units
//          (layers/binary_residual_unit.h, RPReLU after each, avgpool_repeat shortcut):
//            0: RSign → binary 3×3 conv C → C, stride s → BN, + x (AvgPool2d(2, 2) when s = 2)
//            1: RSign → binary 1×1 conv C → C' → BN, + the unit's input (repeated when C' = 2C)
//          The official widening block adds its input to each of two C → C pointwise convolutions
//          and concatenates them (binary_pw_down1/2, bn2_1/2): one C → 2C convolution, whose
//          per-output-channel scales and batch norm are the two halves', plus [x, x] is the same.
//   head   avgpool (adaptive, 1×1) → flatten → fc (real-valued end)
// widths: the blocks' output channels after the stem's widths[0], official [32, 64, 128, 128,
// 256, 256, 512 ×6, 1024, 1024]. A block that widens has stride 2, except the first (official:
// `stage_out_channel[i] != 64`, the 32 → 64 block), which keeps the stem's resolution.
// Options: widths, in_channels (3), classes (1000), init (reactnet: models/initialisation.h;
// the official HardBinaryConv's U(0, 1)·1e-3, PyTorch's defaults elsewhere).
// Policy: rsign + xnor with a detached scale (HardBinaryConv: mean |W| per output channel,
// clamp STE); the stem and fc are its ends.
// Not here: the official checkpoints (their widening blocks hold the two convolutions apart,
// which a name map cannot concatenate), and a deploy form (`lowbit export` names the shortcut).
#include <lowbit/modules/layers/batch_norm.h>
#include <lowbit/modules/layers/binary_residual_unit.h>
#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/layers/stage.h>
#include <lowbit/modules/models/initialisation.h>
#include <lowbit/modules/models/registry.h>

#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

namespace lowbit::models {
namespace {

const std::vector<int64_t> kReActNetAWidths = {32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024};

layers::BinaryResidualUnit unit(int64_t in, int64_t out, int64_t kernel_size, int64_t stride,
                                const QuantPolicy& policy) {
  return layers::BinaryResidualUnit(layers::BinaryResidualUnitOptions(in, out)
                                        .kernel_size(kernel_size)
                                        .stride(stride)
                                        .shortcut(layers::Shortcut::AvgPoolRepeat)
                                        .activation(layers::Activation::RPReLU)
                                        .weight_quantizer(policy.weight_quantizer(false, out))
                                        .input_quantizer(policy.input_quantizer(false, in)));
}

torch::nn::Sequential reactnet_a(ParamReader& p, const QuantPolicy& policy) {
  const auto widths = p.get("widths", kReActNetAWidths);
  const int64_t in_channels = p.get<int64_t>("in_channels", 3), classes = p.get<int64_t>("classes", 1000);
  const auto init = static_cast<Init>(p.choice("init", "reactnet", init_names()));
  LOWBIT_CHECK_OPTION(widths.size() >= 2, "widths",
                      "model 'reactnet_a': needs the stem's width and at least one block's, got ",
                      c10::IntArrayRef(widths));
  for (size_t i = 0; i < widths.size(); ++i) {
    LOWBIT_CHECK_OPTION(widths[i] > 0 && (i == 0 || widths[i] == widths[i - 1] || widths[i] == 2 * widths[i - 1]),
                        "widths", "model 'reactnet_a': each block keeps or doubles the width before it, got ",
                        c10::IntArrayRef(widths));
  }
  LOWBIT_CHECK_OPTION(in_channels > 0, "in_channels", "model 'reactnet_a': needs in_channels > 0, got ", in_channels);
  LOWBIT_CHECK_OPTION(classes > 1, "classes", "model 'reactnet_a': needs classes > 1, got ", classes);

  torch::nn::Sequential net;
  net->push_back("conv1", layers::QConv2d(layers::QConv2dOptions(in_channels, widths[0], 3)
                                              .stride(2)
                                              .padding(1)
                                              .bias(false)
                                              .weight_quantizer(policy.weight_quantizer(true, widths[0]))
                                              .input_quantizer(policy.input_quantizer(true, in_channels))));
  net->push_back("bn1", layers::BatchNorm(widths[0]));
  for (size_t i = 1; i < widths.size(); ++i) {
    const int64_t in = widths[i - 1], out = widths[i], stride = out != in && i > 1 ? 2 : 1;
    layers::Stage block;
    block->push_back(unit(in, in, 3, stride, policy));
    block->push_back(unit(in, out, 1, 1, policy));
    net->push_back("block" + std::to_string(i), block);
  }
  net->push_back("avgpool", torch::nn::AdaptiveAvgPool2d(1));
  net->push_back("flatten", torch::nn::Flatten());
  net->push_back("fc", layers::QLinear(layers::QLinearOptions(widths.back(), classes)
                                           .weight_quantizer(policy.weight_quantizer(true, classes))
                                           .input_quantizer(policy.input_quantizer(true, widths.back()))));
  initialise(*net, init);
  return net;
}

}  // namespace

LOWBIT_REGISTER_MODEL(reactnet_a, reactnet_a);

}  // namespace lowbit::models
