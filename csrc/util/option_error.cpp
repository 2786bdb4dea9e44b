#include <lowbit/csrc/util/option_error.h>

namespace lowbit {

OptionError::OptionError(std::vector<std::string> key, const std::string& message, std::string detail)
    : c10::ValueError({__func__, __FILE__, static_cast<uint32_t>(__LINE__)}, message),
      key_(std::move(key)),
      detail_(detail.empty() ? message : std::move(detail)) {}

std::string OptionError::key_path() const {
  std::string path;
  for (const auto& part : key_) path += (path.empty() ? "" : ".") + part;
  return path;
}

OptionError OptionError::within(const std::string& outer) const {
  std::vector<std::string> key{outer};
  key.insert(key.end(), key_.begin(), key_.end());
  return OptionError(std::move(key), msg(), detail_);
}

}  // namespace lowbit
