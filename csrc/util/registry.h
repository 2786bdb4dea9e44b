#pragma once
// Named factories (quantizers, models): registration from static initialisers, lookup with
// "unknown quantizer 'rsing' (did you mean 'rsign'?); expected one of ..." on a miss.

#include <lowbit/csrc/util/suggest.h>

#include <c10/util/Exception.h>

#include <map>
#include <string>
#include <vector>

namespace lowbit::util {

template <typename Factory>
class Registry {
 public:
  explicit Registry(std::string kind) : kind_(std::move(kind)) {}

  bool add(const std::string& name, Factory factory) {
    TORCH_CHECK(factories_.emplace(name, std::move(factory)).second, kind_, " '", name, "' registered twice");
    return true;
  }

  const Factory& get(const std::string& name) const {
    const auto it = factories_.find(name);
    if (it == factories_.end()) choose(kind_, name, names());  // throws
    return it->second;
  }

  bool contains(const std::string& name) const { return factories_.count(name) > 0; }

  // Sorted.
  std::vector<std::string> names() const {
    std::vector<std::string> result;
    for (const auto& entry : factories_) result.push_back(entry.first);
    return result;
  }

 private:
  std::string kind_;
  std::map<std::string, Factory> factories_;
};

}  // namespace lowbit::util
