#pragma once
// The command line's errors (docs/cli.md): what a command throws becomes one line,
// "lowbit: error: <message>", and an exit status: 2 for a mistake in what was asked (RecipeError,
// InputError: a recipe key, a missing device, a bad data or checkpoint file), 1 for a failure while
// running (another process of a data-parallel run stopping, a LibTorch error, any other
// std::exception such as a CUDA launch failure). lowbit's own messages are printed whole (one line,
// or a list of problems one per line, as load_into's); LibTorch's and others' only their first line.

#include <functional>
#include <ostream>

namespace lowbit::engine {

// command()'s return value, or the status of what it threw, with its line written to `err`.
int exit_status_of(const std::function<int()>& command, std::ostream& err);

}  // namespace lowbit::engine
