#pragma once
// A model in channels_last (NHWC) memory format, the counterpart of PrefetchOptions::channels_last
// (datasets/device_prefetch.h) for the weights: cuDNN's tensor-core convolutions work in NHWC, and
// a convolution whose input or weight is NCHW transposes first. LibTorch's Module::to has no
// memory_format overload (Python's model.to(memory_format=torch.channels_last) does this).
//
// Here, beside the Model, rather than beside the prefetcher: it changes the model and nothing of
// the data, and applies wherever the model is placed on its device (after Module::to; the
// teacher's too).

#include <torch/nn/module.h>

namespace lowbit::engine {

// Every 4-D parameter and buffer of `module` and its descendants (and a 4-D parameter's gradient)
// made contiguous in channels_last, in place: the tensors stay the same objects (Tensor::set_data,
// as Module::to does), so an optimizer built before keeps them. Other tensors are left as they are.
void to_channels_last(torch::nn::Module& module);

}  // namespace lowbit::engine
