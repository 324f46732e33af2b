// RestClient: the Client interface (client.h) over HTTPS with libcurl.
//
//   ASSIGN_OR_RETURN(Config config, LoadConfig());
//   RestClientOptions options;
//   options.observer = [](const RequestRecord& r) { metrics.Observe(r); };
//   ASSIGN_OR_RETURN(std::unique_ptr<RestClient> client,
//                    RestClient::Create(config, options));
//   absl::StatusOr<nlohmann::json> cm = client->Get(kConfigMaps, "ns", "a");
//
//   // A watch blocks its calling thread; give it its own thread. Its
//   // Cancellation (client.h) ends it alone; the client serves on.
//   WatchOptions watch;
//   watch.cancel = std::make_shared<Cancellation>();
//   std::thread watcher([&] {
//     absl::Status s = client->Watch(kLeases, "ns", watch,
//                                    [](const WatchEvent& e) {
//                                      return Handle(e);  // false stops it
//                                    });
//   });
//   watch.cancel->Cancel();  // this watch ends (Cancelled) within ms
//   watcher.join();
//   client->Stop();  // shutdown: ends every call in flight and later ones
//
// Transport: a pool of connections (a curl multi + easy handle each, kept
// alive and reused; HTTP/2 over TLS when the server offers it, else HTTP/1.1
// keep-alive); TLS verified against the CA from memory, client certificate or
// bearer token (token file re-read for rotation, and once more on a 401);
// per-attempt connect/request timeouts; a QPS/burst token bucket; retries with
// backoff for 429, 5xx and connection errors as decided by RetryDelay
// (retry.h). Thread-safe: any number of threads may call one RestClient, each
// request or watch uses its own connection, so one client serves every
// informer of a process. A call's Cancellation (WatchOptions::cancel,
// ListOptions::cancel) wakes only that call's connection. Every HTTP attempt
// is reported to RestClientOptions::observer.
#ifndef ZEN_LEAD_API_CLIENT_REST_CLIENT_H_
#define ZEN_LEAD_API_CLIENT_REST_CLIENT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/client/client.h"
#include "api/client/clock.h"
#include "api/client/config.h"
#include "api/client/rate_limiter.h"
#include "api/client/retry.h"

namespace zenlead::client {

// One HTTP attempt, for metrics.
struct RequestRecord {
  // Kubernetes verb: "get", "list", "watch", "create", "update", "patch",
  // "apply", "delete" (and "get" for GetPath).
  std::string verb;
  std::string method;  // HTTP method.
  // "configmaps", "leases.coordination.k8s.io", or the path for GetPath.
  std::string resource;
  int http_code = 0;  // 0: no response (connection error, cancelled).
  // "HTTP/2" or "HTTP/1.1"; "" without a response.
  std::string protocol;
  absl::StatusCode code = absl::StatusCode::kOk;  // The attempt's outcome.
  // From the start of the attempt to its end (a watch: the whole stream),
  // excluding rate-limit and backoff waits.
  absl::Duration latency;
  int attempt = 1;  // 1 for the first try, 2 for the first retry...
};

using RequestObserver = std::function<void(const RequestRecord&)>;

enum class HttpVersion {
  kHttp2,   // HTTP/2 over TLS when the server offers it (ALPN), else 1.1.
  kHttp11,  // HTTP/1.1 keep-alive only.
};

struct RestClientOptions {
  // Drives the token bucket; nullptr: RealClock(). Waits are real time.
  Clock* clock = nullptr;
  // Called after every HTTP attempt, on the calling thread, without locks
  // held; must be thread-safe.
  RequestObserver observer;
  RetryPolicy retry;
  HttpVersion http_version = HttpVersion::kHttp2;
  std::string user_agent = "zen-lead";
  // The field manager of this client's creates, updates and patches: sent
  // as fieldManager, the name managedFields records for them. One per
  // writer (pool::kOperatorFieldManager, pool::kWebhookFieldManager). "":
  // none is sent and the API server derives one from the User-Agent.
  // Server-side applies name theirs in ApplyOptions::field_manager.
  std::string field_manager;
  // Idle connections kept for reuse; more are closed when released.
  size_t max_idle_connections = 16;
};

class RestClient : public Client {
 public:
  static absl::StatusOr<std::unique_ptr<RestClient>> Create(
      const Config& config, RestClientOptions options = RestClientOptions());
  // Stops (see Stop) and closes the connections. No call may be running.
  ~RestClient() override;

  RestClient(const RestClient&) = delete;
  RestClient& operator=(const RestClient&) = delete;

  absl::StatusOr<nlohmann::json> Get(const Resource& r, absl::string_view ns,
                                     absl::string_view name) override;
  absl::StatusOr<nlohmann::json> List(const Resource& r, absl::string_view ns,
                                      const ListOptions& options) override;
  absl::StatusOr<nlohmann::json> Create(const Resource& r, absl::string_view ns,
                                        const nlohmann::json& obj) override;
  absl::StatusOr<nlohmann::json> Update(const Resource& r, absl::string_view ns,
                                        const nlohmann::json& obj) override;
  absl::StatusOr<nlohmann::json> UpdateStatus(
      const Resource& r, absl::string_view ns,
      const nlohmann::json& obj) override;
  absl::Status Delete(const Resource& r, absl::string_view ns,
                      absl::string_view name,
                      const DeleteOptions& options) override;
  absl::StatusOr<nlohmann::json> Patch(const Resource& r, absl::string_view ns,
                                       absl::string_view name, PatchType type,
                                       const nlohmann::json& patch,
                                       absl::string_view subresource) override;
  absl::StatusOr<nlohmann::json> Apply(
      const Resource& r, absl::string_view ns, absl::string_view name,
      const nlohmann::json& obj, const ApplyOptions& options,
      absl::string_view subresource = "") override;
  // ERROR events end the watch with their Status as the result (IsGone for
  // 410) and are not passed to the handler. The handler runs on the calling
  // thread. After options.cancel->Cancel() or Stop(): CancelledError, within
  // milliseconds even on a quiet stream or during a retry wait.
  absl::Status Watch(const Resource& r, absl::string_view ns,
                     const WatchOptions& options,
                     const WatchHandler& handler) override;

  // GET of any API path, e.g. "/version" or "/apis/coordination.k8s.io/v1".
  absl::StatusOr<nlohmann::json> GetPath(absl::string_view path);

  // Cancels everything: requests and watches in flight end promptly with
  // CancelledError (watches within milliseconds: their poll is woken up),
  // and every later call returns CancelledError at once. For shutdown; to
  // end one watch, cancel its WatchOptions::cancel. Idempotent; callable
  // from any thread.
  void Stop();
  bool stopped() const { return stop_.cancelled(); }

  // TCP connections opened so far (CURLINFO_NUM_CONNECTS, summed): shows
  // that connections are reused.
  int64_t connections_opened() const { return connections_opened_.load(); }

  const Config& config() const { return config_; }

 private:
  struct Connection;
  struct Request;
  struct Transfer;
  struct Response {
    int http_code = 0;
    std::string body;
  };

  RestClient(const Config& config, RestClientOptions options);

  // Runs req with rate limiting, auth and retries. A non-2xx final response
  // is returned as an error status (errors.h), with method and path in the
  // message.
  absl::StatusOr<Response> Execute(Request& req);
  // One HTTP attempt on a pooled connection; Stop() or req's cancellation
  // wakes its poll.
  void Perform(Request& req, const std::string& token, Transfer& transfer);
  absl::StatusOr<nlohmann::json> ExecuteJson(Request& req);

  Connection* AcquireConnection();
  void ReleaseConnection(Connection* conn);
  // Stop() or cancel (may be nullptr) happened.
  bool Cancelled(const Cancellation* cancel) const {
    return stopped() || CancelRequested(cancel);
  }
  // The error of a call that Stop() or its cancellation ended.
  absl::Status CancelledStatus() const;
  // Waits d unless Stop() or cancel comes first; false when cancelled.
  bool SleepUnlessCancelled(absl::Duration d, Cancellation* cancel);

  const Config config_;
  const RestClientOptions options_;
  Clock* const clock_;
  const std::string user_agent_header_;
  const bool proxy_bypass_;  // Loopback servers never go through a proxy.
  TokenBucket rate_limiter_;
  TokenSource tokens_;

  // Stop(): every call in flight registers its wake-up here too.
  Cancellation stop_;
  std::atomic<int64_t> connections_opened_{0};
  std::atomic<uint64_t> jitter_seed_{0x9e3779b97f4a7c15ULL};

  absl::Mutex pool_mu_;
  std::vector<std::unique_ptr<Connection>> connections_
      ABSL_GUARDED_BY(pool_mu_);
  std::vector<Connection*> idle_ ABSL_GUARDED_BY(pool_mu_);
};

// The REST path of a resource, collection (name "") or subresource:
// "/api/v1/namespaces/ns/configmaps/a",
// "/apis/coordination.k8s.io/v1/namespaces/ns/leases". ns is ignored for
// cluster-scoped resources and may be "" (all namespaces) for collections.
std::string ResourcePath(const Resource& r, absl::string_view ns,
                         absl::string_view name = "",
                         absl::string_view subresource = "");

// "?a=1&b=x%20y" (percent-encoded, empty values skipped); "" when no
// parameters remain.
std::string QueryString(
    const std::vector<std::pair<std::string, std::string>>& params);

// RFC 3986 percent-encoding of everything but unreserved characters.
std::string PercentEncode(absl::string_view text);

}  // namespace zenlead::client

#endif  // ZEN_LEAD_API_CLIENT_REST_CLIENT_H_
