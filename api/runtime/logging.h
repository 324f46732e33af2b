// Structured logs: one JSON object per line, with the time (RFC 3339, UTC,
// milliseconds), the level, the message and key/value fields:
//
//   {"ts":"2025-03-01T12:00:00.123Z","level":"info","msg":"leader elected",
//    "pool":"db","pod":"db-0"}                       (one line, cut here)
//
// Loggers are cheap handles that share a sink and a level filter; With()
// gives one that adds fields to every line (a reconciler's key, say).
// Thread-safe: lines from different threads never interleave.
//
//   Logger log = DefaultLogger().With({{"controller", "trafficdirector"}});
//   log.Info("leader elected", {{"pool", pool}, {"pod", pod}, {"attempt", 2}});
//   log.Error("update failed", {{"error", status.ToString()}});
//   DefaultLogger().SetLevel(LogLevel::kDebug);  // affects every handle
//
// Compiled in header_examples_test.cc.
#ifndef ZEN_LEAD_API_RUNTIME_LOGGING_H_
#define ZEN_LEAD_API_RUNTIME_LOGGING_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "api/client/clock.h"
#include "nlohmann/json.hpp"

namespace zenlead::runtime {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// "debug", "info", "warning" (or "warn"), "error"; case-insensitive.
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view text);
absl::string_view LogLevelName(LogLevel level);

using LogField = std::pair<std::string, nlohmann::json>;
using LogFields = std::vector<LogField>;
// Receives one complete line, without the trailing newline.
using LogSink = std::function<void(absl::string_view line)>;

// The JSON line for one record (exposed for tests and other sinks). Invalid
// UTF-8 in strings is replaced, never thrown on.
std::string FormatLogLine(absl::Time ts, LogLevel level, absl::string_view msg,
                          const LogFields& base, const LogFields& fields);

class Logger {
 public:
  // Writes to stderr at level info, with the real clock.
  Logger();
  // clock: nullptr for RealClock().
  Logger(LogSink sink, LogLevel level, client::Clock* clock);

  // A handle that adds `fields` (after this handle's own) to every line.
  Logger With(const LogFields& fields) const;

  // Shared by every handle derived from the same root.
  void SetLevel(LogLevel level) const;
  LogLevel level() const;
  bool Enabled(LogLevel level) const;

  void Log(LogLevel level, absl::string_view msg,
           const LogFields& fields = {}) const;
  void Debug(absl::string_view msg, const LogFields& fields = {}) const {
    Log(LogLevel::kDebug, msg, fields);
  }
  void Info(absl::string_view msg, const LogFields& fields = {}) const {
    Log(LogLevel::kInfo, msg, fields);
  }
  void Warning(absl::string_view msg, const LogFields& fields = {}) const {
    Log(LogLevel::kWarning, msg, fields);
  }
  void Error(absl::string_view msg, const LogFields& fields = {}) const {
    Log(LogLevel::kError, msg, fields);
  }

 private:
  struct Core {
    LogSink sink;
    client::Clock* clock;
    std::atomic<int> level;
    absl::Mutex mu;  // serialises lines
  };
  Logger(std::shared_ptr<Core> core, LogFields base)
      : core_(std::move(core)), base_(std::move(base)) {}

  std::shared_ptr<Core> core_;
  LogFields base_;
};

// The process-wide logger (stderr, info). Never destroyed.
const Logger& DefaultLogger();

}  // namespace zenlead::runtime

#endif  // ZEN_LEAD_API_RUNTIME_LOGGING_H_
