#pragma once
// The official initialisations of the convolutional builders (resnet.cpp, reactnet_a.cpp), named
// by a model's `init` option:
//   fan_out  : every convolution N(0, 2/(k·k·C_out)) (torchvision; AdaBin ImageNet)
//   fan_in   : every convolution and fc N(0, 2/fan_in) (kaiming_normal_; AdaBin CIFAR)
//   reactnet : the low-bit unit convolutions' latent weights U(0, 1)·1e-3 (HardBinaryConv of the
//              Bi-Real Net and ReActNet PyTorch code), the rest PyTorch's defaults, real-valued unit
//              convolutions included: ReActNet's step 1 (W32A1, an identity weight quantizer) has
//              nn.Conv2d there (resnet/1_step1/birealnet.py), kaiming_uniform(a = sqrt(5))

#include <torch/nn/module.h>

#include <string>
#include <vector>

namespace lowbit::models {

enum class Init { FanOut, FanIn, ReActNet };

// "fan_out", "fan_in", "reactnet", in Init's order.
const std::vector<std::string>& init_names();

void initialise(torch::nn::Module& net, Init init);

}  // namespace lowbit::models
