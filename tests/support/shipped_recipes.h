#pragma once
// The recipes shipped under recipes/ (those added later too), as paths, sorted.

#include <string>
#include <vector>

namespace lowbit::testing {

std::vector<std::string> shipped_recipes();

}  // namespace lowbit::testing
