#pragma once
// An error in what the user asked for (a recipe, an override, a data path): the CLI prints its
// message alone and exits with status 2, before anything is written.

#include <stdexcept>
#include <string>

namespace lowbit::engine {

class RecipeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace lowbit::engine
