// Seeded random mutations of the shipped recipes (deleted and inserted characters, YAML syntax
// tokens, huge, negative and non-finite numbers, anchors and aliases) through what `lowbit train`
// does before a run starts: parse (with --set device=cpu), validate (every stage's model and the
// teacher built with random weights, the data opened). Each case must end as the command line
// would end it with exit status 0 or 2 and one line naming the problem (engine/exit_status.h):
// never a crash, a hang, another exception, or a status-1 error from deep inside. A failing case
// prints its seed and its mutated text. LOWBIT_FUZZ_CASES sets the number of cases (default 300).
#include <lowbit/csrc/engine/exit_status.h>
#include <lowbit/csrc/engine/recipe/recipe.h>
#include <lowbit/csrc/engine/train.h>
#include <lowbit/csrc/util/files.h>

#include "support/shipped_recipes.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <sstream>

namespace {

using FuzzRng = std::mt19937_64;

size_t draw(FuzzRng& rng, size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); }

const std::vector<std::string> kTokens = {": ", "- ", "{", "}", "[", "]", ", ", "&a ", "*a", "*undefined", "!!str ",
                                          "!!int ", "? ", "|\n", ">\n", "# ", "\t", "'", "\"", "---\n", "...\n",
                                          "%YAML 1.2\n", "<<: *a\n", "~", "null", "true", "@", "`", "\n  ", "\n"};
const std::vector<std::string> kNumbers = {"0", "-1", "-7", "1e308", "-1e308", "9223372036854775807",
                                           "-9223372036854775808", "18446744073709551616", ".nan", ".inf", "-.inf",
                                           "1e-320", "4294967297", "99999999", "0.0", "-0.5", "1e9"};

// The recipe's text without its whole-line comments, so that mutations hit YAML.
std::string without_comments(const std::string& text) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(' ') != std::string::npos && line[line.find_first_not_of(' ')] == '#') continue;
    out += line + "\n";
  }
  return out;
}

void mutate_once(std::string& text, FuzzRng& rng) {
  const size_t at = draw(rng, text.size() + 1);
  switch (draw(rng, 6)) {
    case 0:  // delete a span
      text.erase(at, 1 + draw(rng, 12));
      break;
    case 1: {  // insert random printable characters
      std::string chars;
      for (size_t i = 0, n = 1 + draw(rng, 5); i < n; ++i) chars += static_cast<char>(' ' + draw(rng, 95));
      text.insert(at, chars);
      break;
    }
    case 2:  // a YAML token
      text.insert(at, kTokens[draw(rng, kTokens.size())]);
      break;
    case 3: {  // a number replaced by an extreme one
      static const std::regex number(R"(-?\b\d+(\.\d+)?([eE]-?\d+)?\b)");
      std::vector<std::pair<size_t, size_t>> spans;
      for (auto it = std::sregex_iterator(text.begin(), text.end(), number); it != std::sregex_iterator(); ++it) {
        spans.emplace_back(it->position(), it->length());
      }
      if (spans.empty()) break;
      const auto [pos, len] = spans[draw(rng, spans.size())];
      text.replace(pos, len, kNumbers[draw(rng, kNumbers.size())]);
      break;
    }
    case 4: {  // an anchor on one value, an alias to it in place of another
      static const std::regex value(R"(: ([^\n{}\[\]]+)\n)");
      std::vector<std::pair<size_t, size_t>> spans;
      for (auto it = std::sregex_iterator(text.begin(), text.end(), value); it != std::sregex_iterator(); ++it) {
        spans.emplace_back(it->position(1), it->length(1));
      }
      if (spans.size() < 2) break;
      auto first = spans[draw(rng, spans.size())], second = spans[draw(rng, spans.size())];
      if (first.first > second.first) std::swap(first, second);
      if (first.first == second.first) break;
      text.replace(second.first, second.second, "*a");
      text.insert(first.first, "&a ");
      break;
    }
    default: {  // a line duplicated elsewhere (indentation and duplicate keys)
      std::vector<size_t> starts{0};
      for (size_t i = 0; i + 1 < text.size(); ++i) {
        if (text[i] == '\n') starts.push_back(i + 1);
      }
      const auto from = starts[draw(rng, starts.size())];
      const auto line = text.substr(from, text.find('\n', from) - from + 1);
      text.insert(starts[draw(rng, starts.size())], line);
    }
  }
}

int cases() {
  const char* env = std::getenv("LOWBIT_FUZZ_CASES");
  return env && *env ? std::atoi(env) : 300;
}

}  // namespace

TEST(RecipeFuzz, MutatedShippedRecipesEndWithStatusZeroOrOneLineStatusTwo) {
  const auto recipes = lowbit::testing::shipped_recipes();
  ASSERT_GE(recipes.size(), 10u);
  // Mutated recipes sit where the shipped ones do, relative to configs/, so includes resolve.
  lowbit::testing::TempDir dir;
  ASSERT_EQ(::symlink((std::string(LOWBIT_SOURCE_DIR) + "/configs").c_str(), dir.file("configs").c_str()), 0);
  dir.make_dir("recipes");
  const auto path = dir.make_dir("recipes/fuzz") + "/mutated.yaml";
  std::map<int, int> statuses;
  for (int seed = 0; seed < cases(); ++seed) {
    FuzzRng rng(seed);
    const auto& source = recipes[draw(rng, recipes.size())];
    auto text = without_comments(lowbit::util::read_file(source));
    for (size_t i = 0, n = 1 + draw(rng, 3); i < n; ++i) mutate_once(text, rng);
    std::ofstream(path, std::ios::trunc) << text;
    std::ostringstream err;
    const int status = lowbit::engine::exit_status_of(
        [&] {
          const auto recipe = lowbit::engine::parse_recipe(path, {"device=cpu", "train.amp=false"});
          lowbit::engine::validate(recipe, lowbit::engine::Weights::Random);
          return 0;
        },
        err);
    ++statuses[status];
    const auto message = err.str();
    const bool one_line = std::count(message.begin(), message.end(), '\n') == 1;
    if (!((status == 0 && message.empty()) || (status == 2 && one_line))) {
      ADD_FAILURE() << "seed " << seed << " (" << source << "): exit " << status << ", " << message
                    << "--- mutated recipe:\n"
                    << text;
    }
  }
  std::cout << "exit statuses:";
  for (const auto& [status, count] : statuses) std::cout << " " << status << " x" << count;
  std::cout << "\n";
  EXPECT_GT(statuses[2], 0);
}
