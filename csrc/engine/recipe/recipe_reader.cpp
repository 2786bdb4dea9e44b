#include <lowbit/csrc/engine/recipe/recipe_reader.h>

#include <lowbit/csrc/engine/recipe/recipe_error.h>
#include <lowbit/csrc/util/suggest.h>

#include <ATen/core/jit_type.h>

#include <sstream>

namespace lowbit::engine {
namespace {

std::string shown(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "nothing";
}

template <typename T>
std::optional<T> convert(const YAML::Node& node) {
  if (!node.IsScalar()) return std::nullopt;
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    return std::nullopt;
  }
}

// A non-empty list of scalars none of which is a number (["2007/trainval", "2012/trainval"]).
bool is_string_list(const YAML::Node& node) {
  if (node.size() == 0) return false;
  for (const auto& item : node) {
    if (!item.IsScalar() || convert<double>(item)) return false;
  }
  return true;
}

std::string number_text(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

Section::Section(const RecipeTree& tree, YAML::Node node, std::string path)
    : tree_(tree), node_(std::move(node)), path_(std::move(path)) {}

std::optional<YAML::Node> Section::find(const std::string& key) {
  read_.insert(key);
  if (!node_.IsMap()) return std::nullopt;
  const YAML::Node& map = node_;  // const: operator[] on a non-const node would insert the key
  const YAML::Node value = map[key];
  if (!value || value.IsNull()) return std::nullopt;
  return value;
}

bool Section::has(const std::string& key) { return find(key).has_value(); }

void Section::fail(const std::string& key, const std::string& message) const {
  const auto path = key.empty() ? path_ : key_path(key);
  throw RecipeError(tree_.where(path), path, message);
}

template <>
std::optional<bool> Section::optional<bool>(const std::string& key) {
  const auto found = find(key);
  if (!found) return std::nullopt;
  const YAML::Node& node = *found;
  const auto value = convert<bool>(node);
  if (!value) fail(key, "expected true or false, got " + shown(node));
  return value;
}

template <>
std::optional<int64_t> Section::optional<int64_t>(const std::string& key) {
  const auto found = find(key);
  if (!found) return std::nullopt;
  const YAML::Node& node = *found;
  const auto value = convert<int64_t>(node);
  if (!value) fail(key, "expected an integer, got " + shown(node));
  return value;
}

template <>
std::optional<double> Section::optional<double>(const std::string& key) {
  const auto found = find(key);
  if (!found) return std::nullopt;
  const YAML::Node& node = *found;
  const auto value = convert<double>(node);
  if (!value) fail(key, "expected a number, got " + shown(node));
  return value;
}

template <>
std::optional<std::string> Section::optional<std::string>(const std::string& key) {
  const auto found = find(key);
  if (!found) return std::nullopt;
  const YAML::Node& node = *found;
  if (!node.IsScalar()) fail(key, "expected a string, got " + shown(node));
  return node.Scalar();
}

template <>
std::optional<std::vector<int64_t>> Section::optional<std::vector<int64_t>>(const std::string& key) {
  const auto found = find(key);
  if (!found) return std::nullopt;
  const YAML::Node& node = *found;
  if (!node.IsSequence()) fail(key, "expected a list of integers, got " + shown(node));
  std::vector<int64_t> values;
  for (const auto& item : node) {
    const auto value = convert<int64_t>(item);
    if (!value) fail(key, "expected a list of integers, found " + shown(item));
    values.push_back(*value);
  }
  return values;
}

template <>
std::optional<std::vector<std::string>> Section::optional<std::vector<std::string>>(const std::string& key) {
  const auto found = find(key);
  if (!found) return std::nullopt;
  const YAML::Node& node = *found;
  if (!node.IsSequence()) fail(key, "expected a list of strings, got " + shown(node));
  std::vector<std::string> values;
  for (const auto& item : node) {
    if (!item.IsScalar()) fail(key, "expected a list of strings, found " + shown(item));
    values.push_back(item.Scalar());
  }
  return values;
}

double Section::positive(const std::string& key, double fallback) {
  const double v = get<double>(key, fallback);
  if (!(v > 0)) fail(key, "expected a positive number, got " + number_text(v));
  return v;
}

double Section::non_negative(const std::string& key, double fallback) {
  const double v = get<double>(key, fallback);
  if (!(v >= 0)) fail(key, "expected a number >= 0, got " + number_text(v));
  return v;
}

int64_t Section::positive_int(const std::string& key, int64_t fallback) {
  const int64_t v = get<int64_t>(key, fallback);
  if (v <= 0) fail(key, "expected a positive integer, got " + std::to_string(v));
  return v;
}

int64_t Section::non_negative_int(const std::string& key, int64_t fallback) {
  const int64_t v = get<int64_t>(key, fallback);
  if (v < 0) fail(key, "expected an integer >= 0, got " + std::to_string(v));
  return v;
}

std::string Section::choice(const std::string& key, const std::string& fallback, const std::vector<std::string>& choices) {
  const auto v = get<std::string>(key, fallback);
  for (const auto& c : choices) {
    if (c == v) return v;
  }
  std::string expected;
  for (const auto& c : choices) expected += (expected.empty() ? "" : ", ") + c;
  fail(key, "unknown value '" + v + "'" + util::did_you_mean(v, choices) + "; expected one of " + expected);
}

Section Section::child(const std::string& key) {
  const auto node = find(key);
  if (node && !node->IsMap()) fail(key, "expected a mapping of keys, got " + shown(*node));
  return Section(tree_, node ? *node : YAML::Node(YAML::NodeType::Map), key_path(key));
}

std::vector<Section> Section::children(const std::string& key) {
  const auto found = find(key);
  std::vector<Section> sections;
  if (!found) return sections;
  const YAML::Node& node = *found;
  if (!node.IsSequence()) fail(key, "expected a list, got " + shown(node));
  for (size_t i = 0; i < node.size(); ++i) {
    const auto item_path = key_path(key) + "[" + std::to_string(i) + "]";
    if (!node[i].IsMap()) throw RecipeError(tree_.where(item_path), item_path, "expected a mapping of keys");
    sections.emplace_back(tree_, node[i], item_path);
  }
  return sections;
}

bool Section::is_string(const std::string& key) {
  const auto found = find(key);
  return found && found->IsScalar();
}

std::string Section::require_path(const std::string& key) {
  return tree_.resolve_path(key_path(key), require<std::string>(key));
}

Params Section::rest() {
  Params params;
  if (!node_.IsMap()) return params;
  for (const auto& entry : node_) {
    const auto key = entry.first.as<std::string>();
    if (read_.count(key)) continue;
    if (!entry.second.IsNull()) params[key] = option_value(key, entry.second);  // null: absent, as find()
    read_.insert(key);
  }
  return params;
}

c10::IValue Section::option_value(const std::string& key, const YAML::Node& value) {
  if (value.IsMap()) {
    c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
    for (auto& [name, item] : child(key).rest()) dict.insert(name, std::move(item));
    return dict;
  }
  if (value.IsSequence() && is_string_list(value)) {
    std::vector<std::string> items;
    for (const auto& item : value) items.push_back(item.Scalar());
    return items;
  }
  if (value.IsSequence() && value.size() > 0 && value[0].IsSequence()) {  // a list of integer lists
    c10::List<c10::List<int64_t>> lists;
    for (const auto& item : value) {
      c10::List<int64_t> row;
      for (const auto& x : item) {
        const auto integer = item.IsSequence() ? convert<int64_t>(x) : std::nullopt;
        if (!integer) fail(key, "expected a list of integer lists, e.g. [[1333, 800]], found " + shown(item));
        row.push_back(*integer);
      }
      if (!item.IsSequence()) fail(key, "expected a list of integer lists, e.g. [[1333, 800]], found " + shown(item));
      lists.push_back(std::move(row));
    }
    return lists;
  }
  if (value.IsSequence()) {
    bool integers = true;
    for (const auto& item : value) integers = integers && convert<int64_t>(item).has_value();
    if (integers) return require<std::vector<int64_t>>(key);
    std::vector<double> numbers;
    for (const auto& item : value) {
      const auto number = convert<double>(item);
      if (!number) fail(key, "expected a list of numbers or of strings, found " + shown(item));
      numbers.push_back(*number);
    }
    return numbers;
  }
  if (value.IsScalar() && (value.Scalar() == "true" || value.Scalar() == "false")) return *convert<bool>(value);
  if (const auto i = convert<int64_t>(value)) return *i;
  if (const auto d = convert<double>(value)) return *d;
  if (value.IsScalar()) return value.Scalar();
  fail(key, "expected a scalar, a mapping or a list of numbers or of strings, got " + shown(value));
}

void Section::finish() const {
  if (!node_.IsMap()) return;
  const std::vector<std::string> known(read_.begin(), read_.end());
  for (const auto& entry : node_) {
    const auto key = entry.first.as<std::string>();
    if (!read_.count(key)) fail(key, "unknown key" + util::did_you_mean(key, known));
  }
}

}  // namespace lowbit::engine
