#include <lowbit/modules/quant/identity.h>

#include <lowbit/modules/quant/registry.h>

namespace lowbit::quant {

LOWBIT_REGISTER_QUANTIZER(identity, [](ParamReader&) { return Quantizer(Identity()); });

}  // namespace lowbit::quant
