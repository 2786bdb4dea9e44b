#pragma once
// The recipe's `distill:` section as the losses::Distiller the Trainer trains with, and the
// recipe key a Distiller error belongs to.
//
//   distill:
//     terms:
//       - {loss: distribution, weight: 1.0}
//       - {loss: dgd, weight: 1.0, taps: '\.attn\.(q|k)$', normalization: row}
//       - {loss: ce, weight: 0.5}

#include <lowbit/csrc/engine/recipe.h>
#include <lowbit/modules/losses/distiller.h>

#include <string>
#include <vector>

namespace lowbit::engine {

std::vector<losses::TermOptions> term_options(const DistillConfig& config);

// Where an error of a Distiller built from `config` belongs: for a message naming term i and one
// of its keys ("distill term '<name>': <key>: ..." or "... option '<key>' ..."), the path
// "distill.terms[i].<key>" and the message without the term and key; "distill.terms[i]" when it
// names no key; "distill" and the whole message when it names no term.
struct DistillErrorPlace {
  std::string path, message;
};
DistillErrorPlace locate_distill_error(const DistillConfig& config, const std::string& message);

}  // namespace lowbit::engine
