#include "api/runtime/runtime_metrics.h"

#include <string>
#include <utility>

#include "api/client/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::runtime {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RuntimeMetricsTest, RequestObserverCountsAndTimesAttempts) {
  Registry registry;
  absl::StatusOr<client::RequestObserver> observer =
      NewRequestMetrics(&registry);
  ASSERT_TRUE(observer.ok()) << observer.status();
  client::RequestRecord get;
  get.verb = "get";
  get.method = "GET";
  get.resource = "leases.coordination.k8s.io";
  get.http_code = 200;
  get.latency = absl::Milliseconds(20);
  (*observer)(get);
  get.http_code = 404;
  (*observer)(get);
  client::RequestRecord refused = get;
  refused.http_code = 0;
  refused.code = absl::StatusCode::kUnavailable;
  (*observer)(refused);
  client::RequestRecord watch;
  watch.verb = "watch";
  watch.resource = "pods";
  watch.http_code = 200;
  watch.latency = absl::Minutes(5);
  (*observer)(watch);

  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("zen_lead_api_requests_total{verb=\"get\","
                              "resource=\"leases.coordination.k8s.io\","
                              "code=\"200\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("zen_lead_api_request_errors_total{verb=\"get\","
                              "resource=\"leases.coordination.k8s.io\","
                              "code=\"404\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("zen_lead_api_request_errors_total{verb=\"get\","
                              "resource=\"leases.coordination.k8s.io\","
                              "code=\"none\"} 1\n"));
  EXPECT_THAT(text,
              Not(HasSubstr("zen_lead_api_request_errors_total{verb=\"get\","
                            "resource=\"leases.coordination.k8s.io\","
                            "code=\"200\"}")));
  EXPECT_THAT(text, HasSubstr("zen_lead_api_request_duration_seconds_bucket{"
                              "verb=\"get\",resource=\"leases.coordination."
                              "k8s.io\",le=\"0.025\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("zen_lead_api_requests_total{verb=\"watch\","
                              "resource=\"pods\",code=\"200\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("duration_seconds_count{verb=\"watch\"")));
  // A second registration in the same registry is refused, not duplicated.
  EXPECT_EQ(NewRequestMetrics(&registry).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST(RuntimeMetricsTest, WorkQueueMetricsFollowTheQueue) {
  Registry registry;
  absl::StatusOr<std::unique_ptr<WorkQueueMetricFamilies>> families =
      WorkQueueMetricFamilies::Create(&registry);
  ASSERT_TRUE(families.ok()) << families.status();
  std::unique_ptr<WorkQueueMetrics> metrics = (*families)->ForQueue("td");
  client::FakeClock clock;
  WorkQueueOptions options;
  options.name = "td";
  options.clock = &clock;
  options.metrics = metrics.get();
  WorkQueue queue(std::move(options));
  queue.Add("a");
  queue.Add("b");
  queue.Add("a");
  clock.Advance(absl::Milliseconds(30));
  ASSERT_EQ(queue.Get(), "a");
  clock.Advance(absl::Seconds(2));
  queue.Done("a");
  queue.AddRateLimited("c");

  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("zen_lead_workqueue_depth{name=\"td\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("zen_lead_workqueue_adds_total{name=\"td\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("zen_lead_workqueue_retries_total{name=\"td\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("zen_lead_workqueue_queue_duration_seconds_bucket{"
                        "name=\"td\",le=\"0.05\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("zen_lead_workqueue_queue_duration_seconds_bucket{"
                        "name=\"td\",le=\"0.025\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("zen_lead_workqueue_work_duration_seconds_sum{"
                              "name=\"td\"} 2\n"));
}

}  // namespace
}  // namespace zenlead::runtime
