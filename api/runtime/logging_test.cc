#include "api/runtime/logging.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/client/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::runtime {
namespace {

using ::testing::StartsWith;

class CapturingSink {
 public:
  LogSink sink() {
    return [this](absl::string_view line) {
      absl::MutexLock lock(&mu_);
      lines_.emplace_back(line);
    };
  }
  std::vector<std::string> lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

TEST(LoggingTest, OneJsonObjectPerLineWithTimeLevelMessageAndFields) {
  client::FakeClock clock(absl::FromUnixMillis(1700000000123));
  CapturingSink capture;
  Logger log(capture.sink(), LogLevel::kInfo, &clock);
  log.Info("leader elected", {{"pool", "db"}, {"attempt", 2}, {"ok", true}});
  ASSERT_EQ(capture.lines().size(), 1u);
  const std::string line = capture.lines()[0];
  EXPECT_EQ(line,
            "{\"ts\":\"2023-11-14T22:13:20.123Z\",\"level\":\"info\","
            "\"msg\":\"leader elected\",\"pool\":\"db\",\"attempt\":2,"
            "\"ok\":true}");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  nlohmann::json parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["attempt"], 2);
}

TEST(LoggingTest, LevelFilterIsSharedByDerivedHandles) {
  CapturingSink capture;
  Logger log(capture.sink(), LogLevel::kWarning, nullptr);
  Logger child = log.With({{"controller", "x"}});
  log.Debug("d");
  log.Info("i");
  child.Info("i2");
  log.Warning("w");
  child.Error("e");
  ASSERT_EQ(capture.lines().size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(capture.lines()[0])["level"], "warning");
  EXPECT_EQ(nlohmann::json::parse(capture.lines()[1])["level"], "error");
  child.SetLevel(LogLevel::kDebug);
  EXPECT_EQ(log.level(), LogLevel::kDebug);
  log.Debug("now visible");
  EXPECT_EQ(capture.lines().size(), 3u);
}

TEST(LoggingTest, WithAddsFieldsToEveryLine) {
  CapturingSink capture;
  Logger log(capture.sink(), LogLevel::kInfo, nullptr);
  Logger child = log.With({{"controller", "td"}}).With({{"key", "ns/a"}});
  child.Info("reconciled", {{"ms", 12}});
  log.Info("plain");
  nlohmann::json first = nlohmann::json::parse(capture.lines()[0]);
  EXPECT_EQ(first["controller"], "td");
  EXPECT_EQ(first["key"], "ns/a");
  EXPECT_EQ(first["ms"], 12);
  nlohmann::json second = nlohmann::json::parse(capture.lines()[1]);
  EXPECT_FALSE(second.contains("controller"));
}

TEST(LoggingTest, EscapesAndSurvivesInvalidUtf8) {
  CapturingSink capture;
  Logger log(capture.sink(), LogLevel::kInfo, nullptr);
  log.Info("quote \" newline \n tab \t", {{"bad", std::string("\xff\xfe")}});
  const std::string line = capture.lines().at(0);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  nlohmann::json parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["msg"], "quote \" newline \n tab \t");
  EXPECT_TRUE(parsed["bad"].is_string());
}

TEST(LoggingTest, LinesFromManyThreadsStayWhole) {
  std::string out;
  // A sink that is not thread-safe by itself: the logger serialises it.
  Logger log([&](absl::string_view line) { absl::StrAppend(&out, line, "\n"); },
             LogLevel::kInfo, nullptr);
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        log.Info("m", {{"thread", t}, {"i", i}, {"pad", std::string(50, 'x')}});
      }
    });
  }
  for (auto& thread : threads) thread.join();
  int lines = 0;
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    nlohmann::json parsed =
        nlohmann::json::parse(out.substr(start, end - start), nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << out.substr(start, end - start);
    ++lines;
    start = end + 1;
  }
  EXPECT_EQ(lines, 8 * 200);
}

TEST(LoggingTest, ParseLogLevel) {
  EXPECT_EQ(*ParseLogLevel("DEBUG"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("warn"), LogLevel::kWarning);
  EXPECT_EQ(*ParseLogLevel("error"), LogLevel::kError);
  absl::StatusOr<LogLevel> bad = ParseLogLevel("verbose");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              StartsWith("unknown log level"));
}

}  // namespace
}  // namespace zenlead::runtime
