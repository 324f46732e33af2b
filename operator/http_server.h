// The operator's plain-HTTP endpoints: Prometheus /metrics, and the kubelet
// probes /healthz (the process is alive and its health checks pass) and
// /readyz (the informer caches have synced), on addresses given by flags such
// as --metrics-bind-address="127.0.0.1:8080" and
// --health-probe-bind-address=":8081".
//
//   runtime::Registry metrics;
//   HttpServerOptions options;
//   options.address = ":8081";             // or "127.0.0.1:0" in tests
//   options.metrics = &metrics;            // serve /metrics
//   options.probes = true;                 // serve /healthz and /readyz
//   options.ready = [&] { return controller->HasSynced(); };
//   options.health_checks.push_back(
//       {"controllers", [&] { return controller->Healthy(); }});
//   absl::StatusOr<std::unique_ptr<HttpServer>> server =
//       HttpServer::Start(std::move(options));
//   if (!server.ok()) return server.status();  // e.g. address in use
//   int port = (*server)->port();              // the bound port
//   (*server)->Stop();                         // also done by the destructor
//
// Served by cpp-httplib (//third_party:httplib), but a connection only
// reaches one of the few worker threads once its request headers have
// arrived: a single thread waits for headers (and for the next request on a
// kept-alive connection) on every connection at once, with a deadline each.
// So clients that connect and stall cannot starve the kubelet's probes, as
// four such connections did when each held one of four threads.
#ifndef ZEN_LEAD_OPERATOR_HTTP_SERVER_H_
#define ZEN_LEAD_OPERATOR_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "api/runtime/metrics.h"

namespace zenlead::op {

class ConnectionServer;  // http_server.cc

// A listening address: host ("" for every interface) and port (0 picks a
// free one).
struct BindAddress {
  std::string host;
  int port = 0;
};

// Parses "host:port", ":port" (every interface) and "[ipv6]:port". Errors
// name the flag value and the expected form.
absl::StatusOr<BindAddress> ParseBindAddress(absl::string_view address);
// "host:port" with IPv6 hosts bracketed and "" as "0.0.0.0" (gRPC's form).
std::string FormatBindAddress(const BindAddress& address);

// A named liveness check for /healthz: OK while healthy, else an error whose
// message says what is wrong (e.g. "worker 2 has not finished a reconcile
// for 5m"). Called on a server thread for every probe: it must be
// thread-safe and must not block.
struct HealthCheck {
  std::string name;
  std::function<absl::Status()> check;
};

struct HttpServerOptions {
  // See ParseBindAddress.
  std::string address;
  // Serves GET /metrics (text format 0.0.4) when set; must outlive the server.
  const runtime::Registry* metrics = nullptr;
  // Serves GET /healthz and GET /readyz.
  //  /healthz: 200 "ok" when every health check passes; else 500 listing the
  //    failing checks ("[-]name failed: message") and "healthz check failed".
  //    With ?verbose every check is listed ("[+]name ok"), as
  //    controller-runtime's healthz does.
  //  /readyz: 200 "ok" when `ready` returns true, else 503.
  bool probes = false;
  // Empty: always ready. Called on a server thread: must be thread-safe.
  std::function<bool()> ready;
  // Run in this order by /healthz; none: always healthy while serving.
  std::vector<HealthCheck> health_checks;
  // Worker threads running requests whose headers have arrived. Clients
  // still sending headers, or idle between requests, hold none.
  int threads = 4;
  // A client must send a request's headers within this time of connecting
  // (or of the first byte of its next request on a kept-alive connection);
  // a slower one is disconnected. The kubelet and Prometheus send theirs at
  // once.
  absl::Duration header_timeout = absl::Seconds(2);
  // How long a kept-alive connection may stay idle between requests.
  absl::Duration idle_timeout = absl::Seconds(5);
  // Connections waiting for headers or idle, at most; beyond it the one
  // that has waited longest is closed, so a flood of stalled connections
  // cannot keep a new probe out.
  int max_waiting_connections = 256;
};

class HttpServer {
 public:
  // Binds (so a port in use is reported here, not later) and starts serving
  // on a background thread.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const HttpServerOptions& options);
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (the real one when the address asked for port 0).
  int port() const { return port_; }

  // Stops accepting, ends open connections and joins the threads.
  // Idempotent; thread-safe.
  void Stop();

 private:
  HttpServer(std::unique_ptr<ConnectionServer> server, int port);

  std::unique_ptr<ConnectionServer> server_;
  const int port_;
};

}  // namespace zenlead::op

#endif  // ZEN_LEAD_OPERATOR_HTTP_SERVER_H_
