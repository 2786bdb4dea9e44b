#include <lowbit/csrc/engine/objective/loss_term.h>

#include <lowbit/csrc/util/option_error.h>
#include <lowbit/csrc/util/registry.h>

namespace lowbit::engine {
namespace {

util::Registry<LossTermFactory>& loss_term_registry() {
  static util::Registry<LossTermFactory> r("loss", "loss");
  return r;
}

}  // namespace

void LossTerm::fail(const std::string& key, const std::string& detail) const {
  throw OptionError(key.empty() ? std::vector<std::string>{} : std::vector<std::string>{key},
                    who_ + ": " + (key.empty() ? "" : key + ": ") + detail, detail);
}

bool register_loss_term(const std::string& loss, LossTermFactory factory) { return loss_term_registry().add(loss, std::move(factory)); }

std::shared_ptr<LossTerm> make_loss_term(const std::string& loss, const Params& options, const std::string& who) {
  const auto& factory = loss_term_registry().get(loss);
  ParamReader reader(who, options);
  auto term = factory(reader);
  reader.finish();
  term->set_who(who);
  return term;
}

std::vector<std::string> registered_loss_terms() { return loss_term_registry().names(); }

}  // namespace lowbit::engine
