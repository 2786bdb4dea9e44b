#include <lowbit/csrc/engine/checkpoint/state_dict.h>

#include <lowbit/csrc/engine/checkpoint/pickle.h>
#include <lowbit/csrc/engine/checkpoint/torch_save.h>
#include <lowbit/csrc/util/suggest.h>

#include <algorithm>
#include <optional>

namespace lowbit::engine {
namespace {

// The entries searched, in order, when the caller names none.
const std::vector<std::string> kWrapperEntries = {"state_dict", "model"};

const std::string kModulePrefix = "module.";

std::vector<std::string> string_keys(const c10::impl::GenericDict& dict) {
  std::vector<std::string> keys;
  for (const auto& item : dict) {
    if (item.key().isString()) keys.push_back(item.key().toStringRef());
  }
  return keys;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

std::optional<c10::IValue> find(const c10::impl::GenericDict& dict, const std::string& key) {
  const auto it = dict.find(key);
  return it == dict.end() ? std::nullopt : std::optional<c10::IValue>(it->value());
}

}  // namespace

PyTorchStateDict read_pytorch_state_dict(const std::string& path, const std::string& entry) {
  const auto root = read_torch_save(path);
  TORCH_CHECK(root.isGenericDict(), path, ": holds ", describe(root), ", not a dict of tensors",
              python_class(root).empty() ? "" : " (torch.save(model) pickles the Python object; save "
                                                "model.state_dict() instead)");
  PyTorchStateDict result;
  auto dict = root.toGenericDict();
  if (!entry.empty()) {
    const auto value = find(dict, entry);
    TORCH_CHECK(value, path, ": no entry '", entry, "'", util::did_you_mean(entry, string_keys(dict)),
                "; the top level holds ", join(string_keys(dict)));
    TORCH_CHECK(value->isGenericDict(), path, ": entry '", entry, "' holds ", describe(*value),
                ", not a dict of tensors");
    result.entry = entry;
  } else {
    for (const auto& wrapper : kWrapperEntries) {
      const auto value = find(dict, wrapper);
      if (value && value->isGenericDict()) {
        result.entry = wrapper;
        break;
      }
    }
  }
  if (!result.entry.empty()) dict = find(dict, result.entry)->toGenericDict();
  const std::string where = path + (result.entry.empty() ? "" : ": entry '" + result.entry + "'");

  for (const auto& item : dict) {
    TORCH_CHECK(item.key().isString(), where, ": a key is ", describe(item.key()), "; a state dict's keys are names");
    const auto& key = item.key().toStringRef();
    if (item.value().isTensor()) {
      result.tensors.insert(key, item.value().toTensor());
    } else {
      result.skipped.push_back(key);
    }
  }
  TORCH_CHECK(!result.tensors.is_empty(), where, ": holds no tensors (keys: ", join(string_keys(dict)), ")",
              result.entry.empty() && entry.empty() ? "; name the entry that holds the state dict" : "");

  const auto& keys = result.tensors.keys();
  result.module_prefix_removed = std::all_of(keys.begin(), keys.end(), [](const std::string& key) {
    return key.size() > kModulePrefix.size() && key.rfind(kModulePrefix, 0) == 0;
  });
  if (result.module_prefix_removed) {
    NamedTensors stripped;
    for (const auto& item : result.tensors) stripped.insert(item.key().substr(kModulePrefix.size()), item.value());
    result.tensors = std::move(stripped);
  }
  return result;
}

}  // namespace lowbit::engine
