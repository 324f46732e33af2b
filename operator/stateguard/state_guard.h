// StateGuard, the operator's side (SPEC §3.3, docs/admission.md): for every
// pool with a Job or CronJob among its sources it keeps the pool Lease in
// step with the pool's pods (binds a reservation to the pod the webhook
// admitted, releases a finished or deleted holder, expires a reservation
// whose pod never came, renews a running holder, adopts a pod that got past
// admission) through pool::DecideGuardLease and one write conditioned on
// resourceVersion, and reports: the LeaderPolicy status (phase Stable with
// the active pod as currentHolder, Idle while no pod is active), a Normal
// Event `JobWaiting` on each Job that waits for the pool, Warnings
// `TwoActivePods` and `MixedPool`, and the LeaderService registry entry.
// The webhook admits (webhook/gatekeeper.h); this controller never denies
// or deletes a pod.
//
// Level-triggered on the process's shared cache, like the TrafficDirector
// (which leaves these pools alone): events say which pool to look at, a
// reconcile reads the cache and converges, and is safe to run twice.
//
//   StateGuardDeps deps{.writer = client, .cache = &cache, ...};
//   StateGuard sg(deps, StateGuardOptions{});
//   sg.Start();   // informers and handlers on the cache, before cache.Start
//   ... sg.HasSynced() ...
//   sg.StartWorkers();  // on the elected replica
//   sg.StopWorkers();
#ifndef ZEN_LEAD_OPERATOR_STATEGUARD_STATE_GUARD_H_
#define ZEN_LEAD_OPERATOR_STATEGUARD_STATE_GUARD_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "api/client/client.h"
#include "api/client/clock.h"
#include "api/pool/cache.h"
#include "api/pool/objects.h"
#include "api/runtime/informer.h"
#include "api/runtime/logging.h"
#include "api/runtime/metrics.h"
#include "api/runtime/runtime_metrics.h"
#include "api/runtime/workqueue.h"
#include "operator/controller.h"
#include "operator/leaderservice/leader_registry.h"
#include "operator/stateguard/report.h"

namespace zenlead::op {

struct StateGuardDeps {
  // The Lease and status writes, and the Lease read the cache cannot
  // answer. Not owned.
  client::Client* writer = nullptr;
  // The process's shared cache. Not owned.
  pool::Cache* cache = nullptr;
  // Optional: the LeaderService entry of each pool (its active pod).
  LeaderRegistry* registry = nullptr;
  // Optional: zen_lead_stateguard_* metrics.
  runtime::Registry* metrics = nullptr;
  // Optional: where Events go.
  std::function<void(const EventInfo&)> record_event;
  // nullptr: RealClock().
  client::Clock* clock = nullptr;
  const runtime::WorkQueueMetricFamilies* queue_metrics = nullptr;
};

struct StateGuardOptions {
  int workers = 2;
};

class StateGuard : public Controller {
 public:
  StateGuard(StateGuardDeps deps, StateGuardOptions options);
  ~StateGuard() override;

  absl::Status Start() override;
  bool HasSynced() const override;
  void StartWorkers() override;
  void StopWorkers() override;
  void Stop() override;

  // One pool: the Lease, then the report. OK for a pool that is not
  // StateGuard's (no Job or CronJob names it).
  absl::Status Reconcile(const pool::PoolKey& key);

 private:
  struct PoolMemory {
    int64_t token_high_water = 0;
    // "<uid>/<reason>" -> message: each Event recorded once while it lasts.
    std::map<std::string, std::string> reported;
  };

  void Enqueue(const std::string& pool_key);
  void EnqueueAfter(const std::string& pool_key, absl::Duration after);
  void EnqueueAll();
  // The StateGuard pools an object of `kind` brings its pods into.
  std::vector<std::string> PoolsOf(const nlohmann::json& obj,
                                   const std::string& kind) const;
  void RunWorker(runtime::WorkQueue* queue);
  void Emit(const EventInfo& e) const;

  const StateGuardDeps deps_;
  const StateGuardOptions options_;
  client::Clock* const clock_;
  const runtime::Logger log_;
  std::vector<runtime::Informer*> informers_;
  std::unique_ptr<runtime::WorkQueueMetrics> queue_metrics_;
  runtime::CounterFamily* violations_ = nullptr;
  runtime::CounterFamily* expiries_ = nullptr;

  mutable absl::Mutex mu_;
  std::shared_ptr<runtime::WorkQueue> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, PoolMemory> pools_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zenlead::op

#endif  // ZEN_LEAD_OPERATOR_STATEGUARD_STATE_GUARD_H_
