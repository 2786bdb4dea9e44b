#include <lowbit/csrc/util/params.h>

#include <lowbit/csrc/util/option_error.h>
#include <lowbit/csrc/util/suggest.h>

#include <c10/util/Exception.h>

#include <algorithm>

namespace lowbit {
namespace {

std::string describe(const c10::IValue& v) {
  if (v.isString()) return "string '" + v.toStringRef() + "'";
  if (v.isBool()) return std::string("boolean ") + (v.toBool() ? "true" : "false");
  if (v.isInt()) return "integer " + std::to_string(v.toInt());
  if (v.isDouble()) return "number " + std::to_string(v.toDouble());
  if (v.isGenericDict()) return "a mapping";
  if (v.isList()) return "a list";
  return v.tagKind();
}

[[noreturn]] void type_error(const std::string& owner, const std::string& key, const std::string& expected) {
  const auto detail = "option '" + key + "' expects " + expected;
  throw OptionError({key}, owner + ": " + detail, detail);
}

}  // namespace

ParamReader::ParamReader(std::string owner, const Params& params)
    : owner_(std::move(owner)), params_(params) {}

const c10::IValue* ParamReader::find(const std::string& key) {
  known_.push_back(key);
  read_.insert(key);
  const auto it = params_.find(key);
  return it == params_.end() ? nullptr : &it->second;
}

bool ParamReader::has(const std::string& key) { return find(key) != nullptr; }

template <>
std::optional<bool> ParamReader::optional<bool>(const std::string& key) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  if (!v->isBool()) type_error(owner_, key, "true or false, got " + describe(*v));
  return v->toBool();
}

template <>
std::optional<int64_t> ParamReader::optional<int64_t>(const std::string& key) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  if (!v->isInt()) type_error(owner_, key, "an integer, got " + describe(*v));
  return v->toInt();
}

template <>
std::optional<double> ParamReader::optional<double>(const std::string& key) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  if (!v->isDouble() && !v->isInt()) type_error(owner_, key, "a number, got " + describe(*v));
  return v->isInt() ? static_cast<double>(v->toInt()) : v->toDouble();
}

template <>
std::optional<std::string> ParamReader::optional<std::string>(const std::string& key) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  if (!v->isString()) type_error(owner_, key, "a string, got " + describe(*v));
  return v->toStringRef();
}

template <>
std::optional<std::vector<int64_t>> ParamReader::optional<std::vector<int64_t>>(const std::string& key) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  if (!v->isIntList()) type_error(owner_, key, "a list of integers, got " + describe(*v));
  return v->toIntVector();
}

template <>
std::optional<std::vector<double>> ParamReader::optional<std::vector<double>>(const std::string& key) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  if (v->isIntList()) {
    const auto integers = v->toIntVector();
    return std::vector<double>(integers.begin(), integers.end());
  }
  if (!v->isDoubleList()) type_error(owner_, key, "a list of numbers, got " + describe(*v));
  return v->toDoubleVector();
}

template <>
std::optional<std::vector<std::string>> ParamReader::optional<std::vector<std::string>>(const std::string& key) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  if (v->isIntList() && v->toIntList().empty()) return std::vector<std::string>();  // `[]` reads as integers
  const bool strings = v->isList() && std::all_of(v->toListRef().begin(), v->toListRef().end(),
                                                  [](const c10::IValue& item) { return item.isString(); });
  if (!strings) type_error(owner_, key, "a list of strings, got " + describe(*v));
  std::vector<std::string> values;
  for (const auto& item : v->toListRef()) values.push_back(item.toStringRef());
  return values;
}

template <>
std::optional<std::vector<std::vector<int64_t>>> ParamReader::optional<std::vector<std::vector<int64_t>>>(
    const std::string& key) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  const bool lists = v->isList() && std::all_of(v->toListRef().begin(), v->toListRef().end(),
                                                [](const c10::IValue& item) { return item.isIntList(); });
  if (!lists) type_error(owner_, key, "a list of integer lists, e.g. [[1333, 800]], got " + describe(*v));
  std::vector<std::vector<int64_t>> values;
  for (const auto& item : v->toListRef()) values.push_back(item.toIntVector());
  return values;
}

template <>
std::optional<Params> ParamReader::optional<Params>(const std::string& key) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  const bool mapping = v->isGenericDict() && v->toGenericDict().keyType()->kind() == c10::TypeKind::StringType;
  if (!mapping) type_error(owner_, key, "a mapping of keys, got " + describe(*v));
  Params params;
  for (const auto& entry : v->toGenericDict()) params.emplace(entry.key().toStringRef(), entry.value());
  return params;
}

size_t ParamReader::choice(const std::string& key, const std::string& fallback, const std::vector<std::string>& choices) {
  const auto value = get<std::string>(key, fallback);
  try {
    return util::choose(key, value, choices);
  } catch (const c10::ValueError& e) {
    fail(key, e.msg());
  }
}

void ParamReader::missing(const std::string& key) const {
  const auto detail = "missing option '" + key + "'";
  throw OptionError({key}, owner_ + ": " + detail, detail);
}

void ParamReader::fail(const std::string& key, const std::string& detail) const {
  throw OptionError({key}, owner_ + ": " + key + ": " + detail, detail);
}

void ParamReader::finish() const {
  for (const auto& [key, value] : params_) {
    if (read_.count(key)) continue;
    const auto detail = "unknown option '" + key + "'" + util::did_you_mean(key, known_);
    throw OptionError({key}, owner_ + ": " + detail, detail);
  }
}

}  // namespace lowbit
