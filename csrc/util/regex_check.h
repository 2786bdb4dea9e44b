#pragma once
// The one check of a user's regular expression (recipe patterns, tap selectors, name maps, load
// options), std::regex's default ECMAScript grammar.

#include <string>

namespace lowbit::util {

// "" when `pattern` compiles, else "'<pattern>' is not a valid regular expression (<reason>)".
std::string regex_problem(const std::string& pattern);

}  // namespace lowbit::util
