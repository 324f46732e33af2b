#include "e2e/bench/webhook_load.h"

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "api/types/pod.h"
#include "gtest/gtest.h"
#include "webhook/server.h"
#include "webhook/testing/test_certs.h"

namespace zenlead::bench {
namespace {

// Allows every pod; stalls `stall` on the review whose uid is stalled_uid.
class SlowOnce : public webhook::AdmissionHandler {
 public:
  SlowOnce(std::string stalled_uid, absl::Duration stall)
      : stalled_uid_(std::move(stalled_uid)), stall_(stall) {}
  webhook::Decision Review(const k8s::AdmissionRequest& request,
                           absl::Time) override {
    // A slow server, the thing measured, not a wait for another thread.
    if (request.uid == stalled_uid_) absl::SleepFor(stall_);
    return webhook::Decision::Allow("OutsidePool");
  }

 private:
  const std::string stalled_uid_;
  const absl::Duration stall_;
};

class WebhookLoadTest : public ::testing::Test {
 protected:
  void Serve(webhook::AdmissionHandler* handler) {
    const webhook::testing::TestCertificate cert =
        webhook::testing::MakeTestCertificate("load");
    // The certificate is self-signed: it is its own CA.
    ca_file_ = std::string(getenv("TEST_TMPDIR")) + "/ca.crt";
    std::ofstream(ca_file_) << cert.cert_pem;
    webhook::ServerOptions options;
    options.host = "127.0.0.1";
    options.cert_pem = cert.cert_pem;
    options.key_pem = cert.key_pem;
    options.routes.push_back(
        {webhook::kPodsPath, webhook::PodsRoute(), handler});
    absl::StatusOr<std::unique_ptr<webhook::Server>> server =
        webhook::Server::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  LoadOptions Load(double rate, absl::Duration duration, int connections) {
    k8s::Pod pod;
    pod.metadata.emplace().generate_name = "web-";
    LoadOptions load;
    load.port = server_->port();
    load.ca_file = ca_file_;
    load.path = webhook::kPodsPath;
    load.body = ReviewTemplate(webhook::PodsRoute(), k8s::PodClient::Resource(),
                               k8s::AdmissionRequest::kOperationCREATE, "shop",
                               "", pod.ToJson());
    load.rate = rate;
    load.duration = duration;
    load.connections = connections;
    return load;
  }

  std::string ca_file_;
  std::unique_ptr<webhook::Server> server_;
};

TEST_F(WebhookLoadTest, EveryScheduledRequestIsAnsweredWithItsOwnUid) {
  SlowOnce handler("none", absl::ZeroDuration());
  Serve(&handler);
  absl::StatusOr<LoadRun> run = RunOpenLoop(Load(2000, absl::Seconds(0.25), 4));
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->samples.size(), 500u);
  for (size_t i = 0; i < run->samples.size(); ++i) {
    const Sample& s = run->samples[i];
    EXPECT_TRUE(CheckAnswer(s, static_cast<int64_t>(i), true).ok())
        << i << ": " << CheckAnswer(s, static_cast<int64_t>(i), true);
    // Scheduled every 0.5 ms from the start, whatever the server did.
    EXPECT_NEAR(s.scheduled_ms, 0.5 * static_cast<double>(i), 1e-3);
    EXPECT_GE(s.latency_ms, s.send_lag_ms);
  }
  // Someone else's answer or a denial is an error, not a success.
  EXPECT_FALSE(CheckAnswer(run->samples[1], 0, true).ok());
  EXPECT_FALSE(CheckAnswer(run->samples[0], 0, false).ok());
  EXPECT_GE(run->elapsed, absl::Milliseconds(249));
}

TEST_F(WebhookLoadTest, RequestsDelayedByAStallCountFromTheirScheduledTime) {
  // One connection, a request every millisecond, request 100 held 50 ms:
  // requests 101..149 are due while it is held and cannot leave before its
  // answer, so request j waits at least 50 - (j - 100) ms. Timed from the
  // actual send (closed loop), they would look fast.
  SlowOnce handler(RequestUid(100), absl::Milliseconds(50));
  Serve(&handler);
  absl::StatusOr<LoadRun> run = RunOpenLoop(Load(1000, absl::Seconds(0.3), 1));
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->samples.size(), 300u);
  EXPECT_GE(run->samples[100].latency_ms, 50);
  for (int j = 101; j < 140; ++j) {
    const Sample& s = run->samples[static_cast<size_t>(j)];
    EXPECT_TRUE(CheckAnswer(s, j, true).ok()) << j;
    EXPECT_GE(s.latency_ms, 50.0 - (j - 100)) << j;
    EXPECT_GE(s.send_lag_ms, 50.0 - (j - 100) - 1) << j;
  }
}

TEST_F(WebhookLoadTest, OptionsThatCannotRunAreRefused) {
  LoadOptions load;
  EXPECT_TRUE(absl::IsInvalidArgument(RunOpenLoop(load).status()));
  load.port = 1;
  load.rate = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(RunOpenLoop(load).status()));
  load.rate = 10;
  load.connections = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(RunOpenLoop(load).status()));
}

TEST_F(WebhookLoadTest, AServerThatIsNotThereIsUnavailable) {
  SlowOnce handler("none", absl::ZeroDuration());
  Serve(&handler);
  LoadOptions load = Load(10, absl::Seconds(0.1), 1);
  server_->Stop();
  absl::Status s = RunOpenLoop(load).status();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
}

TEST(SummarizeTest, QuantilesAreSortedSamplesAtRoundedRanks) {
  std::vector<double> v;
  for (int i = 100; i >= 0; --i) v.push_back(i);  // 0..100, reversed
  const LatencySummary s = Summarize(v);
  EXPECT_EQ(s.n, 101u);
  EXPECT_EQ(s.p50, 50);
  EXPECT_EQ(s.p90, 90);
  EXPECT_EQ(s.p99, 99);
  EXPECT_EQ(s.p999, 100);
  EXPECT_EQ(s.max, 100);
  EXPECT_DOUBLE_EQ(s.mean, 50);
  EXPECT_TRUE(absl::StrContains(Format(s), "p99=99.000ms"));
  EXPECT_EQ(Summarize({}).n, 0u);
}

TEST(ReviewTemplateTest, EveryTokenBecomesTheRequestsId) {
  EXPECT_EQ(RequestId(255), "0000000000ff");
  EXPECT_EQ(RequestId(0).size(), kIdTokenSize);
  const std::string body = ReviewTemplate(
      webhook::PodsRoute(), k8s::PodClient::Resource(),
      k8s::AdmissionRequest::kOperationCREATE, "shop",
      std::string("p-") + std::string(kIdToken), nlohmann::json::object());
  absl::StatusOr<k8s::AdmissionReview> review = webhook::DecodeReview(body);
  ASSERT_TRUE(review.ok()) << review.status();
  EXPECT_TRUE(absl::EndsWith(review->request->uid, kIdToken));
  EXPECT_EQ(review->request->name, "p-" + std::string(kIdToken));
}

}  // namespace
}  // namespace zenlead::bench
