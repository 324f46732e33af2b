// The operator's plain-HTTP endpoints: Prometheus /metrics, and the kubelet
// probes /healthz (the process is alive and serving) and /readyz (the
// informer caches have synced), on addresses given by flags such as
// --metrics-bind-address=":8080" and --health-probe-bind-address=":8081".
//
//   client::Registry metrics;
//   HttpServerOptions options;
//   options.address = ":8081";             // or "127.0.0.1:0" in tests
//   options.metrics = &metrics;            // serve /metrics
//   options.probes = true;                 // serve /healthz and /readyz
//   options.ready = [&] { return controller->HasSynced(); };
//   absl::StatusOr<std::unique_ptr<HttpServer>> server =
//       HttpServer::Start(std::move(options));
//   if (!server.ok()) return server.status();  // e.g. address in use
//   int port = (*server)->port();              // the bound port
//   (*server)->Stop();                         // also done by the destructor
//
// Served by cpp-httplib (//third_party:httplib) on a small thread pool.
#ifndef ZEN_LEAD_OPERATOR_HTTP_SERVER_H_
#define ZEN_LEAD_OPERATOR_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "api/client/metrics.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace zenlead::op {

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

struct HttpServerOptions {
  // See ParseBindAddress.
  std::string address;
  // Serves GET /metrics (text format 0.0.4) when set; must outlive the server.
  const client::Registry* metrics = nullptr;
  // Serves GET /healthz (always 200 "ok" while the server runs) and
  // GET /readyz (200 "ok" when `ready` returns true, else 503).
  bool probes = false;
  // Empty: always ready. Called on a server thread: must be thread-safe.
  std::function<bool()> ready;
  // Worker threads serving connections.
  int threads = 4;
};

class HttpServer {
 public:
  // Binds (so a port in use is reported here, not later) and starts serving
  // on a background thread.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      HttpServerOptions options);
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (the real one when the address asked for port 0).
  int port() const { return port_; }

  // Stops accepting, ends open connections and joins the threads.
  // Idempotent; thread-safe.
  void Stop() ABSL_LOCKS_EXCLUDED(stop_mu_);

 private:
  HttpServer(HttpServerOptions options, std::unique_ptr<httplib::Server> server,
             int port);
  void Serve();

  const HttpServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  const int port_;
  absl::Notification served_;  // listen_after_bind returned
  absl::Mutex stop_mu_;
  std::thread thread_ ABSL_GUARDED_BY(stop_mu_);
};

}  // namespace zenlead::op

#endif  // ZEN_LEAD_OPERATOR_HTTP_SERVER_H_
