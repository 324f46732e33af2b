// A controller work queue, as in client-go: reconcilers take keys
// ("namespace/name") from it, one worker per key at a time.
//
// - A key added while it waits in the queue is stored once; a key added while
//   a worker processes it is queued again when the worker calls Done.
// - Get blocks until a key is available or the queue shuts down; after
//   ShutDown, Get still hands out the keys already queued, then reports
//   shutdown.
// - AddAfter(key, delay) queues a key later; AddRateLimited(key) queues it
//   after the rate limiter's delay (per-key exponential backoff combined with
//   an overall token bucket); Forget(key) resets the key's backoff.
// - Three lanes: Get hands out kHigh keys before kNormal ones and kNormal
//   before kLow (FIFO within a lane). Adding a queued key with a higher
//   priority moves it up; never down. So urgent work (a failover) never
//   waits behind changes, and changes never wait behind routine upkeep
//   (periodic renewals, queued kLow) unless that upkeep has waited longer
//   than WorkQueueOptions::low_max_wait. A key re-added while a worker
//   processes it is queued by Done with the highest priority asked for.
//
//   WorkQueueOptions options;
//   options.name = "trafficdirector";
//   WorkQueue queue(std::move(options));
//   queue.Add("ns/db");
//   while (std::optional<std::string> key = queue.Get()) {
//     absl::Status s = Reconcile(*key);
//     if (s.ok()) queue.Forget(*key); else queue.AddRateLimited(*key);
//     queue.Done(*key);
//   }                                      // ends after queue.ShutDown()
//
// Compiled in header_examples_test.cc.
#ifndef ZEN_LEAD_API_RUNTIME_WORKQUEUE_H_
#define ZEN_LEAD_API_RUNTIME_WORKQUEUE_H_

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/client/clock.h"
#include "api/client/rate_limiter.h"
#include "api/runtime/logging.h"

namespace zenlead::runtime {

// Decides how long a failed key waits before it is retried.
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // The delay before `key` may be processed again; counts one more failure.
  virtual absl::Duration When(const std::string& key) = 0;
  // Resets the failure count of `key` (it succeeded).
  virtual void Forget(const std::string& key) = 0;
  // Failures counted for `key` since the last Forget.
  virtual int NumRequeues(const std::string& key) = 0;
};

// base * 2^failures, at most max_delay.
class ExponentialFailureRateLimiter : public RateLimiter {
 public:
  ExponentialFailureRateLimiter(absl::Duration base, absl::Duration max_delay);
  absl::Duration When(const std::string& key) override;
  void Forget(const std::string& key) override;
  int NumRequeues(const std::string& key) override;

 private:
  const absl::Duration base_;
  const absl::Duration max_delay_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, int> failures_ ABSL_GUARDED_BY(mu_);
};

// An overall token bucket (rate_limiter.h) for every key together: `qps`
// tokens per second, at most `burst` saved. Every When takes a token;
// without one the delay is the time until one is due (reservations queue
// up, as golang.org/x/time/rate's Reserve does).
class TokenBucketRateLimiter : public RateLimiter {
 public:
  TokenBucketRateLimiter(double qps, int burst, client::Clock* clock)
      : bucket_(qps, burst, clock) {}
  absl::Duration When(const std::string& key) override {
    return bucket_.Reserve();
  }
  void Forget(const std::string& key) override {}
  int NumRequeues(const std::string& key) override { return 0; }

 private:
  client::TokenBucket bucket_;
};

// The longest delay of several limiters; NumRequeues is their maximum.
class MaxOfRateLimiter : public RateLimiter {
 public:
  explicit MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters);
  absl::Duration When(const std::string& key) override;
  void Forget(const std::string& key) override;
  int NumRequeues(const std::string& key) override;

 private:
  std::vector<std::unique_ptr<RateLimiter>> limiters_;
};

// client-go's default controller rate limiter: per-key backoff from 5 ms
// doubling up to 1000 s, combined (max) with a 10 qps / burst 100 bucket.
std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(client::Clock* clock);

// Observes a queue. Called with the queue's lock held: must be quick and must
// not call back into the queue (an exception it throws is caught and logged,
// the queue carries on). runtime_metrics.h exports these as Prometheus
// metrics.
class WorkQueueMetrics {
 public:
  virtual ~WorkQueueMetrics() = default;
  virtual void SetDepth(int64_t depth) = 0;
  // A key entered the queue (a duplicate of a queued key is not an add).
  virtual void IncAdds() = 0;
  // A key was scheduled through the rate limiter.
  virtual void IncRetries() = 0;
  // From the Add that queued a key to the Get that handed it out.
  virtual void ObserveQueueLatency(absl::Duration d) = 0;
  // From Get to Done.
  virtual void ObserveWorkDuration(absl::Duration d) = 0;
};

// Which lane Add puts a key in.
enum class Priority { kLow = 0, kNormal = 1, kHigh = 2 };

struct WorkQueueOptions {
  // For metrics and logs.
  std::string name;
  // Defaults to RealClock().
  client::Clock* clock = nullptr;
  // Defaults to DefaultControllerRateLimiter(clock).
  std::unique_ptr<RateLimiter> rate_limiter;
  // Optional; not owned, must outlive the queue.
  WorkQueueMetrics* metrics = nullptr;
  // nullptr: DefaultLogger().
  const Logger* logger = nullptr;
  // A kLow key that has waited this long is served before kNormal keys
  // (never before kHigh ones), so steady changes cannot starve upkeep.
  absl::Duration low_max_wait = absl::Seconds(2);
};

class WorkQueue {
 public:
  explicit WorkQueue(WorkQueueOptions options);
  // Shuts down (without draining) and joins the delay thread.
  ~WorkQueue();

  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Ignored after ShutDown. A key already queued keeps its place unless
  // this add raises its priority.
  void Add(const std::string& key, Priority priority = Priority::kNormal);
  // Adds `key` with `priority` once `delay` has passed on the clock. A key
  // already waiting keeps the earlier of its two times and the higher
  // priority.
  void AddAfter(const std::string& key, absl::Duration delay,
                Priority priority = Priority::kNormal);
  // Retries `key` after the rate limiter's delay, in the lane it was handed
  // out from when a worker holds it (else kNormal).
  void AddRateLimited(const std::string& key);
  void Forget(const std::string& key);
  int NumRequeues(const std::string& key);

  // Blocks until a key is available (returns it; the caller must call Done)
  // or the queue is shut down and empty (returns nullopt).
  std::optional<std::string> Get();
  void Done(const std::string& key);

  // New adds are ignored; Get drains what is queued, then returns nullopt.
  // Keys waiting in AddAfter are dropped.
  void ShutDown();
  // ShutDown, then blocks until workers have taken and finished (Done) every
  // queued key, or until `deadline` on the queue's clock; returns whether the
  // queue drained. Workers must keep running meanwhile.
  bool ShutDownWithDrain(absl::Time deadline = absl::InfiniteFuture());
  bool ShuttingDown() const;

  // Keys waiting for a worker (not those being processed or delayed).
  int Len() const;

 private:
  struct Waiting {
    absl::Time ready;
    uint64_t seq;  // FIFO among equal times
    std::string key;
    bool operator>(const Waiting& o) const {
      return ready != o.ready ? ready > o.ready : seq > o.seq;
    }
  };

  void AddLocked(const std::string& key, Priority priority)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends a key (not queued yet) to its lane.
  void PushLocked(const std::string& key, Priority priority)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int SizeLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateDepthLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves delayed keys into the queue when their time comes.
  void DelayLoop();
  void DelayLoopBody();
  // Calls f(*metrics_) if there are metrics, catching what it throws.
  template <typename F>
  void Metric(F&& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  client::Clock* const clock_;
  const Logger log_;
  const std::unique_ptr<RateLimiter> rate_limiter_;
  WorkQueueMetrics* const metrics_;
  const absl::Duration low_max_wait_;

  mutable absl::Mutex mu_;
  // Keys waiting for a worker: one FIFO lane per priority, and where each
  // queued key sits (so a raised priority moves it in O(1)).
  std::list<std::string> lanes_[3] ABSL_GUARDED_BY(mu_);  // by Priority
  struct Position {
    Priority priority;
    std::list<std::string>::iterator it;
  };
  absl::flat_hash_map<std::string, Position> queued_ ABSL_GUARDED_BY(mu_);
  // Keys that need processing (queued, or re-added while processing), with
  // the highest priority asked for.
  absl::flat_hash_map<std::string, Priority> dirty_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> processing_ ABSL_GUARDED_BY(mu_);
  // The lane each key being processed was handed out from (for retries).
  absl::flat_hash_map<std::string, Priority> handed_out_ ABSL_GUARDED_BY(mu_);
  // When each queued key was added (queue latency).
  absl::flat_hash_map<std::string, absl::Time> added_at_ ABSL_GUARDED_BY(mu_);
  // When each key being processed was handed out (work duration).
  absl::flat_hash_map<std::string, absl::Time> started_at_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;

  // Delayed keys: a min-heap by ready time, and each key's current time
  // (heap entries that disagree with it are stale and skipped).
  std::priority_queue<Waiting, std::vector<Waiting>, std::greater<Waiting>>
      waiting_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::Time> waiting_ready_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Priority> waiting_priority_
      ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  // Bumped whenever an earlier deadline may exist, to wake DelayLoop.
  uint64_t waiting_generation_ ABSL_GUARDED_BY(mu_) = 0;

  std::thread delay_thread_;
};

}  // namespace zenlead::runtime

#endif  // ZEN_LEAD_API_RUNTIME_WORKQUEUE_H_
