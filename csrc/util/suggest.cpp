#include <lowbit/csrc/util/suggest.h>

#include <algorithm>
#include <c10/util/Exception.h>

#include <numeric>

namespace lowbit::util {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string closest(const std::string& name, const std::vector<std::string>& candidates) {
  const size_t limit = std::max<size_t>(2, name.size() / 3);
  std::string best;
  size_t best_distance = limit + 1;
  for (const auto& candidate : candidates) {
    const bool prefix = !name.empty() && candidate.rfind(name, 0) == 0;  // "clip" -> "clipped"
    const size_t d = prefix ? std::min(limit, edit_distance(name, candidate)) : edit_distance(name, candidate);
    if (d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates) {
  const auto best = closest(name, candidates);
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

}  // namespace lowbit::util

namespace lowbit::util {

size_t choose(const std::string& what, const std::string& name, const std::vector<std::string>& choices) {
  for (size_t i = 0; i < choices.size(); ++i) {
    if (choices[i] == name) return i;
  }
  std::string expected;
  for (const auto& choice : choices) expected += (expected.empty() ? "" : ", ") + choice;
  TORCH_CHECK_VALUE(false, "unknown ", what, " '", name, "'", did_you_mean(name, choices), "; expected one of ",
                    expected);
}

}  // namespace lowbit::util
