#include <lowbit/modules/losses/distiller.h>

#include <lowbit/csrc/util/suggest.h>
#include <lowbit/modules/losses/kd.h>

#include <torch/torch.h>

#include <cmath>
#include <optional>
#include <regex>

namespace lowbit::losses {
namespace {

// Default tap regexes: the quantized attention publishes "q", "k" and "attn" (the softmax map).
const char* const kDefaultDgdTaps = R"((^|\.)(q|k)$)";
const char* const kDefaultRankingTaps = R"((^|\.)attn$)";

std::string regex_escape(const std::string& text) {
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  return std::regex_replace(text, special, R"(\$&)");
}

// The choice named `value` for option `key`, with a suggestion when misspelt.
size_t option_choice(const std::string& who, const std::string& key, const std::string& value,
                     const std::vector<std::string>& choices) {
  try {
    return util::choose(key, value, choices);
  } catch (const c10::ValueError& e) {
    TORCH_CHECK_VALUE(false, who, ": ", key, ": ", e.msg());
  }
}

// Autocast leaves float16 activations; the losses sum many small terms, so they run in float32.
torch::Tensor at_least_float(const torch::Tensor& x) {
  return x.is_floating_point() && x.element_size() < 4 ? x.to(torch::kFloat) : x;
}

}  // namespace

const std::vector<std::string>& loss_kinds() {
  static const std::vector<std::string> kinds{"ce", "kl", "distribution", "hard", "dgd", "ranking"};
  return kinds;
}

Distiller::Term Distiller::compile(const TermOptions& options) {
  Term term;
  term.name = options.name().empty() ? options.loss() : options.name();
  const std::string who = "distill term '" + term.name + "'";
  term.kind = static_cast<Kind>(option_choice(who, "loss", options.loss(), loss_kinds()));
  TORCH_CHECK_VALUE(std::regex_match(term.name, std::regex("[A-Za-z0-9_]+")), who,
                    ": name: expected letters, digits and '_' only (it names a logged metric)");
  TORCH_CHECK_VALUE(std::isfinite(options.weight()) && options.weight() >= 0, who, ": weight: expected a number >= 0, got ",
                    options.weight());
  term.weight = options.weight();
  ParamReader reader(who, options.options());
  const bool reads_taps = term.kind == Kind::Dgd || term.kind == Kind::Ranking;
  if (reads_taps) {
    term.taps = !options.taps().empty() ? options.taps() : term.kind == Kind::Dgd ? kDefaultDgdTaps : kDefaultRankingTaps;
    try {
      std::regex check(term.taps);
    } catch (const std::regex_error& e) {
      TORCH_CHECK_VALUE(false, who, ": taps: '", term.taps, "' is not a valid regular expression: ", e.what());
    }
  } else {
    TORCH_CHECK_VALUE(options.taps().empty(), who, ": taps: the ", options.loss(),
                      " loss reads logits, not taps (its option 'logits' names a student tap to use instead of the output)");
    term.student_logits = reader.get<std::string>("logits", "");
  }
  switch (term.kind) {
    case Kind::CrossEntropy:
      term.label_smoothing = reader.get<double>("label_smoothing", 0.0);
      TORCH_CHECK_VALUE(term.label_smoothing >= 0 && term.label_smoothing < 1, who,
                        ": label_smoothing: expected a number in [0, 1), got ", term.label_smoothing);
      break;
    case Kind::Kl:
    case Kind::Distribution:
      term.temperature = reader.get<double>("temperature", 1.0);
      TORCH_CHECK_VALUE(term.temperature > 0, who, ": temperature: expected a positive number, got ", term.temperature);
      break;
    case Kind::Hard:
      break;
    case Kind::Dgd:
      term.dgd.normalization(option_choice(who, "normalization", reader.get<std::string>("normalization", "row"),
                                           {"row", "frobenius"}) == 0
                                 ? DgdNormalization::Row
                                 : DgdNormalization::Frobenius);
      term.dgd.squared(reader.get<bool>("squared", false));
      break;
    case Kind::Ranking: {
      const auto form = option_choice(who, "form", reader.get<std::string>("form", "logistic"),
                                      {"logistic", "hinge", "listnet"});
      term.ranking.form(static_cast<RankingForm>(form));
      term.ranking.top_k(reader.get<int64_t>("top_k", term.ranking.top_k()));
      TORCH_CHECK_VALUE(term.ranking.top_k() >= 0, who, ": top_k: expected an integer >= 0 (0: all keys), got ",
                        term.ranking.top_k());
      term.ranking.scale(reader.get<double>("scale", term.ranking.scale()));
      TORCH_CHECK_VALUE(term.ranking.scale() >= 0, who, ": scale: expected a number >= 0 (0: the number of keys), got ",
                        term.ranking.scale());
      if (term.ranking.form() == RankingForm::Hinge) {
        term.ranking.margin(reader.get<double>("margin", term.ranking.margin()));
        TORCH_CHECK_VALUE(term.ranking.margin() > 0, who, ": margin: expected a positive number, got ",
                          term.ranking.margin());
      } else {
        TORCH_CHECK_VALUE(!reader.has("margin"), who, ": margin: only the hinge form has a margin");
      }
      break;
    }
  }
  reader.finish();
  return term;
}

Distiller::Distiller(const std::vector<TermOptions>& terms) {
  TORCH_CHECK_VALUE(!terms.empty(), "distill: expected at least one loss term");
  for (const auto& options : terms) {
    terms_.push_back(compile(options));
    for (size_t i = 0; i + 1 < terms_.size(); ++i) {
      TORCH_CHECK_VALUE(terms_[i].name != terms_.back().name, "distill term '", terms_.back().name,
                        "': name: two terms have this name; give one of them another `name`");
    }
  }
}

std::vector<std::string> Distiller::names() const {
  std::vector<std::string> names;
  for (const auto& term : terms_) names.push_back(term.name);
  return names;
}

std::vector<std::string> Distiller::teacher_patterns() const {
  std::vector<std::string> patterns;
  for (const auto& term : terms_) {
    if (!term.taps.empty()) patterns.push_back(term.taps);
  }
  return patterns;
}

std::vector<std::string> Distiller::student_patterns() const {
  auto patterns = teacher_patterns();
  for (const auto& term : terms_) {
    if (!term.student_logits.empty()) patterns.push_back("^" + regex_escape(term.student_logits) + "$");
  }
  return patterns;
}

DistillResult Distiller::forward(torch::nn::Module& student, const Forward& student_forward, torch::nn::Module& teacher,
                                 const Forward& teacher_forward, const torch::Tensor& images,
                                 const torch::Tensor& labels) const {
  ModelOutputs s, t;
  {
    torch::NoGradGuard no_grad;
    teacher.eval();
    const auto patterns = teacher_patterns();
    std::optional<taps::TapRecorder> recorder;  // none at all: an empty pattern list would keep every tap
    if (!patterns.empty()) recorder.emplace(teacher, t.taps, patterns);
    t.logits = teacher_forward(images);
  }
  {
    const auto patterns = student_patterns();
    std::optional<taps::TapRecorder> recorder;
    if (!patterns.empty()) recorder.emplace(student, s.taps, patterns);
    s.logits = student_forward(images);
  }
  return compute(s, t, labels);
}

DistillResult Distiller::compute(const ModelOutputs& student, const ModelOutputs& teacher,
                                 const torch::Tensor& labels) const {
  DistillResult result;
  result.logits = student.logits;
  for (const auto& term : terms_) {
    const bool reads_taps = term.kind == Kind::Dgd || term.kind == Kind::Ranking;
    const auto loss = reads_taps ? tap_term(term, student, teacher) : logit_term(term, student, teacher, labels);
    const auto weighted = loss * term.weight;
    result.total = result.total.defined() ? result.total + weighted : weighted;
    result.terms.emplace_back(term.name, weighted);
  }
  return result;
}

torch::Tensor Distiller::logit_term(const Term& term, const ModelOutputs& student, const ModelOutputs& teacher,
                                    const torch::Tensor& labels) const {
  const std::string who = "distill term '" + term.name + "'";
  auto z_s = student.logits;
  if (!term.student_logits.empty()) {
    TORCH_CHECK(student.taps.contains(term.student_logits), who, ": logits: missing tap '", term.student_logits,
                "' in the student (", student.taps.size(), " matching taps were recorded)");
    z_s = student.taps.at(term.student_logits);
  }
  TORCH_CHECK(z_s.defined(), who, ": the student produced no logits");
  z_s = at_least_float(z_s);
  if (term.kind == Kind::CrossEntropy) return label_cross_entropy(z_s, labels, term.label_smoothing);
  TORCH_CHECK(teacher.logits.defined(), who, ": the teacher produced no logits");
  const auto z_t = at_least_float(teacher.logits);
  TORCH_CHECK(z_s.sizes() == z_t.sizes(), who, ": logits: student shape ", z_s.sizes(), " and teacher shape ",
              z_t.sizes(), " differ");
  switch (term.kind) {
    case Kind::Kl:
      return kl_distillation(z_s, z_t, term.temperature);
    case Kind::Distribution:
      return distribution_loss(z_s, z_t, term.temperature);
    default:
      return hard_distillation(z_s, z_t);
  }
}

torch::Tensor Distiller::tap_term(const Term& term, const ModelOutputs& student, const ModelOutputs& teacher) const {
  const std::string who = "distill term '" + term.name + "'";
  auto names = student.taps.names(term.taps);
  for (const auto& name : teacher.taps.names(term.taps)) {
    if (!student.taps.contains(name)) names.push_back(name);
  }
  TORCH_CHECK(!names.empty(), who, ": taps '", term.taps,
              "' select no tap: neither model published one whose name matches (names are '<module path>.<tap>', "
              "e.g. 'blocks.0.attn.q')");
  torch::Tensor sum;
  for (const auto& name : names) {
    TORCH_CHECK(student.taps.contains(name), who, ": missing tap '", name, "' in the student (the teacher published it)");
    TORCH_CHECK(teacher.taps.contains(name), who, ": missing tap '", name, "' in the teacher (the student published it)");
    const auto s = at_least_float(student.taps.at(name)), t = at_least_float(teacher.taps.at(name));
    torch::Tensor loss;
    if (term.kind == Kind::Dgd) {
      TORCH_CHECK(s.dim() >= 3 && s.dim() == t.dim() && s.sizes().slice(0, s.dim() - 1) == t.sizes().slice(0, t.dim() - 1),
                  who, ": tap '", name, "': student shape ", s.sizes(), " and teacher shape ", t.sizes(),
                  " differ (dgd needs equal [batch, heads, tokens]; only the last, feature, size may differ)");
      loss = dgd_loss(s, t, term.dgd);
    } else {
      TORCH_CHECK(s.sizes() == t.sizes(), who, ": tap '", name, "': student shape ", s.sizes(), " and teacher shape ",
                  t.sizes(), " differ");
      loss = ranking_loss(s, t, term.ranking);
    }
    sum = sum.defined() ? sum + loss : loss;
  }
  // DGD sums over layers (and q, k) as Q-ViT writes it; the ranking loss averages over layers.
  return term.kind == Kind::Dgd ? sum : sum / static_cast<double>(names.size());
}

}  // namespace lowbit::losses
