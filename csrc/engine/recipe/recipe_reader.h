#pragma once
// Typed, checked access to one mapping of a RecipeTree. Every read key is remembered, so that
// finish() can reject the unknown ones (with a suggestion); every error names the file and line
// and the full key path.

#include <lowbit/csrc/engine/recipe/recipe_tree.h>
#include <lowbit/csrc/util/params.h>

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace lowbit::engine {

class Section {
 public:
  Section(const RecipeTree& tree, YAML::Node node, std::string path);

  bool has(const std::string& key);

  // T: bool, int64_t, double, std::string, std::vector<int64_t>, std::vector<std::string>. An
  // integer is accepted where a number is expected.
  template <typename T>
  std::optional<T> optional(const std::string& key);

  template <typename T>
  T get(const std::string& key, T fallback) {
    return optional<T>(key).value_or(std::move(fallback));
  }
  template <typename T>
  T require(const std::string& key);

  // Numbers with a range: "expected a positive number, got -0.1".
  double positive(const std::string& key, double fallback);
  double non_negative(const std::string& key, double fallback);
  int64_t positive_int(const std::string& key, int64_t fallback);
  int64_t non_negative_int(const std::string& key, int64_t fallback);
  // One of `choices`, with a suggestion for a misspelling.
  std::string choice(const std::string& key, const std::string& fallback, const std::vector<std::string>& choices);

  // A nested mapping (absent: an empty one) and a list of mappings.
  Section child(const std::string& key);
  std::vector<Section> children(const std::string& key);
  // Whether `key` holds a string (rather than a list, a mapping or nothing).
  bool is_string(const std::string& key);
  // The file path at `key` (RecipeTree::resolve_path: relative to the file that wrote it).
  std::string require_path(const std::string& key);

  // The keys not read so far, as Params, marked read: scalars, lists of integers, of numbers or of
  // strings, and mappings (a c10 Dict of string keys, read by ParamReader::nested). A null value
  // counts as absent, so `mixup: null` takes out an included `mixup: {...}`.
  Params rest();

  // Throws naming the first unknown key.
  void finish() const;

  [[noreturn]] void fail(const std::string& key, const std::string& message) const;
  const std::string& path() const { return path_; }
  std::string key_path(const std::string& key) const { return child_path(path_, key); }

 private:
  std::optional<YAML::Node> find(const std::string& key);
  c10::IValue option_value(const std::string& key, const YAML::Node& value);
  const RecipeTree& tree_;
  YAML::Node node_;
  std::string path_;
  std::set<std::string> read_;
};

template <> std::optional<bool> Section::optional<bool>(const std::string& key);
template <> std::optional<int64_t> Section::optional<int64_t>(const std::string& key);
template <> std::optional<double> Section::optional<double>(const std::string& key);
template <> std::optional<std::string> Section::optional<std::string>(const std::string& key);
template <> std::optional<std::vector<int64_t>> Section::optional<std::vector<int64_t>>(const std::string& key);
template <> std::optional<std::vector<std::string>> Section::optional<std::vector<std::string>>(const std::string& key);

template <typename T>
T Section::require(const std::string& key) {
  auto value = optional<T>(key);
  if (!value) fail(key, "missing (required)");
  return *value;
}

}  // namespace lowbit::engine
