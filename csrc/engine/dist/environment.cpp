#include <lowbit/csrc/engine/dist/environment.h>

#include <cstdlib>
#include <regex>

namespace lowbit::engine::dist {
namespace {

class Reader {
 public:
  explicit Reader(Lookup lookup) : lookup_(std::move(lookup)) {}

  bool has(const std::string& name) const { return lookup_(name).has_value(); }

  std::optional<std::string> text(const std::string& name) const { return lookup_(name); }

  // A non-negative integer, or `fallback` when unset.
  int64_t integer(const std::string& name, int64_t fallback) const {
    const auto value = lookup_(name);
    if (!value) return fallback;
    if (!std::regex_match(*value, std::regex("[0-9]{1,9}"))) {
      throw SetupError(name + "='" + *value + "': expected a non-negative integer");
    }
    return std::stoll(*value);
  }

 private:
  Lookup lookup_;
};

// SLURM_TASKS_PER_NODE "4(x2),3": the first node's count.
int64_t slurm_tasks_per_node(const Reader& env) {
  if (env.has("SLURM_NTASKS_PER_NODE")) return env.integer("SLURM_NTASKS_PER_NODE", 1);
  const auto value = env.text("SLURM_TASKS_PER_NODE");
  std::smatch m;
  if (value && std::regex_search(*value, m, std::regex("^([0-9]+)"))) return std::stoll(m[1]);
  return 1;
}

void check(const Environment& e) {
  const auto where = " (from " + e.source + "'s variables)";
  if (e.world_size < 1) throw SetupError("world size " + std::to_string(e.world_size) + " is not positive" + where);
  if (e.rank >= e.world_size) {
    throw SetupError("rank " + std::to_string(e.rank) + " is outside the world size " + std::to_string(e.world_size) + where);
  }
  if (e.local_world_size < 1 || e.local_rank >= e.local_world_size) {
    const auto variable = e.source == "slurm" ? "SLURM_NTASKS_PER_NODE" : "LOCAL_WORLD_SIZE";
    throw SetupError("local rank " + std::to_string(e.local_rank) + " is outside the local world size " +
                     std::to_string(e.local_world_size) + " (" + variable + ")" + where);
  }
  if (e.master_port < 1 || e.master_port > 65535) {
    throw SetupError("MASTER_PORT=" + std::to_string(e.master_port) + ": expected a port in [1, 65535]");
  }
  if (e.master_addr.empty()) throw SetupError("MASTER_ADDR is empty");
}

}  // namespace

Environment read_environment(const Lookup& lookup) {
  const Reader env(lookup ? lookup : [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    return value ? std::optional<std::string>(value) : std::nullopt;
  });
  Environment e;
  if (env.has("WORLD_SIZE") || env.has("RANK")) {
    e.source = "torchrun";
    e.world_size = env.integer("WORLD_SIZE", 1);
    e.rank = env.integer("RANK", 0);
    e.local_rank = env.integer("LOCAL_RANK", e.rank);
    e.local_world_size = env.integer("LOCAL_WORLD_SIZE", e.world_size);
  } else if (env.has("SLURM_PROCID") && env.has("SLURM_NTASKS")) {
    e.source = "slurm";
    e.world_size = env.integer("SLURM_NTASKS", 1);
    e.rank = env.integer("SLURM_PROCID", 0);
    e.local_rank = env.integer("SLURM_LOCALID", 0);
    e.local_world_size = slurm_tasks_per_node(env);
    e.master_addr = env.text("SLURM_LAUNCH_NODE_IPADDR").value_or(e.master_addr);
  } else {
    return e;
  }
  e.master_addr = env.text("MASTER_ADDR").value_or(e.master_addr);
  e.master_port = env.integer("MASTER_PORT", e.master_port);
  check(e);
  return e;
}

}  // namespace lowbit::engine::dist
