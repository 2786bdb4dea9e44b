#pragma once
// The residual unit of binary ResNets in the Bi-Real Net style (Liu et al. ECCV 2018), with one
// binary convolution per real-valued shortcut, as Bi-Real Net, ReActNet (Liu et al. ECCV 2020)
// and AdaBin (Tu et al. ECCV 2022) build their ResNet-18/34:
//   y = activation( BN(QConv3x3_s(input_quantizer(x), weight_quantizer(W))) + shortcut(x) )
// (kernel_size 1: a 1×1 convolution, as ReActNet-A's pointwise units).
// The input quantizer belongs to the convolution (sign, rsign, adabin_act, ...), so the shortcut
// carries the real-valued x. Shortcut, when the stride is not 1 or the width changes:
//   avgpool_conv : AvgPool2d(s, s, ceil_mode, count_include_pad = false) → 1×1 conv, stride 1 → BN
//                  (Bi-Real Net / ReActNet / AdaBin ImageNet code; module `downsample`, children
//                  0, 1, 2 as their nn.Sequential)
//   conv         : 1×1 conv, stride s → BN (torchvision's option B, AdaBin's CIFAR ResNet-18)
//   zero_pad     : x[:, :, ::s, ::s] zero-padded along channels, half before and half after
//                  (He et al.'s option A, AdaBin's CIFAR ResNet-20); no parameters
//   avgpool_repeat: AvgPool2d(s, s) as avgpool_conv's, then x's channels repeated out / in times
//                  (ReActNet-A, Liu et al. ECCV 2020: its widening unit adds x to each of two
//                  C -> C convolutions and concatenates them, which is one C -> 2C convolution
//                  plus [x, x]); no parameters
// otherwise the identity. Activation after the addition: none (Bi-Real Net), prelu, rprelu
// (ReActNet), maxout (AdaBin) — modules/layers/activation.h. With rprelu the batch norm, the
// addition and the activation run as one fused op (csrc/ops/batch_norm_rprelu.h, which says when
// it computes the composition instead).
//
// Pooling: AdaBin's ceil_mode form is used for every network. It equals Bi-Real's and ReActNet's
// AvgPool2d(2, 2) on even sizes (all of ImageNet's 56/28/14), and on odd sizes (28×28 inputs
// reach 7) it is the only one whose output matches the stride-2, padding-1 convolution
// (ceil(H/2)); their kernel 2 at stride 1 would also shrink a stride-1 shortcut, so the kernel
// is the stride.
// Children: `conv` (QConv2d, padding kernel_size / 2; bias-free unless conv_bias, as IDa-Det's BiConv), `bn`
// (layers::BatchNorm, as every BN here), `downsample` (when it has a conv),
// `activation` (unless none).

#include <lowbit/modules/layers/activation.h>
#include <lowbit/modules/layers/batch_norm.h>
#include <lowbit/modules/layers/qconv2d.h>

#include <torch/nn/modules/container/sequential.h>

#include <string>

namespace lowbit::layers {

enum class Shortcut { AvgPoolConv, Conv, ZeroPad, AvgPoolRepeat };

// "avgpool_conv", "conv", "zero_pad" or "avgpool_repeat"; throws naming the accepted names otherwise.
Shortcut parse_shortcut(const std::string& name);
std::string to_string(Shortcut shortcut);

struct BinaryResidualUnitOptions {
  BinaryResidualUnitOptions(int64_t in_channels, int64_t out_channels)
      : in_channels_(in_channels), out_channels_(out_channels) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, stride) = 1;
  TORCH_ARG(int64_t, kernel_size) = 3;  // 3 or 1 (padding kernel_size / 2)
  TORCH_ARG(Shortcut, shortcut) = Shortcut::AvgPoolConv;
  TORCH_ARG(Activation, activation) = Activation::None;
  TORCH_ARG(bool, conv_bias) = false;
  // The 3×3 convolution's quantizers (prototypes, copied by the layer).
  TORCH_ARG(quant::Quantizer, weight_quantizer) = nullptr;
  TORCH_ARG(quant::Quantizer, input_quantizer) = nullptr;
  // The shortcut's 1×1 convolution's; full precision unless given.
  TORCH_ARG(quant::Quantizer, shortcut_weight_quantizer) = nullptr;
  TORCH_ARG(quant::Quantizer, shortcut_input_quantizer) = nullptr;
};

class BinaryResidualUnitImpl : public torch::nn::Cloneable<BinaryResidualUnitImpl> {
 public:
  explicit BinaryResidualUnitImpl(BinaryResidualUnitOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  // The shortcut branch alone.
  torch::Tensor shortcut(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  BinaryResidualUnitOptions options;
  QConv2d conv{nullptr};
  BatchNorm bn{nullptr};
  torch::nn::Sequential downsample{nullptr};  // empty for the identity and zero_pad
  torch::nn::AnyModule activation;            // empty for none
};
TORCH_MODULE(BinaryResidualUnit);

// "BinaryResidualUnit(64->128, stride 2)", the prefix of the unit's error messages.
std::string describe(const BinaryResidualUnitImpl& unit);

}  // namespace lowbit::layers
