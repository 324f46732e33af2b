// The operator process: configuration, the Kubernetes client, the HTTP
// (/metrics, /healthz, /readyz) and gRPC (LeaderService) servers, the
// controllers, and the operator's own leader election among its replicas.
//
// Every replica starts the controllers' informers, so a standby's caches are
// warm; once they have synced, replicas compete for a Lease and only the
// leader runs workers (the part that writes). A replica that loses the Lease
// stops its workers and Run returns an error, so the process exits non-zero
// and restarts clean, as controller-runtime does. Shutdown() stops the
// workers, then releases the Lease (a standby takes over within one retry
// period), then stops the servers; Run then returns OK.
//
//   ManagerOptions options;                       // from flags (main.cc)
//   options.leader_elect = true;
//   options.identity = "zen-lead-operator-7c9f-abcde";
//   Manager manager(std::move(options), [](const ControllerContext& ctx) {
//     std::vector<std::unique_ptr<Controller>> out;
//     out.push_back(NewTrafficDirector(ctx));
//     return out;
//   });
//   std::thread signals([&] { WaitForSigterm(); manager.Shutdown(); });
//   absl::Status s = manager.Run();               // blocks
#ifndef ZEN_LEAD_OPERATOR_MANAGER_H_
#define ZEN_LEAD_OPERATOR_MANAGER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/client/rest_client.h"
#include "api/pool/cache.h"
#include "api/runtime/event_recorder.h"
#include "api/runtime/leader_election.h"
#include "api/runtime/leader_guarded_client.h"
#include "api/runtime/logging.h"
#include "api/runtime/metrics.h"
#include "api/runtime/runtime_metrics.h"
#include "operator/controller.h"
#include "operator/heap_trimmer.h"
#include "operator/leaderservice/leader_registry.h"

namespace zenlead::op {

// Default listening addresses (the flags' defaults too). Metrics and the
// LeaderService answer anyone who connects, so they stay on loopback until
// they authenticate their clients; config/manager opens them to the cluster
// explicitly, behind config/network-policy. Probes listen everywhere: the
// kubelet connects to the pod's IP.
inline constexpr char kDefaultMetricsBindAddress[] = "127.0.0.1:8080";
inline constexpr char kDefaultHealthProbeBindAddress[] = ":8081";
inline constexpr char kDefaultGrpcBindAddress[] = "127.0.0.1:9090";

struct ManagerOptions {
  // A kubeconfig path; "" for LoadConfig's order ($KUBECONFIG, in-cluster,
  // ~/.kube/config).
  std::string kubeconfig;
  // Watch only this namespace; "" for all.
  std::string ns;

  bool leader_elect = false;
  // "" for $POD_NAMESPACE, else "zen-lead-system" (ResolveDefaults).
  std::string leader_election_namespace;
  std::string leader_election_id = "zen-lead-operator";
  absl::Duration lease_duration = absl::Seconds(15);
  absl::Duration renew_deadline = absl::Seconds(10);
  absl::Duration retry_period = absl::Seconds(2);
  // "" for $POD_NAME, else "<hostname>_<pid>" (ResolveDefaults).
  std::string identity;

  // "host:port" / ":port" (port 0: any free port); "0" disables.
  std::string metrics_bind_address = kDefaultMetricsBindAddress;
  std::string health_probe_bind_address = kDefaultHealthProbeBindAddress;
  std::string grpc_bind_address = kDefaultGrpcBindAddress;

  // Client-side rate limit of the API client.
  double qps = 20;
  int burst = 30;

  // How long the controllers' caches may take to sync at start.
  absl::Duration cache_sync_timeout = absl::Minutes(2);
  // How long Shutdown waits for in-flight gRPC calls and queued Events.
  absl::Duration shutdown_grace = absl::Seconds(3);
  // How often free heap pages go back to the kernel once the caches have
  // synced (heap_trimmer.h); zero disables.
  absl::Duration heap_trim_interval = absl::Seconds(10);

  // nullptr: runtime::DefaultLogger().
  const runtime::Logger* logger = nullptr;
};

// Environment lookups for ResolveDefaults; tests pass their own.
struct ProcessEnvironment {
  std::function<std::string(const std::string&)> get_env;  // "" when unset
  std::function<std::string()> hostname;
  std::function<int()> pid;
  // The real process environment.
  static ProcessEnvironment Real();
};

// Fills identity and leader_election_namespace when empty (see above).
ManagerOptions ResolveDefaults(
    ManagerOptions options,
    const ProcessEnvironment& env = ProcessEnvironment::Real());

// InvalidArgument naming the flag: bad bind addresses, non-positive
// durations, renew deadline not below the lease duration, retry period too
// close to the renew deadline (client-go's 1.2 factor), empty identity or
// namespace with --leader-elect, qps/burst out of range.
absl::Status ValidateOptions(const ManagerOptions& options);

// What the manager hands to controller factories. Pointers stay valid until
// the controllers are destroyed.
struct ControllerContext {
  // The shared client, for writes and reads outside informers.
  client::RestClient* client = nullptr;
  // A client with its own rate-limit budget for failover writes.
  client::RestClient* failover_client = nullptr;
  // `client` and `failover_client` for the controllers' writes: each write
  // is refused unless this replica leads at that moment (with
  // --leader-elect: LeaderElector::IsLeader()).
  client::Client* writer = nullptr;
  client::Client* failover_writer = nullptr;
  // Work queue metrics (zen_lead_workqueue_*), registered in `metrics`.
  const runtime::WorkQueueMetricFamilies* queue_metrics = nullptr;
  // The process's one cache (every controller and, later, the webhook read
  // it): controllers register their informers and handlers on it in
  // Start(); the manager starts it after every controller's Start and stops
  // it after every controller's Stop, before destroying them.
  pool::Cache* cache = nullptr;
  LeaderRegistry* registry = nullptr;
  runtime::Registry* metrics = nullptr;
  runtime::EventRecorder* events = nullptr;
  runtime::Logger logger;
  // --namespace ("" for all).
  std::string ns;
  // This replica (--identity).
  std::string identity;
};

using ControllerFactory =
    std::function<absl::StatusOr<std::vector<std::unique_ptr<Controller>>>(
        const ControllerContext&)>;

class Manager {
 public:
  // options are used as given: call ResolveDefaults first.
  Manager(ManagerOptions options, ControllerFactory factory);
  ~Manager();

  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // Runs until Shutdown() (returns OK) or until the Lease is lost (returns
  // Aborted) or startup fails (the error). Once.
  absl::Status Run() ABSL_LOCKS_EXCLUDED(mu_);

  // Asks Run to stop gracefully. Thread-safe, idempotent, returns at once
  // (not async-signal-safe: call it from a thread, not a signal handler).
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

  // The registry that /metrics serves and the LeaderService reads.
  runtime::Registry& metrics() { return metrics_; }
  LeaderRegistry& registry() { return registry_; }

 private:
  struct Servers;

  absl::Status RunInternal(Servers& servers) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status StartServers(Servers& servers);
  // Waits until every controller has synced; false on shutdown or timeout.
  absl::Status WaitForSync() ABSL_LOCKS_EXCLUDED(mu_);
  // Leader or not, per the election; returns when shutting down or lost.
  absl::Status Lead() ABSL_LOCKS_EXCLUDED(mu_);
  void SetWorkers(bool running);
  bool Ready() const ABSL_LOCKS_EXCLUDED(mu_);
  // Whether the controllers may write now (the writers' guard).
  bool MayWrite() const;
  // /healthz's "controllers" check: every started controller's Healthy().
  absl::Status ControllersHealthy() const ABSL_LOCKS_EXCLUDED(health_mu_);
  // Starts the controllers, each asked by /healthz once started.
  absl::Status StartControllers() ABSL_LOCKS_EXCLUDED(health_mu_);

  const ManagerOptions options_;
  const ControllerFactory factory_;
  const runtime::Logger log_;

  runtime::Registry metrics_;
  runtime::Gauge* is_leader_ = nullptr;
  LeaderRegistry registry_;
  std::unique_ptr<client::RestClient> client_;
  // Clients with their own rate-limit budgets: the operator's own Lease and
  // the controllers' failover writes never wait behind routine writes.
  std::unique_ptr<client::RestClient> election_client_;
  std::unique_ptr<client::RestClient> failover_client_;
  // Lists and watches of the shared cache (every informer's, each
  // cancelling its own).
  std::unique_ptr<client::RestClient> watch_client_;
  std::unique_ptr<pool::Cache> cache_;
  std::unique_ptr<HeapTrimmer> trimmer_;
  // Set by Lead() (Run's thread); MayWrite reads it from any thread.
  std::unique_ptr<runtime::LeaderElector> elector_;
  std::atomic<const runtime::LeaderElector*> leader_check_{nullptr};
  std::unique_ptr<runtime::LeaderGuardedClient> writer_;
  std::unique_ptr<runtime::LeaderGuardedClient> failover_writer_;
  std::unique_ptr<runtime::WorkQueueMetricFamilies> queue_metrics_;
  std::unique_ptr<runtime::EventRecorder> events_;
  std::vector<std::unique_ptr<Controller>> controllers_;
  bool workers_running_ = false;  // Only touched by Run's thread.

  mutable absl::Mutex mu_;
  bool shutdown_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  // Set by the elector's callbacks, acted on by Run's thread.
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
  bool lost_lease_ ABSL_GUARDED_BY(mu_) = false;

  // The started controllers /healthz asks, emptied before they stop. A
  // reader lock per probe, so the writer (Run's thread) waits for checks in
  // flight before the controllers go away.
  mutable absl::Mutex health_mu_;
  std::vector<const Controller*> started_ ABSL_GUARDED_BY(health_mu_);
};

}  // namespace zenlead::op

#endif  // ZEN_LEAD_OPERATOR_MANAGER_H_
