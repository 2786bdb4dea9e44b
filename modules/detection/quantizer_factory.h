#pragma once
// A quantizer for a layer of a given width, made when the layer is built: the weight quantizer of
// a layer with `channels` outputs, or the input quantizer of one with `channels` inputs (a
// per-channel LSQ step or LSQ+ offset needs the count). An empty factory means full precision.
// Detectors pass factories rather than quantizer prototypes because one block holds layers of
// several widths (a bottleneck's 1x1 convolutions, an attention's 3d-row in-projection).

#include <lowbit/modules/quant/quantizer.h>

#include <functional>

namespace lowbit::detection {

using QuantizerFactory = std::function<quant::Quantizer(int64_t channels)>;

// factory(channels), or nullptr (identity) for an empty factory.
inline quant::Quantizer make_quantizer(const QuantizerFactory& factory, int64_t channels) {
  return factory ? factory(channels) : quant::Quantizer(nullptr);
}

// The weight and input quantizers of one family of layers.
struct LayerQuantizers {
  QuantizerFactory weight, input;
};

}  // namespace lowbit::detection
