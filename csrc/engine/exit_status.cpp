#include <lowbit/csrc/engine/exit_status.h>

#include <lowbit/csrc/engine/dist/process_group.h>
#include <lowbit/csrc/engine/recipe/recipe_error.h>
#include <lowbit/csrc/util/input_error.h>

#include <string>

namespace lowbit::engine {
namespace {

int report(std::ostream& err, const std::string& message, int status) {
  err << "lowbit: error: " << message << "\n";
  return status;
}

std::string first_line(const std::string& message) { return message.substr(0, message.find('\n')); }

}  // namespace

int exit_status_of(const std::function<int()>& command, std::ostream& err) {
  try {
    return command();
  } catch (const RecipeError& e) {
    return report(err, e.what(), 2);
  } catch (const InputError& e) {
    return report(err, e.msg(), 2);
  } catch (const dist::PeerError& e) {
    report(err, e.msg(), 1);
    err << "lowbit: continue from the run's last checkpoint with: lowbit train --resume <run directory>\n";
    return 1;
  } catch (const c10::Error& e) {
    return report(err, first_line(e.msg()), 1);
  } catch (const std::exception& e) {  // e.g. std::runtime_error from a CUDA launch
    return report(err, first_line(e.what()), 1);
  }
}

}  // namespace lowbit::engine
