#include "operator/http_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/net/testing/connect.h"
#include "api/runtime/metrics.h"
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
  void StartServer(bool metrics, bool probes,
                   const std::function<void(HttpServerOptions&)>& tweak = {}) {
    HttpServerOptions options;
    options.address = "127.0.0.1:0";
    options.metrics = metrics ? &registry_ : nullptr;
    options.probes = probes;
    options.ready = [this] { return ready_.load(); };
    if (tweak) tweak(options);
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_connection_timeout(10);
    client_->set_read_timeout(10);
  }

  runtime::Registry registry_;
  std::atomic<bool> ready_{false};
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpServerTest, ServesMetricsInPrometheusTextFormat) {
  absl::StatusOr<runtime::GaugeFamily*> gauge =
      registry_.AddGauge("zen_lead_test_value", "A test gauge.", {"pool"});
  ASSERT_TRUE(gauge.ok());
  (*gauge)->WithLabels({"db"})->Set(3);
  StartServer(/*metrics=*/true, /*probes=*/false);

  httplib::Result res = client_->Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"),
            std::string(runtime::kPrometheusContentType));
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
      HttpServer::Start(options);
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

// GET /healthz on a fresh connection with a kubelet's default probe timeout
// (1 s to connect, 1 s to answer).
httplib::Result Probe(int port) {
  httplib::Client probe("127.0.0.1", port);
  probe.set_connection_timeout(1);
  probe.set_read_timeout(1);
  return probe.Get("/healthz");
}

// Reads from `fd` until the server closes it (true) or `deadline` passes,
// appending what arrived to `received`. While waiting, sends `trickle` one
// byte every 50 ms, as a slow client would.
bool ClosedByServer(int fd, absl::Time deadline, std::string* received,
                    const std::string& trickle = "") {
  size_t sent = 0;
  while (absl::Now() < deadline) {
    if (sent < trickle.size()) {
      if (send(fd, trickle.data() + sent, 1, MSG_NOSIGNAL) != 1) return true;
      ++sent;
    }
    pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return true;
    received->append(buf, static_cast<size_t>(n));
  }
  return false;
}

TEST_F(HttpServerTest, ProbesAnswerWhileIdleConnectionsHang) {
  StartServer(/*metrics=*/false, /*probes=*/true);
  // Far more slow clients than the server has threads: half stop inside the
  // request line, half inside the headers, and a few send nothing at all.
  std::vector<int> hogs;
  for (int i = 0; i < 20; ++i) {
    int fd = net::testing::ConnectLoopback(server_->port());
    ASSERT_GE(fd, 0) << "connection " << i;
    hogs.push_back(fd);
    const std::string partial = i % 5 == 4 ? ""
                                : i % 2 == 0
                                    ? "GET /heal"
                                    : "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    ASSERT_EQ(send(fd, partial.data(), partial.size(), 0),
              static_cast<ssize_t>(partial.size()));
  }
  for (int i = 0; i < 7; ++i) {
    httplib::Result res = Probe(server_->port());
    ASSERT_TRUE(res) << "probe " << i << ": "
                     << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200);
  }
  server_->Stop();  // does not wait for the stalled clients
  for (int fd : hogs) close(fd);
}

TEST_F(HttpServerTest, AFloodOfStalledConnectionsLosesItsOldestNotTheProbe) {
  StartServer(/*metrics=*/false, /*probes=*/true, [](HttpServerOptions& o) {
    o.max_waiting_connections = 4;
    o.header_timeout = absl::Minutes(1);  // only the limit closes them
  });
  std::vector<int> hogs;
  for (int i = 0; i < 8; ++i) {
    int fd = net::testing::ConnectLoopback(server_->port());
    ASSERT_GE(fd, 0);
    hogs.push_back(fd);
  }
  httplib::Result res = Probe(server_->port());
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  std::string received;
  EXPECT_TRUE(
      ClosedByServer(hogs[0], absl::Now() + absl::Seconds(10), &received));
  for (int fd : hogs) close(fd);
}

TEST_F(HttpServerTest, HeadersTrickledSlowerThanTheHeaderTimeoutAreCutOff) {
  StartServer(/*metrics=*/false, /*probes=*/true, [](HttpServerOptions& o) {
    o.header_timeout = absl::Milliseconds(300);
  });
  int fd = net::testing::ConnectLoopback(server_->port());
  ASSERT_GE(fd, 0);
  // A byte every 50 ms for 10 s: each read is quick, the request never ends.
  std::string trickle = "GET /healthz HTTP/1.1\r\n";
  while (trickle.size() < 200) trickle += "X-Slow: yes\r\n";
  std::string received;
  const absl::Time start = absl::Now();
  EXPECT_TRUE(ClosedByServer(fd, start + absl::Seconds(10), &received, trickle))
      << "still open after " << absl::Now() - start;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(received, "");
  close(fd);
}

TEST_F(HttpServerTest, KeptAliveConnectionsServePipelinedRequestsThenIdleOut) {
  StartServer(/*metrics=*/false, /*probes=*/true, [](HttpServerOptions& o) {
    o.idle_timeout = absl::Milliseconds(200);
  });
  int fd = net::testing::ConnectLoopback(server_->port());
  ASSERT_GE(fd, 0);
  const std::string two =
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(fd, two.data(), two.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(two.size()));
  std::string received;
  const absl::Time start = absl::Now();
  EXPECT_TRUE(ClosedByServer(fd, start + absl::Seconds(3), &received));
  EXPECT_THAT(received, HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_THAT(received, HasSubstr("HTTP/1.1 503 Service Unavailable"));
  close(fd);
}

TEST_F(HttpServerTest, HealthzListsFailingChecksWithTheirMessages) {
  std::atomic<bool> workers_ok{false};
  StartServer(/*metrics=*/false, /*probes=*/true, [&](HttpServerOptions& o) {
    o.health_checks.push_back({"informers", [] { return absl::OkStatus(); }});
    o.health_checks.push_back(
        {"workers", [&] {
           return workers_ok ? absl::OkStatus()
                             : absl::UnavailableError("worker 1 stuck\nfor 5m");
         }});
  });
  httplib::Result res = client_->Get("/healthz");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(res->body,
            "[-]workers failed: worker 1 stuck for 5m\n"
            "healthz check failed\n");

  res = client_->Get("/healthz?verbose");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(res->body,
            "[+]informers ok\n"
            "[-]workers failed: worker 1 stuck for 5m\n"
            "healthz check failed\n");

  workers_ok = true;
  res = client_->Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "ok\n");
  res = client_->Get("/healthz?verbose=1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body,
            "[+]informers ok\n[+]workers ok\nhealthz check passed\n");
}

TEST(HttpServerStopTest, StopRightAfterStartDoesNotHang) {
  // Exercises the window before the accept loop runs.
  for (int i = 0; i < 20; ++i) {
    HttpServerOptions options;
    options.address = "127.0.0.1:0";
    options.probes = true;
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    (*server)->Stop();
  }
}

}  // namespace
}  // namespace zenlead::op
