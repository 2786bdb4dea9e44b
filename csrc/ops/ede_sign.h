#pragma once
// sign(x) with the Error Decay Estimator backward of IR-Net (Qin et al. CVPR 2020), as AdaBin's
// weight binarizer uses it (`BinaryQuantize` in huawei-noah/Efficient-Computing
// BinaryNetworks/AdaBin/imagenet/utils/binarylib.py):
//   forward : sign(x)                                   (sign(0) = 0, as torch.sign)
//   backward: dL/dx = g · k · t · (1 − tanh²(t·x))      (the derivative of k·tanh(t·x))
// k and t are scalar tensors (a layer's buffers, which the EDE schedule sets every epoch); they
// receive no gradient. Small t with k = 1/t is close to the identity STE, large t with k = 1
// approaches the derivative of sign itself.

#include <ATen/core/Tensor.h>

namespace lowbit::ops {

at::Tensor ede_sign(const at::Tensor& x, const at::Tensor& k, const at::Tensor& t);

}  // namespace lowbit::ops
