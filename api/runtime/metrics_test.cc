#include "api/runtime/metrics.h"

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::runtime {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, RendersCountersAndGaugesInTextFormat) {
  Registry registry;
  absl::StatusOr<CounterFamily*> requests = registry.AddCounter(
      "api_requests_total", "API requests.", {"verb", "code"});
  ASSERT_TRUE(requests.ok()) << requests.status();
  (*requests)->WithLabels({"get", "200"})->Inc();
  (*requests)->WithLabels({"get", "200"})->Inc(2);
  (*requests)->WithLabels({"create", "409"})->Inc();
  absl::StatusOr<GaugeFamily*> pools =
      registry.AddGauge("pools", "Pools.\nSecond \\ line.", {});
  ASSERT_TRUE(pools.ok());
  (*pools)->WithLabels({})->Set(3);
  (*pools)->WithLabels({})->Dec();
  EXPECT_EQ(registry.Render(),
            "# HELP api_requests_total API requests.\n"
            "# TYPE api_requests_total counter\n"
            "api_requests_total{verb=\"create\",code=\"409\"} 1\n"
            "api_requests_total{verb=\"get\",code=\"200\"} 3\n"
            "# HELP pools Pools.\\nSecond \\\\ line.\n"
            "# TYPE pools gauge\n"
            "pools 2\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInf) {
  Registry registry;
  absl::StatusOr<HistogramFamily*> latency = registry.AddHistogram(
      "latency_seconds", "Latency.", {"verb"}, {0.1, 0.5, 1});
  ASSERT_TRUE(latency.ok());
  Histogram* h = (*latency)->WithLabels({"get"});
  h->Observe(0.1);  // le is inclusive
  h->Observe(0.3);
  h->ObserveDuration(absl::Milliseconds(700));
  h->Observe(4);
  EXPECT_EQ(registry.Render(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{verb=\"get\",le=\"0.1\"} 1\n"
            "latency_seconds_bucket{verb=\"get\",le=\"0.5\"} 2\n"
            "latency_seconds_bucket{verb=\"get\",le=\"1\"} 3\n"
            "latency_seconds_bucket{verb=\"get\",le=\"+Inf\"} 4\n"
            "latency_seconds_sum{verb=\"get\"} 5.1\n"
            "latency_seconds_count{verb=\"get\"} 4\n");
}

TEST(MetricsTest, EscapesLabelValues) {
  Registry registry;
  CounterFamily* c = *registry.AddCounter("c", "h", {"l"});
  c->WithLabels({"a\"b\\c\nd"})->Inc();
  EXPECT_THAT(registry.Render(), HasSubstr("c{l=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

TEST(MetricsTest, RejectsBadNamesAndDuplicates) {
  Registry registry;
  EXPECT_EQ(registry.AddCounter("1abc", "h", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("a-b", "h", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("ok", "h", {"__reserved"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("ok", "h", {"a:b"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("ok", "h", {"x", "x"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h", "h", {"le"}, {1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h", "h", {}, {1, 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(registry.AddCounter("ns:ok_total", "h", {"a_1"}).ok());
  absl::StatusOr<GaugeFamily*> dup = registry.AddGauge("ns:ok_total", "h", {});
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(dup.status().message()), HasSubstr("ns:ok_total"));
}

TEST(MetricsTest, WrongLabelArityIsNotExported) {
  Registry registry;
  CounterFamily* c = *registry.AddCounter("c_total", "h", {"a"});
  Counter* detached = c->WithLabels({"x", "y"});
  ASSERT_NE(detached, nullptr);
  detached->Inc();
  EXPECT_EQ(registry.Render(), "# HELP c_total h\n# TYPE c_total counter\n");
}

TEST(MetricsTest, CountersOnlyGoUp) {
  Counter c;
  c.Inc(2);
  c.Inc(-1);
  EXPECT_EQ(c.Value(), 2);
}

TEST(MetricsTest, SampleValueFormatting) {
  EXPECT_EQ(FormatSampleValue(0), "0");
  EXPECT_EQ(FormatSampleValue(1234567), "1234567");
  EXPECT_EQ(FormatSampleValue(0.1), "0.1");
  EXPECT_EQ(FormatSampleValue(1e21), "1e+21");
  EXPECT_EQ(FormatSampleValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatSampleValue(-std::numeric_limits<double>::infinity()),
            "-Inf");
  EXPECT_EQ(FormatSampleValue(std::nan("")), "NaN");
  // Large counters keep every digit.
  EXPECT_EQ(FormatSampleValue(123456789012.0), "123456789012");
}

// Whole values with trailing zeros used to print as "3e+01" and "1e+06"
// (the shortest %g that reads back).
TEST(MetricsTest, WholeValuesPrintAsIntegers) {
  EXPECT_EQ(FormatSampleValue(30), "30");
  EXPECT_EQ(FormatSampleValue(100), "100");
  EXPECT_EQ(FormatSampleValue(1000000), "1000000");
  EXPECT_EQ(FormatSampleValue(-20), "-20");
  EXPECT_EQ(FormatSampleValue(-0.0), "0");
  EXPECT_EQ(FormatSampleValue(9007199254740992.0), "9007199254740992");
  // Other values keep round-trip precision, shortest first.
  EXPECT_EQ(FormatSampleValue(2.5), "2.5");
  EXPECT_EQ(FormatSampleValue(1e-7), "1e-07");
  EXPECT_EQ(FormatSampleValue(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(std::strtod(FormatSampleValue(1.0 / 3).c_str(), nullptr), 1.0 / 3);

  Registry registry;
  (*registry.AddCounter("c_total", "h", {}))->WithLabels({})->Inc(30);
  (*registry.AddGauge("g", "h", {}))->WithLabels({})->Set(1e6);
  HistogramFamily* h = *registry.AddHistogram("h_seconds", "h", {}, {10, 30});
  for (int i = 0; i < 100; ++i) h->WithLabels({})->Observe(20);
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("c_total 30\n"));
  EXPECT_THAT(text, HasSubstr("g 1000000\n"));
  EXPECT_THAT(text, HasSubstr("h_seconds_bucket{le=\"30\"} 100\n"));
  EXPECT_THAT(text, HasSubstr("h_seconds_sum 2000\n"));
  EXPECT_THAT(text, HasSubstr("h_seconds_count 100\n"));
}

TEST(MetricsTest, ConcurrentIncrementsAreNotLost) {
  Registry registry;
  CounterFamily* c = *registry.AddCounter("c_total", "h", {"t"});
  HistogramFamily* h = *registry.AddHistogram("h_seconds", "h", {}, {1});
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c->WithLabels({"same"})->Inc();
        h->WithLabels({})->Observe(0.5);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(c->WithLabels({"same"})->Value(), 40000);
  EXPECT_EQ(h->WithLabels({})->Read().count, 40000u);
}

TEST(MetricsTest, ExponentialBuckets) {
  EXPECT_EQ(ExponentialBuckets(0.5, 2, 4), (std::vector<double>{0.5, 1, 2, 4}));
}

}  // namespace
}  // namespace zenlead::runtime
