#pragma once
// An unpickler for the data.pkl inside files written by Python's torch.save (pickle protocols 2
// to 5; torch.save writes 2). LibTorch's own (torch::pickle_load, 2.11) cannot read a state dict:
// it turns collections.OrderedDict, the type of every model.state_dict(), into None, and fails on
// the BUILD that restores the dict's `_metadata` attribute.
//
// Python values become IValues: dict and OrderedDict -> GenericDict (in insertion order; object
// attributes such as `_metadata` are dropped), list and set -> GenericList, tuple -> Tuple,
// str and bytes -> string, int, float, bool, None. Tensors rebuilt by
// torch._utils._rebuild_tensor_v2 (also inside _rebuild_parameter or
// torch._tensor._rebuild_from_type_v2) become CPU tensors on the storages that `load_storage`
// returns. The type tags that LibTorch's own pickler (torch::pickle_save) adds are unwrapped. Any other Python object, or a class or function referred to by name, becomes an opaque
// c10::ivalue::Object whose class is named after it ("argparse.Namespace"); no Python code runs,
// so, like torch.load(weights_only=True), a file cannot execute anything.

#include <ATen/core/ivalue.h>

#include <functional>
#include <string>
#include <string_view>

namespace lowbit::engine {

// The storage named by a persistent id ("storage", torch.<Dtype>Storage, key, location, numel),
// as a 1-D tensor of `numel` elements of `dtype`.
using StorageLoader = std::function<at::Tensor(at::ScalarType dtype, const std::string& key, int64_t numel)>;

// Throws c10::Error "pickle offset <n>: <what>" on a malformed or unsupported pickle.
c10::IValue unpickle(std::string_view bytes, const StorageLoader& load_storage);

// The Python class an opaque value from unpickle() stands for, e.g. "argparse.Namespace"; "" for
// other values.
std::string python_class(const c10::IValue& value);

// A value from unpickle() in Python words for messages: "a tensor", "an int", "a dict",
// "a Python argparse.Namespace".
std::string describe(const c10::IValue& value);

}  // namespace lowbit::engine
