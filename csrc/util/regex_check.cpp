#include <lowbit/csrc/util/regex_check.h>

#include <regex>

namespace lowbit::util {

std::string regex_problem(const std::string& pattern) {
  try {
    std::regex check(pattern);
  } catch (const std::regex_error& e) {
    return "'" + pattern + "' is not a valid regular expression (" + e.what() + ")";
  }
  return "";
}

}  // namespace lowbit::util
