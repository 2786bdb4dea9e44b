#pragma once
// Named factories (quantizers, models, data sets, loss terms, metrics, optimizers, schedules,
// tasks): registration from static initialisers, lookup with
// "unknown quantizer 'rsing' (did you mean 'rsign'?); expected one of ..." on a miss, thrown as an
// OptionError at the key the name is given under (`name`, or e.g. `loss` for a loss term).

#include <lowbit/csrc/util/option_error.h>
#include <lowbit/csrc/util/params.h>
#include <lowbit/csrc/util/suggest.h>

#include <c10/util/Exception.h>

#include <map>
#include <string>
#include <vector>

namespace lowbit::util {

template <typename Factory>
class Registry {
 public:
  // `kind` names what is registered ("quantizer"), `key` the option that names one ("name").
  explicit Registry(std::string kind, std::string key = "name") : kind_(std::move(kind)), key_(std::move(key)) {}

  bool add(const std::string& name, Factory factory) {
    TORCH_CHECK(factories_.emplace(name, std::move(factory)).second, kind_, " '", name, "' registered twice");
    return true;
  }

  const Factory& get(const std::string& name) const {
    const auto it = factories_.find(name);
    if (it == factories_.end()) {
      try {
        choose(kind_, name, names());
      } catch (const c10::ValueError& e) {
        throw OptionError({key_}, e.msg());
      }
    }
    return it->second;
  }

  // What `name`'s factory makes from `params` (read through a ParamReader owned by
  // "<kind> '<name>'") and `args`: factory(reader, args...). Options it did not read are errors.
  template <typename... Args>
  auto make(const std::string& name, const Params& params, Args&&... args) const {
    const auto& factory = get(name);
    ParamReader reader(kind_ + " '" + name + "'", params);
    auto made = factory(reader, std::forward<Args>(args)...);
    reader.finish();
    return made;
  }

  bool contains(const std::string& name) const { return factories_.count(name) > 0; }

  // Sorted.
  std::vector<std::string> names() const {
    std::vector<std::string> result;
    for (const auto& entry : factories_) result.push_back(entry.first);
    return result;
  }

 private:
  std::string kind_, key_;
  std::map<std::string, Factory> factories_;
};

}  // namespace lowbit::util
