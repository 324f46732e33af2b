// The admission webhook's HTTPS server: AdmissionReview (admission.k8s.io/v1)
// over TLS 1.2 or 1.3 on one port, one route per webhook, each answered by an
// AdmissionHandler. The certificate can be replaced while serving; new
// handshakes use the new one, open connections keep theirs.
//
//   class AllowAll : public AdmissionHandler {
//     Decision Review(const k8s::AdmissionRequest&, absl::Time) override {
//       return Decision::Allow("OutsidePool");
//     }
//   };
//   AllowAll pods;
//   runtime::Registry metrics;
//   ServerOptions options;
//   options.host = "127.0.0.1";  // "0.0.0.0" in the pod
//   options.port = 0;            // 9443 in the pod; 0 picks a free port
//   options.cert_pem = cert;     // leaf first, then intermediates
//   options.key_pem = key;
//   options.metrics = &metrics;
//   options.routes.push_back({kPodsPath, PodsRoute(), &pods});
//   absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
//   if (!server.ok()) return server.status();  // bad certificate, port in use
//   int port = (*server)->port();
//   absl::Status swapped = (*server)->SetCertificate(new_cert, new_key);
//   (*server)->Stop();  // also done by the destructor
//
// Compiled in server_test.cc.
//
// Connections never hold a worker while the network is slow: one thread
// does every TLS handshake and collects every request (headers and body) on
// all connections at once, each with a deadline; a bounded pool of workers
// runs only complete requests, and a handler runs on its own bounded pool
// with a deadline, so a handler that hangs costs one handler thread and its
// request an error answer, not the server. Why this shape and not plain
// cpp-httplib SSLServer or Boost.Beast: docs/webhook.md.
#ifndef ZEN_LEAD_WEBHOOK_SERVER_H_
#define ZEN_LEAD_WEBHOOK_SERVER_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/runtime/metrics.h"
#include "api/types/admissionreview.h"
#include "webhook/admission_review.h"

namespace zenlead::webhook {

// The paths the ValidatingWebhookConfiguration names.
inline constexpr char kPodsPath[] = "/validate/pods";
inline constexpr char kLeaderPoliciesPath[] = "/validate/leaderpolicies";

// Decides the requests of one route, possibly several at once: it must be
// thread-safe. An exception it throws is caught and answered as a
// HandlerError denial.
class AdmissionHandler {
 public:
  virtual ~AdmissionHandler() = default;
  // The answer for a request that memory alone decides (a pod of no pool,
  // from the cache), or nullopt to leave it to Review. Called first, on the
  // worker that read the request, with no deadline: it must never block
  // (no API call, no lock held across I/O). A decision here saves the hand
  // over to a handler thread and back, the largest cost of a fast answer.
  // `request` has passed CheckRoute, as for Review.
  virtual std::optional<Decision> Decide(
      const k8s::AdmissionRequest& /*request*/) {
    return std::nullopt;
  }
  // Called on a handler thread when Decide did not decide. It should
  // return by `deadline` (the server answers with a HandlerTimeout denial
  // then anyway, and the thread stays busy until Review returns).
  // `request` has passed CheckRoute for the route: its kind, operation and
  // object are the route's.
  virtual Decision Review(const k8s::AdmissionRequest& request,
                          absl::Time deadline) = 0;
  // Whether a review of `request` that the server could not decide (see
  // Route::undecided_fails_call) must be a denial even on a route that
  // leaves undecided reviews to the failure policy: true for a pod that an
  // admission without a decision could make a second active pod (a guarded
  // pool's, or one whose membership memory cannot tell). Memory only, like
  // Decide; called on the worker after the deadline or a failure.
  virtual bool MustDecide(const k8s::AdmissionRequest& /*request*/) {
    return false;
  }
};

struct Route {
  // "/validate/pods"; POST only.
  std::string path;
  RouteSpec spec;
  // Not owned; must outlive the server.
  AdmissionHandler* handler = nullptr;
  // How a review the server could not decide (the handler threw, did not
  // answer in time, or the queue was full: reasons HandlerError,
  // HandlerTimeout, ServerBusy) is answered. false: a denial (HTTP 200,
  // allowed false, the code and message), whatever the configuration's
  // failurePolicy says. true: HTTP 500/504/503 with the message, which the
  // API server counts as a failed call, so the webhook's failurePolicy
  // decides: Ignore admits, Fail refuses. The zen-lead process sets it for
  // pods, whose policy the user chooses (Ignore: a zen-lead problem never
  // blocks pod creation), and keeps denials for LeaderPolicies (Fail
  // either way, and the denial's message is clearer). A request whose
  // handler says MustDecide is denied either way: under Ignore an HTTP
  // error would admit a guarded pod without a reservation.
  bool undecided_fails_call = false;
};

struct ServerOptions {
  // Address to listen on; port 0 picks a free one (see Server::port).
  std::string host = "0.0.0.0";
  int port = 0;
  // The serving certificate (PEM: the leaf, then any intermediates) and its
  // private key (PEM). Checked by Start as by SetCertificate.
  std::string cert_pem;
  std::string key_pem;
  std::vector<Route> routes;
  // Metrics are registered here (names under zen_lead_webhook_); must
  // outlive the server. Null: a private registry (tests).
  runtime::Registry* metrics = nullptr;

  // Threads running complete requests (decode, route check, encode).
  int workers = 4;
  // Threads running AdmissionHandler::Review; requests beyond these and
  // `max_queued_reviews` get a ServerBusy denial at once.
  int handler_threads = 4;
  int max_queued_reviews = 64;
  // A handler's time for one request. The API server gives the whole call
  // 3 s (the configuration's timeoutSeconds), so the answer leaves before.
  absl::Duration handler_timeout = absl::Seconds(2);
  // From the TCP accept to the end of the TLS handshake.
  absl::Duration handshake_timeout = absl::Seconds(5);
  // From a request's first byte to its last (headers and body). A client
  // that has sent part of a request by then gets 408 and is disconnected.
  absl::Duration request_timeout = absl::Seconds(5);
  // A client that does not read its response is dropped after this long.
  absl::Duration write_timeout = absl::Seconds(5);
  // How long a kept-alive connection may stay idle between requests. Longer
  // than the API server's own idle timeout for its webhook connections
  // (90 s in client-go's transport), so the client closes first and never
  // sends a request on a connection that the server is closing.
  absl::Duration idle_timeout = absl::Seconds(120);
  // Bodies larger than this get 413.
  size_t max_body_bytes = size_t{3} * 1024 * 1024;
  // Open connections at most (handshaking, collecting, idle or being
  // served); more are closed at accept.
  int max_connections = 1024;
  // Bytes of requests being collected, over all connections; a connection
  // that would go beyond it is closed (a flood of large slow bodies cannot
  // exhaust memory).
  size_t max_buffered_bytes = size_t{64} * 1024 * 1024;
  // Requests on one connection before the server answers with
  // "Connection: close".
  int max_requests_per_connection = 1000;
};

class ConnectionLoop;  // server.cc
struct ServerMetrics;  // server.cc
class TlsContext;      // server.cc
class WorkerPool;      // server.cc

class Server {
 public:
  // Checks the options and the certificate, binds (a port in use is
  // reported here) and starts serving on background threads.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const ServerOptions& options);
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port (the real one when the options asked for port 0).
  int port() const { return port_; }

  // Serves `cert_pem`/`key_pem` from the next handshake on, once they are
  // checked: both parse, the key is the certificate's, and the certificate
  // is valid now. Errors (InvalidArgument, FailedPrecondition for an
  // expired or not yet valid certificate) leave the current pair in use.
  // Thread-safe.
  absl::Status SetCertificate(const std::string& cert_pem,
                              const std::string& key_pem);

  // Stops accepting, closes idle and partial connections, waits for
  // running requests and handlers to finish and joins the threads. A
  // handler that never returns keeps Stop waiting. Idempotent; thread-safe.
  void Stop();

 private:
  Server(int port, std::unique_ptr<runtime::Registry> own_registry,
         std::unique_ptr<ServerMetrics> metrics,
         std::unique_ptr<TlsContext> tls, std::unique_ptr<WorkerPool> reviews,
         std::unique_ptr<ConnectionLoop> loop);

  const int port_;
  std::unique_ptr<runtime::Registry> own_registry_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<TlsContext> tls_;
  std::unique_ptr<WorkerPool> reviews_;
  std::unique_ptr<ConnectionLoop> loop_;
};

}  // namespace zenlead::webhook

#endif  // ZEN_LEAD_WEBHOOK_SERVER_H_
