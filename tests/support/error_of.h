#pragma once
// What the exception `f` throws says, or "(no error)", for tests that check what an error says: a
// c10::Error's message (without its backtrace), any other exception's what() (an LbmError, a CLI
// error).

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
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace lowbit::testing
