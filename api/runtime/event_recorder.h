// Kubernetes Events (events.k8s.io/v1) for what zen-lead does and why, as
// `kubectl describe` and `kubectl events` show them:
//
//   EventRecorderOptions options;
//   options.reporting_instance = pod_name;
//   EventRecorder events(client.get(), std::move(options));
//   ObjectReference ref{"coordination.kube-zen.io/v1alpha1", "LeaderPolicy",
//                       "ns", "db", uid};
//   absl::Status queued = events.Record(ref, EventType::kNormal,
//                                       "LeaderElected", "Elect",
//                                       "Pod db-0 is the leader of pool db");
//   // !queued.ok(): a bad reason or action (a bug here), or the queue is full
//
// Compiled in header_examples_test.cc.
//
// Repeats are aggregated: the same (regarding object, type, reason, action,
// note) within aggregation_window (10 minutes) of its previous occurrence
// patches the existing Event's series {count, lastObservedTime} instead of
// creating another object. Record never blocks a reconcile: events go
// through a bounded queue to a writer thread, and are dropped (and counted)
// when the queue is full.
#ifndef ZEN_LEAD_API_RUNTIME_EVENT_RECORDER_H_
#define ZEN_LEAD_API_RUNTIME_EVENT_RECORDER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/client/client.h"
#include "api/client/clock.h"
#include "api/runtime/logging.h"

namespace zenlead::runtime {

// The object an Event is about.
struct ObjectReference {
  std::string api_version;  // "v1", "coordination.kube-zen.io/v1alpha1"
  std::string kind;
  std::string ns;  // "" for cluster-scoped objects
  std::string name;
  std::string uid;
};

enum class EventType { kNormal, kWarning };

struct EventRecorderOptions {
  std::string reporting_controller = "zen-lead";
  // Required: this replica (the pod name).
  std::string reporting_instance;
  // Events waiting to be written; more are dropped.
  size_t queue_size = 1000;
  absl::Duration aggregation_window = absl::Minutes(10);
  // Series remembered for aggregation (the oldest are forgotten first).
  size_t max_series = 4096;
  // nullptr: RealClock().
  client::Clock* clock = nullptr;
  // nullptr: DefaultLogger().
  const Logger* logger = nullptr;
};

class EventRecorder {
 public:
  // Starts the writer thread. client must outlive the recorder.
  EventRecorder(client::Client* client, EventRecorderOptions options);
  // Stops (events still queued are dropped: Flush first to write them).
  ~EventRecorder();

  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  // Queues an event. reason: UpperCamelCase, at most 128 characters;
  // action: what was done/failed ("Elect", "Route"), at most 128; note:
  // for humans, cut at 1024 bytes. Errors: InvalidArgument for a bad
  // reason/action/reference (a bug in the caller), ResourceExhausted when the
  // queue is full (dropped), FailedPrecondition after Stop.
  absl::Status Record(const ObjectReference& regarding, EventType type,
                      absl::string_view reason, absl::string_view action,
                      absl::string_view note);

  // Waits until every event queued so far is written (or failed), or the
  // deadline passes on the recorder's clock; returns whether it drained.
  bool Flush(absl::Time deadline);
  // Ends the writer thread. Idempotent.
  void Stop();

  struct Stats {
    int64_t created = 0;  // new Event objects
    int64_t patched = 0;  // series updates of existing Events
    int64_t dropped = 0;  // queue full
    int64_t failed = 0;   // API errors (and exceptions, logged)
  };
  Stats stats() const;

 private:
  struct Pending {
    ObjectReference regarding;
    EventType type;
    std::string reason;
    std::string action;
    std::string note;
    absl::Time time;
  };
  struct Series {
    std::string ns;
    std::string name;
    int64_t count;
    absl::Time last_observed;
    std::list<std::string>::iterator lru;
  };

  void Run();
  void Write(const Pending& event);
  void Remember(const std::string& key, Series series);
  std::string NewEventName(const ObjectReference& regarding);

  client::Client* const client_;
  const EventRecorderOptions options_;
  client::Clock* const clock_;
  const Logger log_;

  mutable absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;  // the writer holds an event
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);

  // Only the writer thread touches these.
  absl::flat_hash_map<std::string, Series> series_;
  std::list<std::string> lru_;  // keys, least recently observed first
  uint64_t name_counter_ = 0;

  std::thread writer_;
};

}  // namespace zenlead::runtime

#endif  // ZEN_LEAD_API_RUNTIME_EVENT_RECORDER_H_
