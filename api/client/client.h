// The Kubernetes API client interface used by zen-lead's operator, webhook
// and generated typed clients: every verb on any group/version/resource,
// namespaced or cluster-scoped, on JSON objects (nlohmann::json), with
// absl::Status errors that keep the API server's reason (see errors.h).
//
// This header is the seam: RestClient (rest_client.h) implements it over
// HTTPS; tests that only need the interface can use a fake.
//
//   ASSIGN_OR_RETURN(auto config, LoadConfig());          // config.h
//   ASSIGN_OR_RETURN(auto client, RestClient::Create(config));
//   const Resource kLeases{"coordination.k8s.io", "v1", "leases", true};
//   absl::StatusOr<nlohmann::json> lease = client->Get(kLeases, "ns", "db");
//   if (IsNotFound(lease.status())) { ... }
//
//   ApplyOptions apply{.field_manager = "zen-lead", .force = true};
//   client->Apply(kLeases, "ns", "db", desired, apply);
//
// One call can be cancelled without touching the others on the same client
// (many informers share one client, each stops its own watch): give it a
// Cancellation and call Cancel() from any thread. A blocked watch, a list in
// flight and their retry waits then end with CancelledError promptly; a call
// started after Cancel() returns CancelledError without a request.
//
//   auto cancel = std::make_shared<Cancellation>();
//   WatchOptions watch;
//   watch.cancel = cancel;
//   absl::Status watched;
//   std::thread watcher([&] {
//     watched = client->Watch(kLeases, "ns", watch, handler);
//   });
//   cancel->Cancel();  // this watch only: CancelledError within ms
//   watcher.join();
#ifndef ZEN_LEAD_API_CLIENT_CLIENT_H_
#define ZEN_LEAD_API_CLIENT_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace zenlead::client {

// A REST resource: group ("" for the core group), version, plural resource
// name, and whether it lives in namespaces.
struct Resource {
  std::string group;
  std::string version;
  std::string resource;
  bool namespaced = true;

  // "apps/v1" or "v1" for the core group.
  std::string ApiVersion() const {
    return group.empty() ? version : group + "/" + version;
  }
};

// Cancels the calls it is given to (WatchOptions::cancel, ListOptions::cancel)
// and nothing else. Thread-safe; Cancel() is final and idempotent.
//
// A transport makes a blocked call notice Cancel() by registering a wake-up
// callback for the duration of the call (ScopedCancelCallback): Cancel()
// runs every registered callback once, under the Cancellation's lock, so
// that once a callback is removed it is neither running nor ever called
// again (the transport may then free what it woke). Hence a callback must be
// short, must not call into this Cancellation, and must not take a lock that
// is held while registering or removing it. Registering after Cancel() runs
// the callback at once, on the registering thread.
class Cancellation {
 public:
  using CallbackId = uint64_t;

  Cancellation() = default;
  Cancellation(const Cancellation&) = delete;
  Cancellation& operator=(const Cancellation&) = delete;

  void Cancel();
  // Lock-free: cheap enough to check for every chunk of a watch stream, and
  // callable while holding the lock a callback takes.
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

  // Prefer ScopedCancelCallback. After Cancel() the callback runs at once
  // and is not kept.
  CallbackId AddCallback(std::function<void()> callback);
  // Waits for a running Cancel() to finish its callbacks; unknown ids (the
  // callback already ran) are ignored.
  void RemoveCallback(CallbackId id);

 private:
  absl::Mutex mu_;
  std::atomic<bool> cancelled_{false};
  CallbackId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<std::pair<CallbackId, std::function<void()>>> callbacks_
      ABSL_GUARDED_BY(mu_);
};

// True when cancel is set and was cancelled (nullptr: never).
inline bool CancelRequested(const Cancellation* cancel) {
  return cancel != nullptr && cancel->cancelled();
}

// Registers callback with cancellation (nullptr: does nothing) for this
// object's lifetime; see Cancellation for what a callback may do.
//
//   ScopedCancelCallback wake(options.cancel.get(),
//                             [conn] { curl_multi_wakeup(conn->multi); });
//   while (!CancelRequested(options.cancel.get())) Poll(conn);
class ScopedCancelCallback {
 public:
  ScopedCancelCallback(Cancellation* cancellation,
                       std::function<void()> callback)
      : cancellation_(cancellation),
        id_(cancellation != nullptr
                ? cancellation->AddCallback(std::move(callback))
                : 0) {}
  ~ScopedCancelCallback() {
    if (cancellation_ != nullptr) cancellation_->RemoveCallback(id_);
  }
  ScopedCancelCallback(const ScopedCancelCallback&) = delete;
  ScopedCancelCallback& operator=(const ScopedCancelCallback&) = delete;

 private:
  Cancellation* const cancellation_;
  const Cancellation::CallbackId id_;
};

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  // 0: no limit. With a limit, List returns one page and a continue token in
  // metadata.continue; ListAll follows the tokens.
  int64_t limit = 0;
  std::string continue_token;
  // "" (most recent, quorum read) or "0" (any, from the watch cache).
  std::string resource_version;
  // Ends the list (every page of ListAll/ListPages, and retry waits) with
  // CancelledError once cancelled. nullptr: only the client's own shutdown
  // (RestClient::Stop) ends it.
  std::shared_ptr<Cancellation> cancel;
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  // Start after this version; "" starts with synthetic ADDED events for
  // everything that exists.
  std::string resource_version;
  bool allow_bookmarks = true;
  // Server-side timeout of one watch request; the caller re-watches.
  absl::Duration timeout = absl::Minutes(5);
  // Streaming list ("WatchList"): the server first sends ADDED events for
  // everything that exists at resource_version or newer, then a BOOKMARK
  // whose metadata.annotations["k8s.io/initial-events-end"] is "true", then
  // changes. Sends sendInitialEvents=true&resourceVersionMatch=NotOlderThan
  // and forces allowWatchBookmarks.
  bool send_initial_events = false;
  // Cancel() ends this watch (blocked on a quiet stream or waiting to
  // retry) with CancelledError within milliseconds; other calls on the same
  // client go on. Already cancelled: CancelledError at once, no request.
  // nullptr: only the client's own shutdown (RestClient::Stop) ends it
  // early; a quiet watch otherwise lasts until `timeout`.
  std::shared_ptr<Cancellation> cancel;
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type;
  // The object (for kError, the Kubernetes Status object).
  nlohmann::json object;
};

enum class PropagationPolicy { kDefault, kForeground, kBackground, kOrphan };

struct DeleteOptions {
  PropagationPolicy propagation = PropagationPolicy::kDefault;
  // Preconditions: delete only if the object still has this uid / version.
  std::optional<std::string> uid;
  std::optional<std::string> resource_version;
  std::optional<int64_t> grace_period_seconds;
};

struct ApplyOptions {
  std::string field_manager = "zen-lead";
  bool force = false;
};

enum class PatchType { kMerge, kJson, kStrategicMerge };

// Called for every event of a watch; return false to stop watching.
using WatchHandler = std::function<bool(const WatchEvent&)>;

class Client {
 public:
  virtual ~Client() = default;

  // For cluster-scoped resources the namespace argument is ignored.
  virtual absl::StatusOr<nlohmann::json> Get(const Resource& r,
                                             absl::string_view ns,
                                             absl::string_view name) = 0;
  // One page (or everything when options.limit is 0): a *List object.
  virtual absl::StatusOr<nlohmann::json> List(const Resource& r,
                                              absl::string_view ns,
                                              const ListOptions& options) = 0;
  virtual absl::StatusOr<nlohmann::json> Create(const Resource& r,
                                                absl::string_view ns,
                                                const nlohmann::json& obj) = 0;
  // PUT; obj must carry metadata.name and, for optimistic concurrency,
  // metadata.resourceVersion.
  virtual absl::StatusOr<nlohmann::json> Update(const Resource& r,
                                                absl::string_view ns,
                                                const nlohmann::json& obj) = 0;
  // PUT to the status subresource.
  virtual absl::StatusOr<nlohmann::json> UpdateStatus(
      const Resource& r, absl::string_view ns, const nlohmann::json& obj) = 0;
  virtual absl::Status Delete(const Resource& r, absl::string_view ns,
                              absl::string_view name,
                              const DeleteOptions& options) = 0;
  // subresource: "" or e.g. "status".
  virtual absl::StatusOr<nlohmann::json> Patch(
      const Resource& r, absl::string_view ns, absl::string_view name,
      PatchType type, const nlohmann::json& patch,
      absl::string_view subresource) = 0;
  // Server-side apply (application/apply-patch+yaml with a JSON body).
  virtual absl::StatusOr<nlohmann::json> Apply(
      const Resource& r, absl::string_view ns, absl::string_view name,
      const nlohmann::json& obj, const ApplyOptions& options,
      absl::string_view subresource = "") = 0;
  // Streams events to handler until it returns false (OkStatus), the server
  // ends the watch (OkStatus; the caller re-watches from the last version),
  // or an error (e.g. 410 Gone: see IsGone in errors.h), or
  // options.cancel (CancelledError). RestClient turns an ERROR event into
  // that error instead of passing it to the handler.
  virtual absl::Status Watch(const Resource& r, absl::string_view ns,
                             const WatchOptions& options,
                             const WatchHandler& handler) = 0;
};

// Follows continue tokens until every page is read; returns the merged list
// (items of all pages, metadata of the last).
absl::StatusOr<nlohmann::json> ListAll(Client& client, const Resource& r,
                                       absl::string_view ns,
                                       ListOptions options);

// Follows continue tokens like ListAll, but hands every page to on_page as
// it arrives (on_page may move its items out) instead of merging them, so a
// caller that reduces objects (an informer's projection) never holds the
// whole list at once. An error from on_page ends the list with that error;
// options.cancel is checked before every page.
// Returns the last page (resourceVersion in its metadata) as on_page left it.
absl::StatusOr<nlohmann::json> ListPages(
    Client& client, const Resource& r, absl::string_view ns,
    ListOptions options,
    const std::function<absl::Status(nlohmann::json& page)>& on_page);

}  // namespace zenlead::client

#endif  // ZEN_LEAD_API_CLIENT_CLIENT_H_
