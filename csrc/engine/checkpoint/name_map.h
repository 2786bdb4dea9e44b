#pragma once
// Renames of state-dict keys, so that weights saved by another code base (torchvision, timm, an
// official implementation) load into lowbit's module names. A name map is an ordered list of
// rules applied like a sed script: each rule, in order, rewrites the result of the previous one
// with std::regex_replace (ECMAScript syntax, every match, `$1` for a group). A key that ends up
// empty is dropped, e.g. {"^fc\\..*", ""} leaves out a classifier of another width.
//   {{"^module\\.", ""}, {"^layer(\\d)\\.", "stage$1."}}
//   "module.layer1.0.conv1.weight" -> "layer1.0.conv1.weight" -> "stage1.0.conv1.weight"

#include <initializer_list>
#include <regex>
#include <string>
#include <utility>
#include <vector>

namespace lowbit::engine {

struct Rename {
  std::string pattern;
  std::string replacement;
};

class NameMap {
 public:
  NameMap() = default;
  // Implicit, so that options take a braced list: .renames({{"^module\\.", ""}}). Throws
  // "name map rule <i>: invalid pattern '<pattern>' (<reason>)".
  NameMap(std::vector<Rename> rules);  // NOLINT
  NameMap(std::initializer_list<Rename> rules) : NameMap(std::vector<Rename>(rules)) {}  // NOLINT

  std::string apply(const std::string& key) const;
  bool empty() const { return rules_.empty(); }

 private:
  std::vector<std::pair<std::regex, std::string>> rules_;
};

}  // namespace lowbit::engine
