#pragma once
// Files written by Python's torch.save since PyTorch 1.6: a zip archive <name>/ holding the
// pickled object (data.pkl, read by engine/pickle.h), one record per tensor storage
// (data/<key>, raw little-endian elements) and bookkeeping records (version, byteorder).

#include <ATen/core/ivalue.h>

#include <string>

namespace lowbit::engine {

// The object saved in `path`, its tensors on the CPU. Throws, naming the file: it cannot be
// opened; it is not a zip archive ("starts with ..."); it is in the legacy format (PyTorch < 1.6
// or _use_new_zipfile_serialization=False); it is a TorchScript archive (torch.jit.save, or C++
// torch::save, which torch::load reads); the archive or its pickle is truncated or corrupt.
c10::IValue read_torch_save(const std::string& path);

}  // namespace lowbit::engine
