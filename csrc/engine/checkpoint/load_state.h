#pragma once
// Loading named tensors into a module's parameters and buffers by name, as PyTorch's
// Module.load_state_dict: values are copied into the existing tensors, without autograd, so the
// module keeps its dtypes and devices (a float16 file loads into float32 parameters on CUDA).
// Every key is renamed (options.renames) and checked before anything is copied, so a load that
// fails leaves the module as it was. A shape mismatch is always an error, as in PyTorch; drop the
// key with a rename to "" when a layer is meant to differ (a new classifier).

#include <lowbit/csrc/engine/checkpoint/name_map.h>
#include <lowbit/csrc/engine/checkpoint/state_dict.h>

#include <torch/arg.h>
#include <torch/nn/module.h>

#include <string>
#include <vector>

namespace lowbit::engine {

struct LoadOptions {
  // Every parameter and buffer of the module must be given, and every (renamed) key used.
  TORCH_ARG(bool, strict) = true;
  TORCH_ARG(NameMap, renames);
  // Regexes (std::regex_search) of module names that the tensors need not give even when strict:
  // state another code base does not save (AdaBin's EDE k and t, plain attributes in the official
  // code); they keep the module's values and are reported missing.
  TORCH_ARG(std::vector<std::string>, keep);
  // Regexes of module names whose value is viewed in the module's shape when the element counts
  // agree (row-major, as Tensor.view): Bi-Real Net's HardBinaryConv keeps its 3×3 weights flat,
  // [C_out·C_in·9, 1], and views them as [C_out, C_in, 3, 3] in its forward.
  TORCH_ARG(std::vector<std::string>, reshape);
  // Prefixes errors, e.g. the file the tensors came from.
  TORCH_ARG(std::string, source);
};

// Names in the module's terms (after renaming), for the caller to log in non-strict mode.
struct LoadReport {
  std::vector<std::string> loaded;      // parameters and buffers that received a value
  std::vector<std::string> missing;     // parameters and buffers that received none
  std::vector<std::string> unexpected;  // keys that name nothing in the module
  std::vector<std::string> dropped;     // source keys that a rename mapped to ""
};

// Throws, before copying anything, when two keys rename to the same name, when a shape differs
// (naming key, module and file shapes) and no `reshape` applies, when a `keep` or `reshape`
// pattern is not a valid regex, and in strict mode when keys are missing (but for `keep`) or unexpected
// (with a likely intended name for each unexpected one). The message lists every problem, one
// per line, at most 10 of each kind.
LoadReport load_into(torch::nn::Module& module, const NamedTensors& tensors, const LoadOptions& options = {});

}  // namespace lowbit::engine
