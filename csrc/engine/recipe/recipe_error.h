#pragma once
// An error in what the user asked for (a recipe, an override, a data path): the CLI prints its
// message alone and exits with status 2, before anything is written. An error at a recipe key
// carries the key path ("stages[1].optimizer.lr"), so that callers can tell where it points
// without reading the message.

#include <c10/util/Exception.h>

#include <functional>
#include <stdexcept>
#include <string>

namespace lowbit::engine {

class RecipeError : public std::runtime_error {
 public:
  // An error of no recipe key (a missing recipe file, a malformed override).
  explicit RecipeError(const std::string& message) : std::runtime_error(message) {}
  // "<where>: <key>: <detail>", e.g. "r.yaml:14: stages[1].optimizer.lr: expected a positive number".
  RecipeError(const std::string& where, std::string key, const std::string& detail)
      : std::runtime_error(where + ": " + key + ": " + detail), key_(std::move(key)) {}

  // The recipe key path the error is at; "" when it is at none.
  const std::string& key() const { return key_; }

 private:
  std::string key_;
};

// `error` (from code that read the options written at recipe key `path`) as a RecipeError: an
// OptionError at <path>.<its key>, with its detail; any other error at `path`. `where` gives
// the "file:line" of a key path.
[[noreturn]] void throw_at_key(const std::function<std::string(const std::string&)>& where, const std::string& path,
                               const c10::Error& error);

}  // namespace lowbit::engine
