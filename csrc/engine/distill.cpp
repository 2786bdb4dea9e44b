#include <lowbit/csrc/engine/distill.h>

namespace lowbit::engine {

std::vector<losses::TermOptions> term_options(const DistillConfig& config) {
  std::vector<losses::TermOptions> terms;
  for (const auto& t : config.terms) {
    terms.push_back(losses::TermOptions(t.loss).name(t.name).weight(t.weight).taps(t.taps).options(t.options));
  }
  return terms;
}

DistillErrorPlace locate_distill_error(const DistillConfig& config, const std::string& message) {
  for (const auto& t : config.terms) {
    const std::string prefix = "distill term '" + (t.name.empty() ? t.loss : t.name) + "': ";
    if (message.rfind(prefix, 0) != 0) continue;
    const auto rest = message.substr(prefix.size());
    std::vector<std::string> keys{"loss", "name", "weight", "taps"};
    for (const auto& option : t.options) keys.push_back(option.first);
    for (const auto& key : keys) {
      if (rest.rfind(key + ": ", 0) == 0) return {t.path + "." + key, rest.substr(key.size() + 2)};
      if (rest.find("option '" + key + "'") != std::string::npos) return {t.path + "." + key, rest};
    }
    return {t.path, rest};
  }
  return {"distill", message};
}

}  // namespace lowbit::engine
