// Leader election among zen-lead's own replicas on a coordination.k8s.io/v1
// Lease, with client-go's semantics:
//
// - A candidate takes the Lease when it is absent, released (no holder),
//   already its own, or expired: the holder has not changed the record for
//   leaseDurationSeconds, measured on the local clock from when this
//   candidate last saw the record change (clocks of different machines are
//   never compared). A standby retries every retry_period and also right
//   when the Lease would expire, so a leader that died is replaced within
//   lease_duration + retry_period of its last renewal (plus API latency).
// - Writes use optimistic concurrency: the update carries the
//   resourceVersion that was read, so of two candidates one wins and the
//   other gets a Conflict. leaseTransitions grows by one whenever the holder
//   changes.
// - The leader renews every retry_period. If renewals keep failing for
//   renew_deadline it stops leading: IsLeader() turns false at the deadline
//   and OnStoppedLeading runs at the deadline too, even while a request
//   hangs (attempts run on a thread of their own; the elector waits for one
//   only until the deadline, and an attempt whose read comes back after it
//   writes nothing). That is before anyone else may take the Lease
//   (renew_deadline < lease_duration), so two replicas never both lead.
//   Give the elector a client of its own whose requests give up early and
//   are not retried (ConfigureLeaderElectionClient), so that a hung
//   connection holds its attempt thread only briefly.
// - Expiry is measured from when a read returned, never from when it was
//   sent: a read that hung for 30 s must not make a live holder's Lease look
//   30 s older than it is.
// - On Stop() the leader releases the Lease (holder cleared, renewTime now)
//   so that a standby takes over within one retry_period.
//
// After losing the Lease, the elector keeps competing as a standby until
// Stop(). Callbacks run on the elector's thread, one at a time; they must
// return promptly (start work on another thread).
//
//   LeaderElectionConfig config;
//   config.lease_namespace = "zen-lead-system";
//   config.lease_name = "zen-lead-operator";
//   config.identity = pod_name;
//   config.callbacks.on_started_leading = [&] { controllers.StartWriting(); };
//   config.callbacks.on_stopped_leading = [&] { controllers.StopWriting(); };
//   Config client_config = *LoadConfig();
//   RestClientOptions client_options;
//   ConfigureLeaderElectionClient(config.renew_deadline, &client_config,
//                                 &client_options);
//   ASSIGN_OR_RETURN(std::unique_ptr<RestClient> client,
//                    RestClient::Create(client_config, client_options));
//   ASSIGN_OR_RETURN(std::unique_ptr<LeaderElector> elector,
//                    LeaderElector::Create(client.get(), std::move(config)));
//   elector->Start();
//   ...
//   if (elector->IsLeader()) WriteSomething();
//   elector->Stop();  // releases the Lease if leading
//
// Compiled in header_examples_test.cc.
#ifndef ZEN_LEAD_API_RUNTIME_LEADER_ELECTION_H_
#define ZEN_LEAD_API_RUNTIME_LEADER_ELECTION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/client/client.h"
#include "api/client/clock.h"
#include "api/client/config.h"
#include "api/client/rest_client.h"
#include "api/runtime/logging.h"
#include "nlohmann/json.hpp"

namespace zenlead::runtime {

// client-go's JitterFactor: renew_deadline must exceed retry_period by it.
inline constexpr double kLeaderElectionJitterFactor = 1.2;

struct LeaderElectionCallbacks {
  // This replica became the leader.
  std::function<void()> on_started_leading;
  // This replica stopped leading (lost the Lease, or Stop()).
  std::function<void()> on_stopped_leading;
  // Optional: the observed holder changed (also to this replica).
  std::function<void(const std::string& identity)> on_new_leader;
};

struct LeaderElectionConfig {
  std::string lease_namespace;
  std::string lease_name;
  // Unique among candidates: the pod name.
  std::string identity;
  absl::Duration lease_duration = absl::Seconds(15);
  absl::Duration renew_deadline = absl::Seconds(10);
  absl::Duration retry_period = absl::Seconds(2);
  // Release the Lease on Stop() so a standby need not wait for expiry.
  bool release_on_cancel = true;
  LeaderElectionCallbacks callbacks;
  // nullptr: RealClock().
  client::Clock* clock = nullptr;
  // nullptr: DefaultLogger().
  const Logger* logger = nullptr;
};

// InvalidArgument naming the offending field (e.g. "renew_deadline (3s) must
// be greater than retry_period (3s) x 1.2").
absl::Status ValidateLeaderElectionConfig(const LeaderElectionConfig& config);

// Bounds the RestClient an elector uses (its own; not shared with other
// work): every request gives up after a quarter of renew_deadline (at least
// 500 ms; connecting included) and is never retried by the client (the
// elector tries again every retry_period), so an attempt, a GET and a PUT,
// ends before the renew deadline and a frozen connection holds the
// elector's attempt thread only that long.
void ConfigureLeaderElectionClient(absl::Duration renew_deadline,
                                   client::Config* config,
                                   client::RestClientOptions* options);

class LeaderElector {
 public:
  // Validates the config; client must outlive the elector.
  static absl::StatusOr<std::unique_ptr<LeaderElector>> Create(
      client::Client* client, LeaderElectionConfig config);
  // Stops.
  ~LeaderElector();

  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Starts competing, on a thread of its own. Once.
  void Start();
  // Stops competing; if leading, stops leading (and releases the Lease when
  // release_on_cancel). Returns when the elector's thread has ended. Not
  // from a callback.
  void Stop();

  // Leading and the last successful renewal is less than renew_deadline old.
  bool IsLeader() const;
  // The holder last observed in the Lease ("" when none).
  std::string LeaderIdentity() const;

  struct Stats {
    int64_t attempts = 0;  // acquire/renew attempts started
    // Attempts whose result the elector took, or stopped waiting for.
    int64_t finished = 0;
    // Attempts still running when the renew deadline came (or when Stop()
    // was called); the elector stepped down without waiting for them.
    int64_t abandoned = 0;
  };
  Stats stats() const;

 private:
  LeaderElector(client::Client* client, LeaderElectionConfig config);

  void Run();
  enum class Attempt {
    kHolding,      // this replica holds the Lease now
    kHeldByOther,  // another replica holds an unexpired Lease
    kFailed,       // an API error or a lost race (conflict)
  };
  // One read and (maybe) write of the Lease. A read that returns at or
  // after `deadline` is not acted on (kFailed).
  Attempt TryAcquireOrRenew(absl::Time deadline);
  // Runs TryAcquireOrRenew(deadline) on the attempt thread and waits for it
  // until `deadline` on the clock; nullopt when it is still running then, or
  // when stopping. Waits first for an earlier attempt left running.
  std::optional<Attempt> RunAttempt(absl::Time deadline);
  // The attempt thread's loop.
  void RunAttempts();
  // Waits until no attempt runs (after one was abandoned).
  void AwaitNoAttempt();
  // Clears the holder if this replica still holds the Lease.
  void Release();
  // Waits until `deadline` on the clock; false when stopping.
  bool WaitUntil(absl::Time deadline);
  // Records the Lease spec as seen at `seen` (when the read or write that
  // returned it came back).
  void Observe(const nlohmann::json& spec, absl::Time seen);
  void ReportLeader();

  client::Client* const client_;
  const LeaderElectionConfig config_;
  client::Clock* const clock_;
  const Logger log_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_renew_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // The Lease spec as last seen, and when (local clock) it last changed.
  nlohmann::json observed_spec_ ABSL_GUARDED_BY(mu_);
  absl::Time observed_time_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string observed_holder_ ABSL_GUARDED_BY(mu_);
  // When another holder's Lease expires unless its record changes.
  absl::Time holder_expiry_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // The attempt thread's mailbox: one attempt at a time.
  bool attempt_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool attempt_running_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time attempt_deadline_ ABSL_GUARDED_BY(mu_);
  std::optional<Attempt> attempt_result_ ABSL_GUARDED_BY(mu_);
  bool attempts_done_ ABSL_GUARDED_BY(mu_) = false;  // the thread may end
  Stats stats_ ABSL_GUARDED_BY(mu_);
  // Only touched by the elector's thread.
  std::string reported_leader_;

  std::thread thread_;
  std::thread attempt_thread_;
};

}  // namespace zenlead::runtime

#endif  // ZEN_LEAD_API_RUNTIME_LEADER_ELECTION_H_
