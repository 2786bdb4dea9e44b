#pragma once
// A bag of named option values, the common currency between recipes and the registries:
// a recipe's `{name: lsq, bits: 4, per_channel: true}` arrives as Params, and each factory
// reads it through a ParamReader that type-checks every key and rejects unknown ones.

#include <ATen/core/ivalue.h>

#include <c10/util/Exception.h>

#include <map>
#include <optional>
#include <set>
#include <string>

namespace lowbit {

using Params = std::map<std::string, c10::IValue>;

class ParamReader {
 public:
  // `owner` prefixes every error, e.g. "quantizer 'lsq'".
  ParamReader(std::string owner, const Params& params);

  // The value of `key`, or nullopt when absent. T is bool, int64_t, double, std::string or
  // std::vector<int64_t>; an
  // integer is accepted where a double is expected, nothing else is converted.
  template <typename T>
  std::optional<T> optional(const std::string& key);

  template <typename T>
  T get(const std::string& key, T fallback) {
    return optional<T>(key).value_or(std::move(fallback));
  }

  // Throws "<owner>: missing option '<key>'" when absent.
  template <typename T>
  T require(const std::string& key) {
    auto value = optional<T>(key);
    TORCH_CHECK_VALUE(value.has_value(), owner_, ": missing option '", key, "'");
    return *value;
  }

  // Whether `key` is present (it counts as read).
  bool has(const std::string& key);

  // Throws naming every key that no get() asked for, with a likely intended spelling.
  void finish() const;

 private:
  const c10::IValue* find(const std::string& key);
  std::string owner_;
  const Params& params_;
  std::set<std::string> read_;
  std::vector<std::string> known_;
};

template <> std::optional<bool> ParamReader::optional<bool>(const std::string& key);
template <> std::optional<int64_t> ParamReader::optional<int64_t>(const std::string& key);
template <> std::optional<double> ParamReader::optional<double>(const std::string& key);
template <> std::optional<std::string> ParamReader::optional<std::string>(const std::string& key);
template <> std::optional<std::vector<int64_t>> ParamReader::optional<std::vector<int64_t>>(const std::string& key);

}  // namespace lowbit
