#include <lowbit/csrc/engine/objective/distiller.h>

#include <lowbit/csrc/util/option_error.h>

#include <torch/types.h>
#include <torch/utils.h>

#include <cmath>
#include <optional>
#include <regex>

namespace lowbit::engine {
namespace {

std::string who_of(const std::string& name) { return "distill term '" + name + "'"; }

// `e` as an error of term `index` (key {"terms[<index>]", <option>...}), its message naming the
// term by `who`.
OptionError at_term(size_t index, const std::string& who, const c10::Error& e) {
  std::vector<std::string> key{"terms[" + std::to_string(index) + "]"};
  std::string detail = e.msg(), option_path;
  if (const auto* option = dynamic_cast<const OptionError*>(&e)) {
    key.insert(key.end(), option->key().begin(), option->key().end());
    detail = option->detail();
    option_path = option->key_path();
  }
  const bool named = e.msg().rfind(who + ":", 0) == 0;
  return OptionError(key, named ? e.msg() : who + ": " + (option_path.empty() ? "" : option_path + ": ") + detail, detail);
}

}  // namespace

Distiller::Distiller(const std::vector<DistillTermOptions>& terms, std::shared_ptr<Model> teacher)
    : teacher_(std::move(teacher)) {
  TORCH_CHECK_VALUE(!terms.empty(), "distill: expected at least one loss term");
  for (size_t i = 0; i < terms.size(); ++i) {
    const auto& o = terms[i];
    const auto name = o.name().empty() ? o.loss() : o.name();
    const auto who = who_of(name);
    // An error at `key` of this term; at_term adds the term's name and index.
    const auto check = [](bool condition, const std::string& key, const std::string& detail) {
      if (!condition) throw OptionError({key}, detail);
    };
    try {
      check(std::regex_match(name, std::regex("[A-Za-z0-9_]+")), "name",
            "expected letters, digits and '_' only (it names a logged metric)");
      check(std::isfinite(o.weight()) && o.weight() >= 0, "weight", "expected a number >= 0, got " + c10::str(o.weight()));
      for (const auto& earlier : terms_) {
        check(earlier.name != name, "name", "two terms have this name; give one of them another `name`");
      }
      auto term = make_loss_term(o.loss(), o.options(), who);
      check(teacher_ || !term->reads_teacher(), "loss", "the " + o.loss() + " loss reads a teacher, and the objective has none");
      terms_.push_back({name, o.weight(), register_module(name, term)});
    } catch (const c10::Error& e) {
      throw at_term(i, who, e);
    }
  }
}

std::vector<std::string> Distiller::names() const {
  std::vector<std::string> names;
  for (const auto& t : terms_) names.push_back(t.name);
  return names;
}

bool Distiller::needs_teacher() const {
  return std::any_of(terms_.begin(), terms_.end(), [](const Term& t) { return t.term->reads_teacher(); });
}

std::vector<std::string> Distiller::patterns(bool student) const {
  std::vector<std::string> patterns;
  for (const auto& t : terms_) {
    for (const auto& p : student ? t.term->student_taps() : t.term->teacher_taps()) patterns.push_back(p);
  }
  return patterns;
}

StepOutput Distiller::forward(Model& student, const Batch& batch) {
  Outputs teacher_outputs;
  taps::TapRecord student_taps, teacher_taps;
  if (teacher_) {
    torch::NoGradGuard no_grad;
    teacher_->eval();
    const auto p = patterns(false);
    std::optional<taps::TapRecorder> recorder;  // none at all: an empty pattern list would keep every tap
    if (!p.empty()) recorder.emplace(*teacher_, teacher_taps, p);
    teacher_outputs = teacher_->forward(batch);
  }
  StepOutput step;
  {
    const auto p = patterns(true);
    std::optional<taps::TapRecorder> recorder;
    if (!p.empty()) recorder.emplace(student, student_taps, p);
    step.outputs = student.forward(batch);
  }
  const TermInputs inputs{batch, step.outputs, student_taps, teacher_outputs, teacher_taps, student};
  for (size_t i = 0; i < terms_.size(); ++i) {
    try {
      step.losses.add(terms_[i].name, terms_[i].term->forward(inputs) * terms_[i].weight);
    } catch (const c10::Error& e) {
      throw at_term(i, who_of(terms_[i].name), e);
    }
  }
  return step;
}

}  // namespace lowbit::engine
