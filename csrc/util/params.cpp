#include <lowbit/csrc/util/params.h>

#include <lowbit/csrc/util/suggest.h>

#include <c10/util/Exception.h>

namespace lowbit {
namespace {

std::string describe(const c10::IValue& v) {
  if (v.isString()) return "string '" + v.toStringRef() + "'";
  if (v.isBool()) return std::string("boolean ") + (v.toBool() ? "true" : "false");
  if (v.isInt()) return "integer " + std::to_string(v.toInt());
  if (v.isDouble()) return "number " + std::to_string(v.toDouble());
  return v.tagKind();
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
  TORCH_CHECK_VALUE(v->isBool(), owner_, ": option '", key, "' expects true or false, got ", describe(*v));
  return v->toBool();
}

template <>
std::optional<int64_t> ParamReader::optional<int64_t>(const std::string& key) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  TORCH_CHECK_VALUE(v->isInt(), owner_, ": option '", key, "' expects an integer, got ", describe(*v));
  return v->toInt();
}

template <>
std::optional<double> ParamReader::optional<double>(const std::string& key) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  TORCH_CHECK_VALUE(v->isDouble() || v->isInt(), owner_, ": option '", key, "' expects a number, got ",
                    describe(*v));
  return v->isInt() ? static_cast<double>(v->toInt()) : v->toDouble();
}

template <>
std::optional<std::string> ParamReader::optional<std::string>(const std::string& key) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  TORCH_CHECK_VALUE(v->isString(), owner_, ": option '", key, "' expects a string, got ", describe(*v));
  return v->toStringRef();
}

template <>
std::optional<std::vector<int64_t>> ParamReader::optional<std::vector<int64_t>>(const std::string& key) {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  TORCH_CHECK_VALUE(v->isIntList(), owner_, ": option '", key, "' expects a list of integers, got ", describe(*v));
  return v->toIntVector();
}

void ParamReader::finish() const {
  for (const auto& [key, value] : params_) {
    TORCH_CHECK_VALUE(read_.count(key), owner_, ": unknown option '", key, "'",
                      util::did_you_mean(key, known_));
  }
}

}  // namespace lowbit
