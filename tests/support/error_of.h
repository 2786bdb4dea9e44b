#pragma once
// The message of the c10::Error that `f` throws, or "(no error)", for tests that check what an
// error says; thrown_by: the what() of any exception `f` throws (an LbmError, a CLI error).

#include <c10/util/Exception.h>

#include <exception>
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

inline std::string thrown_by(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace lowbit::testing
