#include <lowbit/csrc/engine/checkpoint/torch_save.h>

#include <lowbit/csrc/engine/checkpoint/pickle.h>
#include <lowbit/csrc/util/files.h>

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>

#include <memory>
#include <unordered_map>

namespace lowbit::engine {
namespace {

// What torch.save wrote before the zip format: a pickle (protocol 2) of the magic number
// 0x1950a86a20f9469cfc6c, which starts 80 02 8a 0a.
constexpr char kLegacyMagic[] = "\x80\x02\x8a\x0a";
constexpr char kZipMagic[] = "PK\x03\x04";

}  // namespace

c10::IValue read_torch_save(const std::string& path) {
  const auto head = util::read_head(path, 4);
  TORCH_CHECK(head != std::string(kLegacyMagic, 4), path,
              ": written in torch.save's legacy format (PyTorch < 1.6, or _use_new_zipfile_serialization=False); "
              "load and save it again with a newer PyTorch");
  TORCH_CHECK(head == std::string(kZipMagic, 4), path, ": not a torch.save file (starts with ", util::hex_prefix(head),
              "; expected a zip archive, 50 4b 03 04)");
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, path, ": not a readable zip archive, truncated or corrupt? (", e.msg(), ")");
  }
  TORCH_CHECK(!reader->hasRecord("constants.pkl"), path,
              ": a TorchScript archive (torch.jit.save, or C++ torch::save), not a torch.save file; read it with "
              "torch::jit::load or torch::load");
  TORCH_CHECK(reader->hasRecord("data.pkl"), path, ": a zip archive without data.pkl, not a torch.save file");
  if (reader->hasRecord("byteorder")) {
    const auto [order, size] = reader->getRecord("byteorder");
    const std::string byteorder(static_cast<const char*>(order.get()), size);
    TORCH_CHECK(byteorder == "little", path, ": tensors stored in byte order '", byteorder, "'; only little is read");
  }

  std::unordered_map<std::string, at::Tensor> storages;  // tensors that share a storage share it here too
  const StorageLoader load_storage = [&](at::ScalarType dtype, const std::string& key, int64_t numel) {
    auto& storage = storages[key];
    if (storage.defined()) return storage;
    const auto name = "data/" + key;
    TORCH_CHECK(reader->hasRecord(name), "no record ", name, " for a storage");
    auto [data, bytes] = reader->getRecord(name);
    const auto expected = static_cast<size_t>(numel) * c10::elementSize(dtype);
    TORCH_CHECK(bytes >= expected, "record ", name, " holds ", bytes, " bytes, the storage needs ", expected);
    at::Storage memory(at::Storage::use_byte_size_t(), bytes, std::move(data), /*allocator=*/nullptr,
                       /*resizable=*/false);
    storage = at::empty({0}, at::TensorOptions().dtype(dtype)).set_(memory, 0, {numel}, {1});
    return storage;
  };
  try {
    const auto [pickle, size] = reader->getRecord("data.pkl");
    return unpickle(std::string_view(static_cast<const char*>(pickle.get()), size), load_storage);
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, path, ": cannot read data.pkl: ", e.msg());
  }
}

}  // namespace lowbit::engine
