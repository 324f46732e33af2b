// A shared informer: keeps an indexed cache (store.h) of one resource in sync
// with the API server and tells handlers what changed, so controllers read
// from memory and react to events instead of polling.
//
// It lists (in pages) and then watches from the list's resourceVersion with
// bookmarks. A watch that ends normally is resumed from the last version
// seen. On 410 Gone (the version is too old) it relists and diffs the list
// against the cache: handlers get an add, update or delete for exactly what
// changed while disconnected (deletes noticed this way carry the last known
// state, final_state_unknown = true). Other errors are retried after a
// jittered, capped exponential backoff; a watch that worked (delivered
// events or stayed open for kHealthyWatch) resets it, and while the API
// server cannot be reached at all (no HTTP answer, or 503: a restart) the
// wait is capped at disconnected_backoff_max, so the informer is back within
// seconds of the API server, however often it restarted.
//
// Informers may share one client (one cache per process): each passes its
// own Cancellation (client.h) to its lists and watches, and Stop() cancels
// only those, so it returns within milliseconds even while the watch is
// quiet, and the client serves on. A Client wrapper that holds a call back
// by itself releases it when the call's options.cancel is cancelled
// (client::ScopedCancelCallback).
//
// Handlers run in order on one dispatch thread, after the store has the
// change. HasSynced() turns true once the initial list was delivered. An
// exception thrown by a handler, an index function or a projection is
// caught, logged and counted (Stats::exceptions); the event is skipped for
// that handler and later events still arrive. Healthy() tells a liveness
// probe whether the dispatcher is alive and no handler is wedged.
//
//   InformerOptions options;
//   options.resource = {"", "v1", "pods", true};
//   options.label_selector = "zen-lead/pool";
//   options.projection = PodProjection;  // keep only what we read
//   Informer pods(client.get(), std::move(options));  // a shared client
//   pods.AddIndexer("pool", IndexByLabel("zen-lead/pool"));
//   EventHandler handler;
//   handler.on_add = [&](const ObjectPtr& pod) { queue.Add(ObjectKey(*pod)); };
//   pods.AddEventHandler(handler);
//   pods.Start();
//   if (!pods.WaitForSync(absl::Now() + absl::Seconds(30))) { ... }
//   ObjectPtr pod = pods.store().Get("ns", "db-0");
//   absl::Status alive = pods.Healthy(absl::Seconds(30));  // for /healthz
//   pods.Stop();
#ifndef ZEN_LEAD_API_RUNTIME_INFORMER_H_
#define ZEN_LEAD_API_RUNTIME_INFORMER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/client/client.h"
#include "api/client/clock.h"
#include "api/runtime/logging.h"
#include "api/runtime/store.h"
#include "nlohmann/json.hpp"

namespace zenlead::runtime {

struct EventHandler {
  std::function<void(const ObjectPtr& obj)> on_add;
  std::function<void(const ObjectPtr& old_obj, const ObjectPtr& new_obj)>
      on_update;
  // obj: the object's final state from the watch's DELETED event, or, when
  // final_state_unknown, the last state the cache held (the deletion was
  // found by a relist; client-go's DeletedFinalStateUnknown).
  std::function<void(const ObjectPtr& obj, bool final_state_unknown)> on_delete;
};

// Reduces an object to what a controller needs before it is cached. The
// informer keeps metadata.name, namespace, uid and resourceVersion in the
// result whatever the projection returns (it needs them for keys and diffs).
using Projection = std::function<nlohmann::json(const nlohmann::json&)>;

struct InformerOptions {
  client::Resource resource;
  // "" for all namespaces (and for cluster-scoped resources).
  std::string ns;
  std::string label_selector;
  std::string field_selector;
  // Optional; see Projection.
  Projection projection;
  // Items per list page (0: one unpaginated list).
  int64_t page_size = 500;
  // Keep the cache serialized (Store's compact mode): less memory, a decode
  // per read.
  bool compact_cache = false;
  // Server-side timeout of one watch request; the informer then re-watches.
  absl::Duration watch_timeout = absl::Minutes(5);
  // Retry backoff after errors: doubles from initial up to max; each wait
  // is drawn from [backoff/2, backoff]. A healthy watch (see kHealthyWatch)
  // starts it over from initial.
  absl::Duration backoff_initial = absl::Milliseconds(800);
  absl::Duration backoff_max = absl::Seconds(30);
  // The longest wait after an error that says the API server could not be
  // reached (no HTTP answer: refused, reset, timed out; or 503): such
  // retries cost the server nothing, and an informer that waits 30 s after
  // an API server restart leaves its controller blind that long.
  absl::Duration disconnected_backoff_max = absl::Seconds(2);
  // nullptr: RealClock().
  client::Clock* clock = nullptr;
  // nullptr: DefaultLogger().
  const Logger* logger = nullptr;
};

class Informer {
 public:
  // A watch that delivered an event (bookmarks count) or stayed open this
  // long worked: the error that ends it is a new disruption, retried from
  // backoff_initial. Shorter, eventless watches keep doubling the backoff, so
  // a watch that fails at once, again and again, never spins.
  static constexpr absl::Duration kHealthyWatch = absl::Seconds(5);

  // client must outlive the informer.
  Informer(client::Client* client, InformerOptions options);
  // Stops.
  ~Informer();

  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Before Start (FailedPrecondition after).
  absl::Status AddIndexer(const std::string& name, IndexFunc fn);
  absl::Status AddEventHandler(EventHandler handler);

  // Starts the list/watch and dispatch threads. Once.
  absl::Status Start();
  // Cancels the informer's list or watch in flight (promptly, even a quiet
  // watch; other calls on the client go on) and joins the threads;
  // notifications not yet dispatched are dropped. Idempotent. Must not be
  // called from a handler.
  void Stop();

  bool HasSynced() const;
  // Waits until synced, Stop(), or the deadline on the informer's clock.
  bool WaitForSync(absl::Time deadline) const;

  const Store& store() const { return store_; }

  // The resourceVersion the next watch starts from.
  std::string LastResourceVersion() const;

  // For a liveness probe; thread-safe, cheap (one lock). OK before Start
  // and after Stop. Internal when the dispatch or list/watch thread ended
  // (not by Stop): the cache or the handlers get no more events.
  // DeadlineExceeded when one handler call has run longer than
  // max_handler_time on the informer's clock (wedged: events queue up
  // behind it). The message names the resource and what to look at.
  absl::Status Healthy(absl::Duration max_handler_time) const;

  struct Stats {
    int64_t lists = 0;    // successful (re)lists
    int64_t watches = 0;  // watch requests started
    int64_t gone = 0;     // 410 Gone answers (each caused a relist)
    int64_t errors = 0;   // other failed lists and watches
    int64_t events = 0;   // watch events applied (not bookmarks)
    // Exceptions caught from handlers, index functions, projections and
    // lists (each logged; the event or list was skipped or retried).
    int64_t exceptions = 0;
  };
  Stats stats() const;

 private:
  struct Notification {
    enum class Kind { kAdd, kUpdate, kDelete, kSynced } kind;
    ObjectPtr old_obj;
    ObjectPtr obj;
    bool final_state_unknown = false;
  };

  void RunReflector();
  void RunDispatcher();
  // The bodies of the two threads (the Run* functions catch what escapes).
  void ReflectLoop();
  void DispatchLoop();
  // Runs one handler call with a guard: an exception is logged and counted.
  template <typename F>
  void CallHandler(const char* kind, const ObjectPtr& obj, F&& call);
  void CountException();
  // Lists everything and reconciles the store with the result.
  absl::Status ListAndReplace();
  // Applies one ADDED/MODIFIED/DELETED event.
  void ApplyEvent(const client::WatchEvent& event);
  // The projected, immutable form of an API object.
  ObjectPtr Prepare(const nlohmann::json& obj) const;
  void Notify(Notification n);
  // Waits for a backoff step after `error` (capped lower when the API
  // server could not be reached); false when stopping.
  bool Backoff(const absl::Status& error, absl::Duration* backoff);
  // The longest wait the next Backoff after `error` may take.
  absl::Duration RetryWithin(const absl::Status& error,
                             absl::Duration backoff) const;
  bool Stopping() const;

  client::Client* const client_;
  const InformerOptions options_;
  // Given to every list and watch; Stop() cancels it.
  const std::shared_ptr<client::Cancellation> cancel_ =
      std::make_shared<client::Cancellation>();
  client::Clock* const clock_;
  const Logger log_;
  Store store_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<EventHandler> handlers_ ABSL_GUARDED_BY(mu_);
  std::deque<Notification> pending_ ABSL_GUARDED_BY(mu_);
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
  // When the handler call now running began; InfiniteFuture when none.
  absl::Time handler_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool reflector_ended_ ABSL_GUARDED_BY(mu_) = false;
  bool dispatcher_ended_ ABSL_GUARDED_BY(mu_) = false;

  std::thread reflector_;
  std::thread dispatcher_;
};

}  // namespace zenlead::runtime

#endif  // ZEN_LEAD_API_RUNTIME_INFORMER_H_
