#pragma once
// lowbit: low-bit and binary neural networks for LibTorch. The one header a program needs
// (it brings <torch/torch.h> along).

#include <lowbit/config.h>

#include <torch/torch.h>

#include <lowbit/csrc/ops/dorefa.h>
#include <lowbit/csrc/ops/lsq.h>
#include <lowbit/csrc/ops/scaled_sign.h>
#include <lowbit/csrc/ops/sign.h>
#include <lowbit/csrc/ops/ternarize.h>

#include <lowbit/modules/quant/dorefa.h>
#include <lowbit/modules/quant/identity.h>
#include <lowbit/modules/quant/lsq.h>
#include <lowbit/modules/quant/qvit_act.h>
#include <lowbit/modules/quant/registry.h>
#include <lowbit/modules/quant/rsign.h>
#include <lowbit/modules/quant/sign.h>
#include <lowbit/modules/quant/ternary.h>
#include <lowbit/modules/quant/xnor.h>

#include <lowbit/modules/layers/qattention.h>
#include <lowbit/modules/layers/qconv2d.h>
#include <lowbit/modules/layers/qlinear.h>
#include <lowbit/modules/layers/rprelu.h>
#include <lowbit/modules/layers/transformer.h>

namespace lowbit {

// Whether this build of lowbit dispatches CUDA tensors to its CUDA kernels (LOWBIT_WITH_CUDA).
constexpr bool built_with_cuda() {
#ifdef LOWBIT_WITH_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace lowbit
