#pragma once
// The trainer's metric records, written to three places in one run directory:
//   <dir>/metrics.jsonl        every record, one JSON object per line, keys in record order:
//                              {"kind":"train","epoch":1,"step":100,"loss":0.52,"lr":0.1}
//                              (JSON has no NaN or infinity: those values are written as null)
//   <dir>/metrics_<kind>.csv   one file per kind: header "epoch,step,<names>" fixed by the first
//                              record of that kind written to the file; a later record leaves
//                              an empty cell for a missing name, and a name outside the header
//                              stays out of the CSV (warned once; it is in the JSONL and in
//                              TensorBoard). Numbers are shortest round-trip ("nan", "inf" as such).
//   <dir>/events.out.tfevents.*  TensorBoard scalars tagged "<kind>/<name>" at `step`.
// Each line and event is written with one write(2), so a killed run keeps all it logged.

#include <lowbit/csrc/engine/logging/tensorboard.h>
#include <lowbit/csrc/util/files.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace lowbit::engine {

struct MetricsRecord {
  std::string kind;  // "train" (every N steps), "eval" (every epoch): letters, digits, '_'
  int64_t epoch = 0;
  int64_t step = 0;  // optimizer steps since the start of training: the x axis everywhere
  // loss, per-term losses, lr, top1, top5, images/s, ...: any characters but ',', '"',
  // spaces and control characters; not "kind", "epoch" or "step"; each once.
  std::vector<std::pair<std::string, double>> values;
};

class MetricsLog {
 public:
  // Creates `dir` if needed.
  //  - fresh run (no resume_step): metrics.jsonl and the metrics_*.csv files already in `dir`
  //    are replaced (other files are left alone);
  //  - resumed run: the files continue, less the records with step > *resume_step (logged
  //    after the checkpoint the run resumes from, about to be logged again); a last line cut
  //    short by a crash is dropped too.
  // Either way a new TensorBoard event file tells TensorBoard to drop the earlier files'
  // events from the first step this run logs (0, or *resume_step + 1) on.
  explicit MetricsLog(std::string dir, std::optional<int64_t> resume_step = std::nullopt);

  // Appends `record` to the JSONL, its kind's CSV and TensorBoard. Throws (writing nothing)
  // on a malformed kind or name, naming it.
  void write(const MetricsRecord& record);

  const std::string& dir() const { return dir_; }

 private:
  struct Csv {
    Csv(const std::string& path, std::vector<std::string> columns);
    util::OutputFile file;
    std::vector<std::string> columns;  // "epoch", "step", then the value names
    std::set<std::string> warned;      // names outside `columns` already warned about
  };
  Csv& csv_for(const MetricsRecord& record);

  std::string dir_;
  util::OutputFile jsonl_;
  std::map<std::string, Csv> csv_;  // by kind
  TensorBoardWriter tensorboard_;
};

}  // namespace lowbit::engine
