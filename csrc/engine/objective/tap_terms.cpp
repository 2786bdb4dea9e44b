// The terms on taps of attention layers: dgd (Q-ViT, modules/losses/dgd.h) and ranking (Bi-ViT,
// modules/losses/ranking.h). A term's `taps` regex (searched) selects tap names in both records;
// a name pairs the student's tensor with the teacher's of the same name, so the two models must
// name their layers alike. DGD sums over the taps (layers, q and k), as Q-ViT writes it; the
// ranking loss averages over them. Errors name the term and the tap: one model published it and
// the other did not, shapes differ, or the regex selects nothing.
#include <lowbit/csrc/engine/objective/loss_term.h>
#include <lowbit/csrc/util/regex_check.h>
#include <lowbit/modules/losses/dgd.h>
#include <lowbit/modules/losses/ranking.h>

#include <torch/types.h>


namespace lowbit::engine {
namespace {

// The quantized attention publishes "q", "k" and "attn" (the softmax map).
const char* const kDefaultDgdTaps = R"((^|\.)(q|k)$)";
const char* const kDefaultRankingTaps = R"((^|\.)attn$)";

class TapTerm : public LossTerm {
 public:
  explicit TapTerm(std::string taps) : taps_(std::move(taps)) { read_taps({taps_}); }

  torch::Tensor forward(const TermInputs& in) override {
    auto names = in.student_taps.names(taps_);
    for (const auto& name : in.teacher_taps.names(taps_)) {
      if (!in.student_taps.contains(name)) names.push_back(name);
    }
    check(!names.empty(), "",
          "taps '" + taps_ + "' select no tap: neither model published one whose name matches (names are "
          "'<module path>.<tap>', e.g. 'blocks.0.attn.q')");
    torch::Tensor sum;
    for (const auto& name : names) {
      check(in.student_taps.contains(name), "", "missing tap '" + name + "' in the student (the teacher published it)");
      check(in.teacher_taps.contains(name), "", "missing tap '" + name + "' in the teacher (the student published it)");
      const auto loss = pair(name, at_least_float(in.student_taps.at(name)), at_least_float(in.teacher_taps.at(name)));
      sum = sum.defined() ? sum + loss : loss;
    }
    return averaged() ? sum / static_cast<double>(names.size()) : sum;
  }

 protected:
  // The loss of one pair of tensors.
  virtual torch::Tensor pair(const std::string& name, const torch::Tensor& s, const torch::Tensor& t) = 0;
  virtual bool averaged() const = 0;
  std::string shapes(const std::string& name, const torch::Tensor& s, const torch::Tensor& t) const {
    return "tap '" + name + "': student shape " + c10::str(s.sizes()) + " and teacher shape " + c10::str(t.sizes()) + " differ";
  }

 private:
  std::string taps_;
};

class DgdTerm : public TapTerm {
 public:
  DgdTerm(std::string taps, losses::DgdOptions options) : TapTerm(std::move(taps)), options_(options) {}

 protected:
  torch::Tensor pair(const std::string& name, const torch::Tensor& s, const torch::Tensor& t) override {
    check(s.dim() >= 3 && s.dim() == t.dim() && s.sizes().slice(0, s.dim() - 1) == t.sizes().slice(0, t.dim() - 1), "",
          shapes(name, s, t) + " (dgd needs equal [batch, heads, tokens]; only the last, feature, size may differ)");
    return losses::dgd_loss(s, t, options_);
  }
  bool averaged() const override { return false; }

 private:
  losses::DgdOptions options_;
};

class RankingTerm : public TapTerm {
 public:
  RankingTerm(std::string taps, losses::RankingOptions options) : TapTerm(std::move(taps)), options_(options) {}

 protected:
  torch::Tensor pair(const std::string& name, const torch::Tensor& s, const torch::Tensor& t) override {
    check(s.sizes() == t.sizes(), "", shapes(name, s, t));
    return losses::ranking_loss(s, t, options_);
  }
  bool averaged() const override { return true; }

 private:
  losses::RankingOptions options_;
};

std::string read_taps(ParamReader& p, const char* fallback) {
  const auto taps = p.get<std::string>("taps", fallback);
  if (const auto problem = util::regex_problem(taps); !problem.empty()) p.fail("taps", problem);
  return taps;
}

std::shared_ptr<LossTerm> dgd(ParamReader& p) {
  const auto taps = read_taps(p, kDefaultDgdTaps);
  losses::DgdOptions o;
  o.normalization(p.choice("normalization", "row", {"row", "frobenius"}) == 0 ? losses::DgdNormalization::Row
                                                                              : losses::DgdNormalization::Frobenius);
  o.squared(p.get<bool>("squared", false));
  return std::make_shared<DgdTerm>(taps, o);
}

std::shared_ptr<LossTerm> ranking(ParamReader& p) {
  const auto taps = read_taps(p, kDefaultRankingTaps);
  losses::RankingOptions o;
  o.form(static_cast<losses::RankingForm>(p.choice("form", "logistic", {"logistic", "hinge", "listnet"})));
  o.top_k(p.get<int64_t>("top_k", o.top_k()));
  p.check(o.top_k() >= 0, "top_k", "expected an integer >= 0 (0: all keys), got " + std::to_string(o.top_k()));
  o.scale(p.get<double>("scale", o.scale()));
  p.check(o.scale() >= 0, "scale", "expected a number >= 0 (0: the number of keys), got " + c10::str(o.scale()));
  if (o.form() == losses::RankingForm::Hinge) {
    o.margin(p.get<double>("margin", o.margin()));
    p.check(o.margin() > 0, "margin", "expected a positive number, got " + c10::str(o.margin()));
  } else {
    p.check(!p.has("margin"), "margin", "only the hinge form has a margin");
  }
  return std::make_shared<RankingTerm>(taps, o);
}

}  // namespace

LOWBIT_REGISTER_LOSS_TERM(dgd, dgd);
LOWBIT_REGISTER_LOSS_TERM(ranking, ranking);

}  // namespace lowbit::engine
