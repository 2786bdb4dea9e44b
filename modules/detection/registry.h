#pragma once
// Detectors by name: a recipe's `model: {name: detr, backbone: resnet18, enc_layers: 2}` and a C++
// user's `detection::make("detr", params, policy)` reach the same builder. The QuantPolicy holds
// the recipe's weight and input quantizer specs; which parts of a detector use them is the
// detector's own option (DETR / Q-DETR: `quantize`, see detr_builder.cpp).

#include <lowbit/csrc/util/params.h>
#include <lowbit/modules/detection/detector.h>
#include <lowbit/modules/models/quant_policy.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace lowbit::detection {

using Factory = std::function<std::shared_ptr<Detector>(ParamReader&, const models::QuantPolicy&)>;

// Registers `factory` under `name`; a name registered twice is a programming error (throws).
bool register_detector(const std::string& name, Factory factory);

// Builds the detector `name`. An unknown name is an OptionError at "name" (with a suggestion); a
// bad option an OptionError at its key; a bad quantizer spec one at "weight_quantizer.<option>"
// or "input_quantizer.<option>".
std::shared_ptr<Detector> make(const std::string& name, const Params& params, const models::QuantPolicy& policy);

// The registered names, sorted.
std::vector<std::string> registered_detectors();

}  // namespace lowbit::detection

#define LOWBIT_REGISTER_DETECTOR(name, factory) \
  static const bool lowbit_detector_registered_##name = ::lowbit::detection::register_detector(#name, factory)
