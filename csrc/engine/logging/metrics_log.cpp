#include <lowbit/csrc/engine/logging/metrics_log.h>

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <string_view>

namespace lowbit::engine {
namespace {

constexpr char kJsonl[] = "metrics.jsonl";
constexpr char kCsvPrefix[] = "metrics_";
constexpr char kCsvSuffix[] = ".csv";

std::string csv_name(const std::string& kind) { return kCsvPrefix + kind + kCsvSuffix; }

bool is_csv_name(const std::string& name) {
  const std::string_view prefix = kCsvPrefix, suffix = kCsvSuffix;
  return name.size() > prefix.size() + suffix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> split(std::string_view line, char separator) {
  std::vector<std::string> fields;
  for (size_t start = 0;;) {
    const auto end = line.find(separator, start);
    fields.emplace_back(line.substr(start, end - start));
    if (end == std::string_view::npos) return fields;
    start = end + 1;
  }
}

// The lines of `text` that end in '\n'; a last line without one was cut short by a crash.
std::vector<std::string_view> complete_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  for (size_t start = 0, end; (end = text.find('\n', start)) != std::string_view::npos; start = end + 1) {
    lines.push_back(text.substr(start, end - start));
  }
  return lines;
}

int64_t jsonl_step(const std::string& path, size_t line_number, std::string_view line) {
  const auto record = nlohmann::json::parse(line, nullptr, false);
  TORCH_CHECK(record.is_object() && record.contains("step") && record["step"].is_number_integer(), path, ":",
              line_number, ": not a metrics record (expected a JSON object with an integer \"step\")");
  return record["step"].get<int64_t>();
}

int64_t csv_step(const std::string& path, size_t line_number, std::string_view line) {
  const auto fields = split(line, ',');
  char* end = nullptr;
  errno = 0;
  const int64_t step = fields.size() >= 2 ? std::strtoll(fields[1].c_str(), &end, 10) : 0;
  TORCH_CHECK(fields.size() >= 2 && !fields[1].empty() && *end == '\0' && errno == 0, path, ":", line_number,
              ": expected epoch,step,... with an integer step, got '", line, "'");
  return step;
}

// Rewrites `path` without its records past `last_step` and without a line cut short; a CSV
// keeps its header line.
void drop_records_after(const std::string& path, int64_t last_step, bool csv) {
  const auto text = util::read_file(path);
  const auto lines = complete_lines(text);
  std::string kept;
  for (size_t i = 0; i < lines.size(); ++i) {
    const bool header = csv && i == 0;
    if (header || (csv ? csv_step(path, i + 1, lines[i]) : jsonl_step(path, i + 1, lines[i])) <= last_step) {
      kept.append(lines[i]).append("\n");
    }
  }
  if (kept.size() != text.size()) util::replace_file(path, kept);
}

// Creates `dir` and readies its metrics files for a fresh or a resumed run; returns the JSONL's path.
std::string prepare(const std::string& dir, std::optional<int64_t> resume_step) {
  util::make_directories(dir);
  for (const auto& entry : util::list_directory(dir)) {
    const auto& name = entry.name;
    if (name != kJsonl && !is_csv_name(name)) continue;
    const auto path = util::join_path(dir, name);
    if (resume_step) {
      drop_records_after(path, *resume_step, name != kJsonl);
    } else {
      util::remove_file(path);
    }
  }
  return util::join_path(dir, kJsonl);
}

// Shortest text that reads back as the same double; "nan", "inf", "-inf" for those.
std::string number(double value) {
  char text[32];
  const auto result = std::to_chars(text, text + sizeof(text), value);
  return std::string(text, result.ptr);
}

bool is_csv_safe(unsigned char c) { return c > ' ' && c != ',' && c != '"' && c != 0x7F; }

void check_record(const std::string& dir, const MetricsRecord& record) {
  const bool kind_ok = !record.kind.empty() && std::all_of(record.kind.begin(), record.kind.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
  TORCH_CHECK_VALUE(kind_ok, dir, ": metrics record kind '", record.kind, "': expected letters, digits and '_'");
  std::set<std::string> seen;
  for (const auto& [name, value] : record.values) {
    const auto where = " '" + record.kind + "' record at step " + std::to_string(record.step) + ": metric name '";
    TORCH_CHECK_VALUE(!name.empty() && std::all_of(name.begin(), name.end(), is_csv_safe), dir, ":", where, name,
                      "' must be non-empty without ',', '\"', spaces or control characters");
    TORCH_CHECK_VALUE(name != "kind" && name != "epoch" && name != "step", dir, ":", where, name, "' is reserved");
    TORCH_CHECK_VALUE(seen.insert(name).second, dir, ":", where, name, "' appears twice");
  }
}

}  // namespace

MetricsLog::Csv::Csv(const std::string& path, std::vector<std::string> columns)
    : file(path, util::OutputFile::Mode::Append), columns(std::move(columns)) {}

MetricsLog::MetricsLog(std::string dir, std::optional<int64_t> resume_step)
    : dir_(std::move(dir)), jsonl_(prepare(dir_, resume_step), util::OutputFile::Mode::Append), tensorboard_(dir_) {
  tensorboard_.discard_from(resume_step ? *resume_step + 1 : 0);
}

MetricsLog::Csv& MetricsLog::csv_for(const MetricsRecord& record) {
  const auto found = csv_.find(record.kind);
  if (found != csv_.end()) return found->second;
  const auto path = util::join_path(dir_, csv_name(record.kind));
  // A resumed run's file keeps its header; prepare() left only complete lines.
  std::vector<std::string> columns;
  if (util::file_exists(path)) {
    const auto text = util::read_file(path);
    if (!text.empty()) {
      columns = split(std::string_view(text).substr(0, text.find('\n')), ',');
      TORCH_CHECK(columns.size() >= 2 && columns[0] == "epoch" && columns[1] == "step", path,
                  ": the header does not start with epoch,step");
    }
  }
  const bool new_file = columns.empty();
  if (new_file) {
    columns = {"epoch", "step"};
    for (const auto& [name, value] : record.values) columns.push_back(name);
  }
  auto& csv = csv_.try_emplace(record.kind, path, std::move(columns)).first->second;
  if (new_file) {
    std::string header;
    for (const auto& column : csv.columns) header += (header.empty() ? "" : ",") + column;
    csv.file.write(header + "\n");
  }
  return csv;
}

void MetricsLog::write(const MetricsRecord& record) {
  check_record(dir_, record);
  auto& csv = csv_for(record);

  nlohmann::ordered_json json = {{"kind", record.kind}, {"epoch", record.epoch}, {"step", record.step}};
  for (const auto& [name, value] : record.values) json[name] = value;

  std::string row = std::to_string(record.epoch) + "," + std::to_string(record.step);
  for (size_t c = 2; c < csv.columns.size(); ++c) {
    const auto it = std::find_if(record.values.begin(), record.values.end(),
                                 [&](const auto& named) { return named.first == csv.columns[c]; });
    row += "," + (it == record.values.end() ? "" : number(it->second));
  }
  for (const auto& [name, value] : record.values) {
    const bool in_header = std::find(csv.columns.begin() + 2, csv.columns.end(), name) != csv.columns.end();
    if (!in_header && csv.warned.insert(name).second) {
      TORCH_WARN(csv.file.path(), ": '", name, "' is not a column (the header is fixed by the file's first '",
                 record.kind, "' record); it is logged to ", kJsonl, " and TensorBoard only");
    }
  }

  std::vector<std::pair<std::string, double>> scalars;
  for (const auto& [name, value] : record.values) scalars.emplace_back(record.kind + "/" + name, value);

  // Invalid UTF-8 in a name becomes U+FFFD rather than an exception halfway through the writes.
  jsonl_.write(json.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n");
  csv.file.write(row + "\n");
  tensorboard_.add_scalars(scalars, record.step);
}

}  // namespace lowbit::engine
