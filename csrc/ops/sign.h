#pragma once
// sign(x) with a straight-through backward. The estimators and the sign(0) convention are in
// csrc/ops/ste.h:
//   identity : dL/dx = g
//   clipped  : dL/dx = g * 1[|x| <= 1]                       (BinaryNet, Hubara et al. 2016)
//   approx   : dL/dx = g * (2 - 2|x|) * 1[|x| <= 1]          (ApproxSign, Bi-Real Net, Liu et al. 2018)

#include <lowbit/csrc/ops/ste.h>

#include <ATen/core/Tensor.h>

#include <string>

namespace lowbit::ops {

at::Tensor sign(const at::Tensor& x, Ste ste);

// "identity", "clipped" or "approx"; throws naming the accepted names otherwise.
Ste parse_ste(const std::string& name);
std::string to_string(Ste ste);

}  // namespace lowbit::ops
