#pragma once
// A bag of named option values, the common currency between recipes and the registries:
// a recipe's `{name: lsq, bits: 4, per_channel: true}` arrives as Params, and each factory
// reads it through a ParamReader that type-checks every key and rejects unknown ones. Its errors
// are OptionErrors carrying the key, so that a recipe error names where the option was written.

#include <lowbit/csrc/util/option_error.h>

#include <ATen/core/ivalue.h>

#include <c10/util/Exception.h>

#include <vector>

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

  // The value of `key`, or nullopt when absent. T is bool, int64_t, double, std::string,
  // std::vector<int64_t>, std::vector<double>, std::vector<std::string>,
  // std::vector<std::vector<int64_t>> (a list of integer lists) or Params (a mapping); an integer
  // is accepted where a double is expected (also in lists), and an empty list where a list of
  // strings is; nothing else is converted.
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
    if (!value) missing(key);
    return *value;
  }

  // The mapping `key` read by `read(ParamReader&)` and then checked for unknown keys; absent:
  // nullopt, `read` not called. The inner reader's owner is "<owner>: <key>", and its OptionErrors
  // come out at {key, inner key}, e.g. {"train_transform", "crop_scale"}.
  template <typename Read>
  auto nested(const std::string& key, Read&& read) -> std::optional<decltype(read(std::declval<ParamReader&>()))> {
    const auto params = optional<Params>(key);
    if (!params) return std::nullopt;
    ParamReader inner(owner_ + ": " + key, *params);
    try {
      auto value = read(inner);
      inner.finish();
      return value;
    } catch (const OptionError& e) {
      throw e.within(key);
    }
  }

  // Whether `key` is present (it counts as read).
  bool has(const std::string& key);

  // One of `choices` (its index), with a suggestion for a misspelling; absent: `fallback`.
  size_t choice(const std::string& key, const std::string& fallback, const std::vector<std::string>& choices);

  // A string option (absent: `fallback`) through `parse` (e.g. ops::parse_ste), whose error
  // becomes an OptionError at `key`.
  template <typename Parse>
  auto parsed(const std::string& key, const std::string& fallback, Parse&& parse) -> decltype(parse(fallback)) {
    const auto value = get<std::string>(key, fallback);
    try {
      return parse(value);
    } catch (const c10::Error& e) {
      fail(key, e.msg());
    }
  }

  // Throws OptionError at `key`: "<owner>: <key>: <detail>".
  [[noreturn]] void fail(const std::string& key, const std::string& detail) const;
  void check(bool condition, const std::string& key, const std::string& detail) const {
    if (!condition) fail(key, detail);
  }

  // Throws naming the first key that no get() asked for, with a likely intended spelling.
  void finish() const;

  const std::string& owner() const { return owner_; }

 private:
  const c10::IValue* find(const std::string& key);
  [[noreturn]] void missing(const std::string& key) const;
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
template <> std::optional<std::vector<double>> ParamReader::optional<std::vector<double>>(const std::string& key);
template <> std::optional<std::vector<std::string>> ParamReader::optional<std::vector<std::string>>(const std::string& key);
template <>
std::optional<std::vector<std::vector<int64_t>>> ParamReader::optional<std::vector<std::vector<int64_t>>>(
    const std::string& key);
template <> std::optional<Params> ParamReader::optional<Params>(const std::string& key);

}  // namespace lowbit
