#include <lowbit/csrc/engine/recipe/recipe_error.h>

#include <lowbit/csrc/engine/recipe/recipe_tree.h>
#include <lowbit/csrc/util/option_error.h>

namespace lowbit::engine {

void throw_at_key(const std::function<std::string(const std::string&)>& where, const std::string& path,
                  const c10::Error& error) {
  if (const auto* option = dynamic_cast<const OptionError*>(&error)) {
    std::string key = path;
    for (const auto& part : option->key()) key = part.rfind('[', 0) == 0 ? key + part : child_path(key, part);
    throw RecipeError(where(key), key, option->detail());
  }
  throw RecipeError(where(path), path, error.msg());
}

}  // namespace lowbit::engine
