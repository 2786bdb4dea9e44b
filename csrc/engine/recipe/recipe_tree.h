#pragma once
// A recipe as a YAML tree: the file, the files it includes, and command-line overrides merged
// into one tree, with every key path remembering where its value came from ("file:line" or
// "--set") so that errors can point there.
//
//   include: [../../configs/data/fashion_mnist.yaml]   # merged first, in order, paths relative
//   model: {...}                                        # to the including file; its own keys win
//
// Overrides: "a.b=c", "stages[0].epochs=3"; the value is parsed as YAML ("1e-3", "[1, 2]").

#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <vector>

namespace lowbit::engine {

struct RecipeTree {
  YAML::Node root;
  std::map<std::string, std::string> origins;  // key path -> "file:line" or "--set"
  std::string file;                            // the top-level recipe

  // The origin of `path`, or of its closest ancestor that has one.
  std::string where(const std::string& path) const;
  // `value`, a file path written at key `path`: relative to the file that wrote it, as include's
  // paths are; from --set, as given (relative to the working directory).
  std::string resolve_path(const std::string& path, const std::string& value) const;
};

// Throws RecipeError naming the file and line of a syntax error, a missing file, an include
// cycle or a malformed override.
RecipeTree load_recipe_tree(const std::string& path, const std::vector<std::string>& overrides = {});

// The origin of `path` or of its closest ancestor in `origins`; `fallback` when none has one.
std::string origin_of(const std::map<std::string, std::string>& origins, const std::string& path,
                      const std::string& fallback);

// "a.b" + "c" -> "a.b.c"; "" + "c" -> "c".
std::string child_path(const std::string& parent, const std::string& key);

}  // namespace lowbit::engine
