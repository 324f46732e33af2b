#include "operator/http_server.h"

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "api/client/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace zenlead::op {
namespace {

using ::testing::HasSubstr;

TEST(ParseBindAddressTest, AcceptsTheUsualForms) {
  absl::StatusOr<BindAddress> any = ParseBindAddress(":8080");
  ASSERT_TRUE(any.ok()) << any.status();
  EXPECT_EQ(any->host, "");
  EXPECT_EQ(any->port, 8080);
  EXPECT_EQ(FormatBindAddress(*any), "0.0.0.0:8080");

  absl::StatusOr<BindAddress> loopback = ParseBindAddress("127.0.0.1:0");
  ASSERT_TRUE(loopback.ok());
  EXPECT_EQ(loopback->host, "127.0.0.1");
  EXPECT_EQ(loopback->port, 0);
  EXPECT_EQ(FormatBindAddress(*loopback), "127.0.0.1:0");

  absl::StatusOr<BindAddress> v6 = ParseBindAddress("[::1]:9090");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9090);
  EXPECT_EQ(FormatBindAddress(*v6), "[::1]:9090");
}

TEST(ParseBindAddressTest, RejectsWithAMessageNamingTheValue) {
  for (const char* bad : {"8080", "host:", ":http", ":65536", "::1:80",
                          "[::1]80", "[]:80", ":-1", ""}) {
    absl::StatusOr<BindAddress> got = ParseBindAddress(bad);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(got.status().message(),
                HasSubstr(std::string("\"") + bad + "\""));
  }
}

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(bool metrics, bool probes) {
    HttpServerOptions options;
    options.address = "127.0.0.1:0";
    options.metrics = metrics ? &registry_ : nullptr;
    options.probes = probes;
    options.ready = [this] { return ready_.load(); };
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_connection_timeout(10);
    client_->set_read_timeout(10);
  }

  client::Registry registry_;
  std::atomic<bool> ready_{false};
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpServerTest, ServesMetricsInPrometheusTextFormat) {
  absl::StatusOr<client::GaugeFamily*> gauge =
      registry_.AddGauge("zen_lead_test_value", "A test gauge.", {"pool"});
  ASSERT_TRUE(gauge.ok());
  (*gauge)->WithLabels({"db"})->Set(3);
  StartServer(/*metrics=*/true, /*probes=*/false);

  httplib::Result res = client_->Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"),
            std::string(client::kPrometheusContentType));
  EXPECT_THAT(res->body, HasSubstr("# TYPE zen_lead_test_value gauge"));
  EXPECT_THAT(res->body, HasSubstr("zen_lead_test_value{pool=\"db\"} 3\n"));

  // Live values, not a snapshot taken at start.
  (*gauge)->WithLabels({"db"})->Set(4);
  res = client_->Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_THAT(res->body, HasSubstr("zen_lead_test_value{pool=\"db\"} 4\n"));

  // Probes were not asked for.
  res = client_->Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST_F(HttpServerTest, ProbesFollowTheReadyFunction) {
  StartServer(/*metrics=*/false, /*probes=*/true);
  httplib::Result res = client_->Get("/healthz");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "ok\n");

  res = client_->Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_THAT(res->body, HasSubstr("not ready"));

  ready_ = true;
  res = client_->Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);

  res = client_->Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  res = client_->Get("/nope");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_THAT(res->body, HasSubstr("/nope"));
}

TEST_F(HttpServerTest, APortInUseIsAnErrorAtStart) {
  StartServer(/*metrics=*/true, /*probes=*/true);
  const std::string address = "127.0.0.1:" + std::to_string(server_->port());
  HttpServerOptions options;
  options.address = address;
  options.probes = true;
  absl::StatusOr<std::unique_ptr<HttpServer>> second =
      HttpServer::Start(std::move(options));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr(address));
}

TEST_F(HttpServerTest, StopClosesTheListenerAndIsIdempotent) {
  StartServer(/*metrics=*/false, /*probes=*/true);
  ASSERT_TRUE(client_->Get("/healthz"));
  server_->Stop();
  server_->Stop();
  httplib::Client fresh("127.0.0.1", server_->port());
  fresh.set_connection_timeout(5);
  EXPECT_FALSE(fresh.Get("/healthz"));
}

TEST(HttpServerStopTest, StopRightAfterStartDoesNotHang) {
  // Exercises the window before the accept loop runs.
  for (int i = 0; i < 20; ++i) {
    HttpServerOptions options;
    options.address = "127.0.0.1:0";
    options.probes = true;
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    (*server)->Stop();
  }
}

}  // namespace
}  // namespace zenlead::op
