#pragma once
// OptionError: an error in one option of an option bag (the Params a factory reads: a
// quantizer's, a model's, a loss term's, a data set's, an optimizer's), carrying the option's key
// so that a caller maps it to where the option was written (a recipe key path) without reading
// the message:
//   LOWBIT_CHECK_OPTION(bits >= 1 && bits <= 32, "bits", "lsq: bits must be in [1, 32], got ", bits);
//   catch (const OptionError& e) { ... e.key() == {"bits"}, e.detail() == "lsq: bits must be ..." }
// It is a c10::ValueError, so code that catches LibTorch's errors still sees it.

#include <c10/util/Exception.h>
#include <c10/util/StringUtil.h>

#include <string>
#include <vector>

namespace lowbit {

class OptionError : public c10::ValueError {
 public:
  // `key`: the option, outermost first ({"bits"}); `message`: the whole message, as msg() returns
  // it ("quantizer 'lsq': unknown option 'bit'"); `detail`: what a recipe error shows after the
  // key path ("unknown option 'bit'"); empty: the whole message.
  OptionError(std::vector<std::string> key, const std::string& message, std::string detail = "");

  const std::vector<std::string>& key() const { return key_; }
  const std::string& detail() const { return detail_; }

  // The key joined with '.' ("weight_quantizer.bits"); "" for an error of the whole bag.
  std::string key_path() const;

  // The same error seen one level further out: key {"weight_quantizer", "bits"}.
  OptionError within(const std::string& outer) const;

 private:
  std::vector<std::string> key_;
  std::string detail_;
};

}  // namespace lowbit

// Throws OptionError({key}, message) unless `cond`; the message is c10::str(...).
#define LOWBIT_CHECK_OPTION(cond, key, ...)                                    \
  if (C10_UNLIKELY_OR_CONST(!(cond))) {                                        \
    throw ::lowbit::OptionError({key}, ::c10::str(__VA_ARGS__));               \
  }
