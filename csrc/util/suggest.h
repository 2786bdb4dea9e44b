#pragma once
// "Did you mean" for misspelt names (quantizer names, option keys, recipe keys).

#include <string>
#include <vector>

namespace lowbit::util {

// Levenshtein distance: insertions, deletions and substitutions each cost 1.
size_t edit_distance(const std::string& a, const std::string& b);

// The candidate closest to `name` if it is close enough to be a likely misspelling
// (distance <= max(2, |name| / 3), or `name` is a prefix of it), else "".
std::string closest(const std::string& name, const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" or "" when nothing is close.
std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace lowbit::util

namespace lowbit::util {

// Index of `name` in `choices`; otherwise throws "unknown <what> 'name' (did you mean ...?);
// expected one of a, b, c".
size_t choose(const std::string& what, const std::string& name, const std::vector<std::string>& choices);

}  // namespace lowbit::util
