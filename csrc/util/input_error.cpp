#include <lowbit/csrc/util/input_error.h>

namespace lowbit {

InputError::InputError(const std::string& message)
    : c10::Error({__func__, __FILE__, static_cast<uint32_t>(__LINE__)}, message) {}

}  // namespace lowbit
