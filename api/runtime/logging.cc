#include "api/runtime/logging.h"

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace zenlead::runtime {
namespace {

std::string Dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void AppendFields(const LogFields& fields, std::string& out) {
  for (const auto& [key, value] : fields) {
    absl::StrAppend(&out, ",", Dump(nlohmann::json(key)), ":", Dump(value));
  }
}

void WriteStderr(absl::string_view line) {
  std::string buffer = absl::StrCat(line, "\n");
  std::fwrite(buffer.data(), 1, buffer.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "debug") return LogLevel::kDebug;
  if (lower == "info") return LogLevel::kInfo;
  if (lower == "warning" || lower == "warn") return LogLevel::kWarning;
  if (lower == "error") return LogLevel::kError;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown log level \"", text, "\": use debug, info, warning or error"));
}

absl::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

std::string FormatLogLine(absl::Time ts, LogLevel level, absl::string_view msg,
                          const LogFields& base, const LogFields& fields) {
  // Built by hand rather than as one nlohmann::json object, whose keys would
  // come out sorted: ts, level and msg lead every line.
  std::string line = absl::StrCat(
      "{\"ts\":\"",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", ts, absl::UTCTimeZone()),
      "\",\"level\":\"", LogLevelName(level),
      "\",\"msg\":", Dump(nlohmann::json(std::string(msg))));
  AppendFields(base, line);
  AppendFields(fields, line);
  line += "}";
  return line;
}

Logger::Logger() : Logger(WriteStderr, LogLevel::kInfo, nullptr) {}

Logger::Logger(LogSink sink, LogLevel level, client::Clock* clock)
    : core_(std::make_shared<Core>()) {
  core_->sink = std::move(sink);
  core_->clock = clock != nullptr ? clock : client::RealClock();
  core_->level = static_cast<int>(level);
}

Logger Logger::With(const LogFields& fields) const {
  LogFields base = base_;
  base.insert(base.end(), fields.begin(), fields.end());
  return Logger(core_, std::move(base));
}

void Logger::SetLevel(LogLevel level) const {
  core_->level.store(static_cast<int>(level), std::memory_order_relaxed);
}

LogLevel Logger::level() const {
  return static_cast<LogLevel>(core_->level.load(std::memory_order_relaxed));
}

bool Logger::Enabled(LogLevel level) const {
  return static_cast<int>(level) >=
         core_->level.load(std::memory_order_relaxed);
}

void Logger::Log(LogLevel level, absl::string_view msg,
                 const LogFields& fields) const {
  if (!Enabled(level)) return;
  const std::string line =
      FormatLogLine(core_->clock->Now(), level, msg, base_, fields);
  absl::MutexLock lock(&core_->mu);
  core_->sink(line);
}

const Logger& DefaultLogger() {
  static const Logger* const logger = new Logger();
  return *logger;
}

}  // namespace zenlead::runtime
