#include <lowbit/csrc/engine/recipe/recipe_tree.h>

#include <lowbit/csrc/engine/recipe/recipe_error.h>
#include <lowbit/csrc/util/files.h>

#include <set>

namespace lowbit::engine {
namespace {

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string resolve(const std::string& including_file, const std::string& path) {
  return !path.empty() && path[0] == '/' ? path : util::join_path(directory_of(including_file), path);
}

// Forgets the origins of `path` and of everything below it.
void erase_subtree(std::map<std::string, std::string>& origins, const std::string& path) {
  for (auto it = origins.lower_bound(path); it != origins.end() && it->first.rfind(path, 0) == 0;) {
    const char next = it->first.size() > path.size() ? it->first[path.size()] : '\0';
    it = next == '\0' || next == '.' || next == '[' ? origins.erase(it) : std::next(it);
  }
}

// Records the origin of `node` and of everything below it.
void record(std::map<std::string, std::string>& origins, const YAML::Node& node, const std::string& path,
            const std::string& file) {
  origins[path] = file + ":" + std::to_string(node.Mark().line + 1);
  if (node.IsMap()) {
    for (const auto& entry : node) record(origins, entry.second, child_path(path, entry.first.as<std::string>()), file);
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) record(origins, node[i], path + "[" + std::to_string(i) + "]", file);
  }
}

// Deep merge of maps: keys of `source` replace or extend those of `target`.
void merge(YAML::Node target, const YAML::Node& source, const std::string& path, const std::string& file,
           std::map<std::string, std::string>& origins) {
  for (const auto& entry : source) {
    const auto key = entry.first.as<std::string>();
    if (path.empty() && key == "include") continue;  // resolved by load_into
    const auto key_path = child_path(path, key);
    if (target[key] && target[key].IsMap() && entry.second.IsMap()) {
      merge(target[key], entry.second, key_path, file, origins);
    } else {
      target[key] = YAML::Clone(entry.second);
      erase_subtree(origins, key_path);
      record(origins, entry.second, key_path, file);
    }
  }
}

YAML::Node parse_file(const std::string& path) {
  if (!util::file_exists(path)) throw RecipeError(path + ": recipe file not found");
  if (util::is_directory(path)) throw RecipeError(path + ": a directory, not a recipe file");
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw RecipeError(path + ":" + std::to_string(e.mark.line + 1) + ": YAML syntax error: " + e.msg);
  } catch (const std::exception& e) {  // std::ios_base::failure: unreadable
    throw RecipeError(path + ": cannot read the recipe (" + e.what() + ")");
  }
}

void load_into(RecipeTree& tree, const std::string& path, std::set<std::string>& open_files) {
  if (!open_files.insert(path).second) throw RecipeError(path + ": include cycle");
  const YAML::Node node = parse_file(path);
  if (node.IsNull()) throw RecipeError(path + ":1: the recipe is empty");
  if (!node.IsMap()) throw RecipeError(path + ":" + std::to_string(node.Mark().line + 1) + ": expected a mapping of keys");
  if (const auto includes = node["include"]) {
    const auto where = path + ":" + std::to_string(includes.Mark().line + 1);
    if (!includes.IsSequence() && !includes.IsScalar()) throw RecipeError(where, "include", "expected a path or a list of paths");
    const auto add = [&](const YAML::Node& entry) {
      if (!entry.IsScalar()) {
        throw RecipeError(path + ":" + std::to_string(entry.Mark().line + 1), "include", "expected a path, got a " +
                                                                                          std::string(entry.IsMap() ? "mapping" : "list"));
      }
      load_into(tree, resolve(path, entry.as<std::string>()), open_files);
    };
    if (includes.IsScalar()) add(includes);
    for (const auto& entry : includes) add(entry);
  }
  merge(tree.root, node, "", path, tree.origins);
  open_files.erase(path);
}

// "stages[1].optimizer.lr" -> {"stages", 1, "optimizer", "lr"} as strings, indices as "[1]".
std::vector<std::string> split_path(const std::string& path, const std::string& override_text) {
  std::vector<std::string> parts;
  std::string current;
  for (size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '.' || c == '[') {
      if (!current.empty()) parts.push_back(current);
      current.clear();
      if (c == '[') {
        const auto close = path.find(']', i);
        if (close == std::string::npos) throw RecipeError("--set " + override_text + ": unbalanced '[' in the key");
        parts.push_back(path.substr(i, close - i + 1));
        i = close;
      }
    } else {
      current += c;
    }
  }
  if (!current.empty()) parts.push_back(current);
  if (parts.empty()) throw RecipeError("--set " + override_text + ": empty key");
  return parts;
}

void apply_override(RecipeTree& tree, const std::string& text) {
  const auto equals = text.find('=');
  if (equals == std::string::npos) throw RecipeError("--set " + text + ": expected key=value, e.g. data.root=/data");
  const auto key = text.substr(0, equals);
  YAML::Node value;
  try {
    value = YAML::Load(text.substr(equals + 1));
  } catch (const YAML::Exception& e) {
    throw RecipeError("--set " + text + ": the value is not valid YAML: " + e.msg);
  }
  YAML::Node node = tree.root;
  std::string path;
  const auto parts = split_path(key, text);
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto& part = parts[i];
    const bool last = i + 1 == parts.size();
    YAML::Node next;
    if (part[0] == '[') {
      const auto digits = part.substr(1, part.size() - 2);
      if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) {
        throw RecipeError("--set " + text + ": " + part + " is not an element number");
      }
      const auto index = std::stoul(digits);
      if (!node.IsSequence() || index >= node.size()) {
        throw RecipeError("--set " + text + ": " + path + " has no element " + part);
      }
      path += part;
      if (last) node[index] = value;
      next = node[index];
    } else {
      if (!node.IsMap() && !node.IsNull()) {
        throw RecipeError("--set " + text + ": " + path + " is a " + (node.IsSequence() ? "list" : "value") +
                          ", not a mapping of keys");
      }
      path = child_path(path, part);
      if (last) node[part] = value;
      else if (!node[part]) node[part] = YAML::Node(YAML::NodeType::Map);
      next = node[part];
    }
    node.reset(next);
  }
  erase_subtree(tree.origins, path);
  tree.origins[path] = "--set " + key;
}

}  // namespace

std::string child_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

std::string origin_of(const std::map<std::string, std::string>& origins, const std::string& path,
                      const std::string& fallback) {
  for (std::string p = path;;) {
    if (const auto it = origins.find(p); it != origins.end()) return it->second;
    const auto cut = p.find_last_of(".[");
    if (cut == std::string::npos || cut == 0) return fallback;
    p = p.substr(0, cut);
  }
}

std::string RecipeTree::where(const std::string& path) const { return origin_of(origins, path, file); }

std::string RecipeTree::resolve_path(const std::string& path, const std::string& value) const {
  const auto origin = where(path);
  if (origin.rfind("--set", 0) == 0) return value;
  return resolve(origin.substr(0, origin.rfind(':')), value);  // origin: "<file>:<line>"
}

RecipeTree load_recipe_tree(const std::string& path, const std::vector<std::string>& overrides) {
  RecipeTree tree;
  tree.file = path;
  tree.root = YAML::Node(YAML::NodeType::Map);
  std::set<std::string> open_files;
  load_into(tree, path, open_files);
  for (const auto& text : overrides) apply_override(tree, text);
  return tree;
}

}  // namespace lowbit::engine
