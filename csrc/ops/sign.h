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

// The estimator's share of an autograd Function whose backward is ste'(x) g: what it keeps of x
// (nothing for identity, the 1-bit mask 1[|x| <= 1] for clipped, x for ApproxSign, whose
// derivative 2 - 2|x| needs its magnitude) and the backward from that (g itself for identity).
at::Tensor ste_saved(const at::Tensor& x, Ste ste);
at::Tensor ste_grad(const at::Tensor& grad, const at::Tensor& saved, Ste ste);

// "identity", "clipped" or "approx"; throws naming the accepted names otherwise.
Ste parse_ste(const std::string& name);
std::string to_string(Ste ste);

}  // namespace lowbit::ops
