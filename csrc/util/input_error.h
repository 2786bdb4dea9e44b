#pragma once
// InputError: a file of the user's data is bad (an undecodable image, an image of another size
// than its annotations say), found while the data is read, after a run has started. The message
// names the file. `lowbit train` reports it as bad input (exit status 2) and removes a fresh run's
// directory that holds no checkpoint yet. It is a c10::Error, so code that catches LibTorch's
// errors still sees it.

#include <c10/util/Exception.h>

#include <string>

namespace lowbit {

class InputError : public c10::Error {
 public:
  explicit InputError(const std::string& message);
};

}  // namespace lowbit
