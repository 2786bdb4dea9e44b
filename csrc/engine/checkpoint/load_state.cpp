#include <lowbit/csrc/engine/checkpoint/load_state.h>

#include <lowbit/csrc/util/regex_check.h>
#include <lowbit/csrc/util/suggest.h>

#include <torch/torch.h>

#include <algorithm>
#include <regex>

namespace lowbit::engine {
namespace {

constexpr size_t kShownPerKind = 10;

// A tensor with the key it had before renaming.
struct Source {
  std::string key;
  at::Tensor value;
};

std::string origin(const std::string& name, const Source& source) {
  return source.key == name ? "" : " (from '" + source.key + "')";
}

// Appends "\n  <kind>  <line>" for the first kShownPerKind lines and a count of the rest.
void append_lines(std::string& message, const std::string& kind, const std::vector<std::string>& lines) {
  for (size_t i = 0; i < std::min(lines.size(), kShownPerKind); ++i) message += "\n  " + kind + "  " + lines[i];
  if (lines.size() > kShownPerKind) {
    message += "\n  " + kind + "  ... and " + std::to_string(lines.size() - kShownPerKind) + " more";
  }
}

// Whether `name` matches one of `patterns` (std::regex_search).
bool matches_any(const std::string& name, const std::vector<std::regex>& patterns) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::regex& p) { return std::regex_search(name, p); });
}

// `patterns` compiled; `what` names the option in errors.
std::vector<std::regex> compiled(const std::vector<std::string>& patterns, const char* what) {
  std::vector<std::regex> regexes;
  for (const auto& pattern : patterns) {
    const auto problem = util::regex_problem(pattern);
    TORCH_CHECK_VALUE(problem.empty(), what, ": ", problem);
    regexes.emplace_back(pattern);
  }
  return regexes;
}

}  // namespace

LoadReport load_into(torch::nn::Module& module, const NamedTensors& tensors, const LoadOptions& options) {
  const std::string prefix = options.source().empty() ? "" : options.source() + ": ";
  LoadReport report;
  torch::OrderedDict<std::string, Source> renamed;
  for (const auto& item : tensors) {
    TORCH_CHECK(item.value().defined(), prefix, "key '", item.key(), "' holds an undefined tensor");
    const auto name = options.renames().apply(item.key());
    if (name.empty()) {
      report.dropped.push_back(item.key());
      continue;
    }
    const auto* earlier = renamed.find(name);
    TORCH_CHECK(!earlier, prefix, "keys '", earlier ? earlier->key : "", "' and '", item.key(), "' both rename to '",
                name, "'");
    renamed.insert(name, Source{item.key(), item.value()});
  }

  auto targets = module.named_parameters();
  for (const auto& buffer : module.named_buffers()) targets.insert(buffer.key(), buffer.value());

  const auto keep = compiled(options.keep(), "keep"), reshape = compiled(options.reshape(), "reshape");
  std::vector<std::string> shape_lines, unexpected_lines, required_missing;
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;  // (parameter or buffer, value)
  for (const auto& target : targets) {
    const auto* source = renamed.find(target.key());
    const auto& value = target.value();
    if (!source) {
      report.missing.push_back(target.key());
      if (!matches_any(target.key(), keep)) required_missing.push_back(target.key());
    } else if (source->value.sizes() == value.sizes() ||
               (source->value.numel() == value.numel() && matches_any(target.key(), reshape))) {
      report.loaded.push_back(target.key());
      copies.emplace_back(value, source->value.reshape(value.sizes()));
    } else {
      shape_lines.push_back(c10::str(target.key(), origin(target.key(), *source), ": module ", value.sizes(),
                                     ", state dict ", source->value.sizes()));
    }
  }
  for (const auto& item : renamed) {
    if (targets.contains(item.key())) continue;
    report.unexpected.push_back(item.key());
    unexpected_lines.push_back(item.key() + origin(item.key(), item.value()) +
                               util::did_you_mean(item.key(), report.missing));
  }

  const bool strict_failure = options.strict() && (!required_missing.empty() || !report.unexpected.empty());
  if (!shape_lines.empty() || strict_failure) {
    std::string message = prefix + "state dict does not match the module";
    append_lines(message, "shape     ", shape_lines);
    if (options.strict()) {
      append_lines(message, "missing   ", required_missing);
      append_lines(message, "unexpected", unexpected_lines);
    }
    TORCH_CHECK(false, message);
  }
  torch::NoGradGuard no_grad;
  for (auto& [target, value] : copies) target.copy_(value);
  return report;
}

}  // namespace lowbit::engine
