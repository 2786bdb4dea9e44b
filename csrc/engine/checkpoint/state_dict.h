#pragma once
// State dicts (parameter and buffer name -> tensor) from files written by Python's torch.save,
// so that torchvision / timm weights and Python training checkpoints can serve as teachers and
// initialisations. Which dict holds the tensors:
//   torch.save(model.state_dict(), p)                       the top level (torchvision, timm)
//   torch.save({"state_dict": sd, "epoch": 90, ...}, p)     "state_dict" (Lightning, timm training)
//   torch.save({"model": sd, "optimizer": ..., ...}, p)     "model" (torchvision references, DeiT)
// or an entry named by the caller (e.g. "model_ema"). If every key in it starts with "module."
// (a model saved inside DataParallel / DistributedDataParallel), that prefix is removed; a model
// whose own top-level child is called `module` needs a rename back (engine/name_map.h).
// A file holding other Python objects (argparse.Namespace beside the weights) still reads: they
// become opaque values and are ignored (engine/pickle.h).

#include <ATen/Tensor.h>
#include <c10/util/Exception.h>  // before ordered_dict.h, which uses TORCH_CHECK without including it
#include <torch/ordered_dict.h>

#include <string>
#include <vector>

namespace lowbit::engine {

using NamedTensors = torch::OrderedDict<std::string, at::Tensor>;

struct PyTorchStateDict {
  NamedTensors tensors;                // in file order, on the CPU, with the file's dtypes
  std::string entry;                   // the entry that held them ("state_dict", "model"), "" for the top level
  bool module_prefix_removed = false;  // whether "module." was stripped from every key
  std::vector<std::string> skipped;    // keys beside the tensors whose values are not tensors
};

// Reads the state dict in `path` (see above); `entry`, when not empty, names the top-level entry
// that holds it. Throws naming the file: errors of read_torch_save (missing file, not a torch.save
// zip, truncated), no such entry (with a likely intended one), or no dict of tensors where expected.
PyTorchStateDict read_pytorch_state_dict(const std::string& path, const std::string& entry = "");

}  // namespace lowbit::engine
