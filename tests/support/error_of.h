#pragma once
// The message of the c10::Error that `f` throws, or "(no error)", for tests that check what an
// error says.

#include <c10/util/Exception.h>

#include <functional>
#include <string>

namespace lowbit::testing {

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.msg();
  }
  return "(no error)";
}

}  // namespace lowbit::testing
