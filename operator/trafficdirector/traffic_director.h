// TrafficDirector: the controller behind SPEC §3.1. For every pool (a
// LeaderPolicy, and the Deployments, StatefulSets and enabled Services that
// name it; Jobs and CronJobs are StateGuard's and never routed) it elects one
// leader pod and routes each source's leader Service (`<source>-leader`, or
// the name a Service's zen-lead.io/leader-service-name gives) to it through
// an EndpointSlice with exactly one endpoint, records the pool Lease
// (fencing token = leaseTransitions), the LeaderPolicy status, Events and
// metrics. Its decisions are the pure functions of planner.h, its writes
// those of writer.h; this class reads the snapshot, runs the work items
// (route, publish, renew) and keeps the pools' memory.
//
// Level-triggered: the process's shared cache keeps policies, workloads,
// ReplicaSets, Services, pods (projected), and zen-lead's own EndpointSlices
// and Leases; events only say which pool to look at; a reconcile reads the
// caches and converges, and is safe to run twice. Failover is event-driven:
// the pod update that removes the leader's readiness queues the pool at once
// and the reconcile writes the EndpointSlice first.
//
//   pool::Cache cache(pool::CacheDeps{.watch_client = watch.get()}, {});
//   TrafficDirectorDeps deps{.writer = client.get(), .cache = &cache,
//                            .registry = &registry, .metrics = &metrics};
//   auto td = std::make_unique<TrafficDirector>(deps,
//                                               TrafficDirectorOptions{});
//   td->Start();   // registers its informers and handlers on the cache
//   cache.Start();
//   ... td->HasSynced() ...
//   td->StartWorkers();
//   td->Stop();
//   cache.Stop();
//   td.reset();
#ifndef ZEN_LEAD_OPERATOR_TRAFFICDIRECTOR_TRAFFIC_DIRECTOR_H_
#define ZEN_LEAD_OPERATOR_TRAFFICDIRECTOR_TRAFFIC_DIRECTOR_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/client/client.h"
#include "api/client/clock.h"
#include "api/client/rest_client.h"
#include "api/pool/cache.h"
#include "api/pool/membership.h"
#include "api/pool/objects.h"
#include "api/pool/work_item.h"
#include "api/runtime/informer.h"
#include "api/runtime/logging.h"
#include "api/runtime/metrics.h"
#include "api/runtime/own_writes.h"
#include "api/runtime/runtime_metrics.h"
#include "api/runtime/workqueue.h"
#include "operator/controller.h"
#include "operator/leaderservice/leader_registry.h"
#include "operator/trafficdirector/planner.h"
#include "operator/trafficdirector/writer.h"

namespace zenlead::op {

struct TrafficDirectorDeps {
  // Routine writes: creates (POST), JSON merge patches and deletes, and the
  // reads the cache cannot answer (an object whose name is already taken,
  // a pool Lease not cached yet). Not owned.
  client::Client* writer = nullptr;
  // EndpointSlice writes (the failover itself). A client of its own, so a
  // failover never waits behind routine writes in the client-side rate
  // limiter. Not owned; nullptr: `writer`.
  client::Client* failover_writer = nullptr;
  // The process's shared cache (api/pool/cache.h). Not owned. Start()
  // registers this controller's informers and handlers on it; the owner
  // starts it after Start(), and stops it before destroying the controller.
  pool::Cache* cache = nullptr;
  LeaderRegistry* registry = nullptr;
  // Optional.
  runtime::Registry* metrics = nullptr;
  // Optional: where Events go (the event recorder).
  std::function<void(const EventInfo&)> record_event;
  // nullptr: RealClock().
  client::Clock* clock = nullptr;
  // Optional: exports the work queue's depth and latencies.
  const runtime::WorkQueueMetricFamilies* queue_metrics = nullptr;
};

struct TrafficDirectorOptions {
  // "" watches every namespace.
  std::string ns;
  int workers = 4;
  // Healthy() fails when a worker has been on one key, or an informer in
  // one handler call, this long. Above the API client's worst case for one
  // request (30 s x 6 attempts with backoff, about 3 minutes), so a slow API
  // server alone never gets the operator restarted.
  absl::Duration wedged_after = absl::Minutes(5);
  // A new pool whose pods are still starting gets no NoReadyCandidates
  // Warning until this long after its first reconcile (unless it had a
  // leader and lost it).
  absl::Duration no_candidates_grace = absl::Seconds(60);
  // The pool Lease of a pool without a LeaderPolicy (nothing garbage-
  // collects it) is deleted once the pool has had no member and no renewal
  // this long: a workload deleted and created again meanwhile (a Helm
  // reinstall, a GitOps replace) keeps counting its fencing token.
  absl::Duration orphan_lease_grace = absl::Minutes(10);
};

class TrafficDirector : public Controller {
 public:
  TrafficDirector(TrafficDirectorDeps deps, TrafficDirectorOptions options);
  ~TrafficDirector() override;

  absl::Status Start() override;
  bool HasSynced() const override;
  void StartWorkers() override;
  void StopWorkers() override;
  void Stop() override;

  // For /healthz: OK while every informer delivers events (its threads
  // run, no handler call has taken longer than options.wedged_after) and
  // every worker makes progress (none has been on one key that long: a
  // write that never returns).
  absl::Status Healthy() const override;

  // Routes one pool now (a worker's kReconcile): elects its leader from the
  // cache and writes its EndpointSlices, the failover, then queues the
  // publish. Nothing else waits on this path.
  absl::Status Reconcile(const pool::PoolKey& key);
  // Publishes the leader the slices route to (kPublish): the pool Lease,
  // the leader Services' annotations, Events, the registry, the status,
  // the cleanup of sources that left. Its own work item, so a failover of
  // the pool never queues behind these writes; it writes nothing for a
  // leader lost meanwhile (the route of the next one comes first).
  absl::Status Publish(const pool::PoolKey& key);
  // Renews the pool Lease of a leader that can still lead (a merge patch of
  // renewTime), without a full reconcile: the upkeep that runs for every
  // pool every leaseDuration - renewDeadline seconds.
  absl::Status Renew(const pool::PoolKey& key);

 private:
  using PoolState = PoolMemory;

  struct Informers;

  void Enqueue(const std::string& pool_key,
               runtime::Priority priority = runtime::Priority::kNormal);
  void EnqueueAll();
  void OnPodEvent(const runtime::ObjectPtr& old_pod,
                  const runtime::ObjectPtr& new_pod);
  // On a standby (no workers), copies the pool Lease's holder into the
  // leader registry, so every replica answers the LeaderService.
  void MirrorLease(const std::string& pool_key);
  // The pools of routed sources (Deployment, StatefulSet, Service) an
  // object belongs to (api/pool/membership.h). kind: "Pod" or "ReplicaSet".
  // An ownerReference cycle on the way is reported.
  std::set<std::string> PoolsOf(const nlohmann::json& obj,
                                const std::string& kind) const;
  void ReportCycle(const pool::OwnerNode& at,
                   const pool::OwnerRef& owner) const;
  // The sources (as cached objects: Deployment, StatefulSet, or Service
  // when kind is nullopt) in `ns` whose leader Service has this name, and
  // them as Sources.
  struct Named {
    std::optional<pool::Source::Kind> kind;
    runtime::ObjectPtr object;
  };
  std::vector<Named> ObjectsNamed(const std::string& ns,
                                  const std::string& leader_name) const;
  static std::vector<pool::Source> SourcesOfNamed(
      const std::vector<Named>& named);
  // The pools of `obj`'s (a workload's or a Service's) namesakes: sources
  // whose leader Service has the name that `obj`'s has, or is.
  std::vector<std::string> PoolsSharingLeaderName(
      const nlohmann::json& obj) const;
  // Why zen-lead may not write `s`'s leader Service and EndpointSlice
  // (reason, message), or nullopt when it may.
  // svc, slice: the cached objects of its leader Service's name, if any.
  std::optional<std::pair<std::string, std::string>> ClaimProblem(
      const pool::Source& s, const runtime::ObjectPtr& svc,
      const runtime::ObjectPtr& slice) const;
  // The sources this controller routes (Deployments, StatefulSets,
  // Services) among a pool's (Cache::SourcesOf).
  static std::vector<pool::Source> Routed(std::vector<pool::Source> all);
  // The pool as cached now.
  PoolSnapshot Snapshot(const pool::PoolKey& key, absl::Time now,
                        const runtime::ObjectPtr& policy,
                        std::vector<pool::Source> sources) const;
  // The pool has no policy and no member: its memory, registry entry and
  // leader objects go, and its Lease after options.orphan_lease_grace.
  absl::Status Forget(const pool::PoolKey& key, absl::Time now);
  // A publish that stops for a newer route returns the change it took.
  void GiveBack(const std::string& pool_key, const RouteOutcome& taken,
                const PoolState& state);
  // Deletes zen-lead's leader Services and slices of the pool whose source
  // is not in `keep_sources` (by name).
  absl::Status Cleanup(const pool::PoolKey& key,
                       const std::set<std::string>& keep_sources);
  // Records how late a renewal of `lease` (as read) was against `every`.
  void ObserveRenewal(const pool::LeaseState& lease, absl::Duration every,
                      absl::Time now);
  // Whether a pod event saw the pool's leader lose the ability to lead
  // after `since` (a failover is waiting for this reconcile to end).
  bool LossPending(const std::string& pool_key, absl::Time since) const;
  // Records a Warning once per (object, reason) while it lasts.
  void WarnOnce(PoolState& state, const EventInfo& e);
  void Emit(const EventInfo& e) const;
  void RunWorker(runtime::WorkQueue* queue, size_t index);

  TrafficDirectorDeps deps_;
  const TrafficDirectorOptions options_;
  // The versions of the writes below, so that their watch events (echoes)
  // queue no reconcile: a failover's slice, Lease, leader Service and status
  // writes would otherwise keep the pool's key busy when the next loss
  // comes.
  runtime::OwnWrites own_writes_;
  runtime::RecordingClient recording_writer_;
  runtime::RecordingClient recording_failover_writer_;
  PoolWriter writer_;
  client::Clock* const clock_;
  const runtime::Logger log_;
  std::unique_ptr<Informers> informers_;

  mutable absl::Mutex mu_;
  std::map<std::string, PoolState> pools_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<runtime::WorkQueue> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
  // Per worker: the key it is on and since when (InfinitePast: idle).
  struct WorkerProgress {
    std::string key;
    absl::Time since = absl::InfinitePast();
  };
  std::vector<WorkerProgress> progress_ ABSL_GUARDED_BY(mu_);
  // Objects whose ownerReference cycle was reported (by UID).
  mutable std::set<std::string> cycles_reported_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<runtime::WorkQueueMetrics> queue_metrics_;
  // Retry delays of failed Lease renewals: 200 ms doubling up to the
  // default renewal interval.
  runtime::ExponentialFailureRateLimiter renew_backoff_{absl::Milliseconds(200),
                                                        absl::Seconds(5)};

  // Metrics (null when deps_.metrics is null).
  runtime::CounterFamily* leader_changes_ = nullptr;
  runtime::HistogramFamily* failover_latency_ = nullptr;
  runtime::GaugeFamily* pools_gauge_ = nullptr;
  runtime::GaugeFamily* candidates_gauge_ = nullptr;
  runtime::HistogramFamily* reconcile_duration_ = nullptr;
  runtime::CounterFamily* reconcile_errors_ = nullptr;
  runtime::HistogramFamily* renewal_lateness_ = nullptr;
};

}  // namespace zenlead::op

#endif  // ZEN_LEAD_OPERATOR_TRAFFICDIRECTOR_TRAFFIC_DIRECTOR_H_
