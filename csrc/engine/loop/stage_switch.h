#pragma once
// The stage switch: stage s+1 starts from stage s's weights (ReActNet's two steps, TerViT's
// 8-bit then ternary), where the two models share them.

#include <torch/nn/module.h>

namespace lowbit::engine {

// Copies every parameter and buffer of `from` whose name and shape `to` shares, except inside
// submodules whose type differs between the two (a stage's new quantizer): the stage switch,
// which carries latent weights and unchanged quantizers' state (activations) and leaves the new
// quantizers' state fresh (e.g. ternary's `initialized`, which lsq's would otherwise set).
void copy_matching(const torch::nn::Module& from, torch::nn::Module& to);

}  // namespace lowbit::engine
