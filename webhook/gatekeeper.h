// The Pod CREATE decision for a pod of a pool (SPEC §3.2-3.3): the
// Gatekeeper (a Deployment or StatefulSet pool in `followerMode: scaleDown`)
// and StateGuard (a pool of Jobs and CronJobs) admit at most one active pod
// per pool. A pod is denied while the cache shows an active pod of the pool
// or the pool Lease names a holder or a reservation in force; otherwise the
// admission is written to the pool Lease as a reservation, an update
// conditioned on resourceVersion (api/pool/pool_lease.h), so two creates on
// two webhook replicas cannot both pass. Every error denies: the pod's
// controller retries a denied pod, a wrongly admitted one would be a second
// active pod. A pod of a pool with no guard (standby mode, a Service's pool)
// is allowed ("InPool").
//
//   pool::OwnerReader reader(client, nullptr);
//   GuardOptions options;
//   options.replica = pod_name;  // the requester recorded on the Lease
//   GuardedPods guarded(&cache, client, &reader, options);
//   PodAdmission pods(&cache, &guarded);
//
// The cache must use kPolicies, kLeases, kOtherLeases, kPods, kReplicaSets,
// kJobs and the workload kinds (AdmissionController::Start does).
//
// Compiled in gatekeeper_test.cc.
#ifndef ZEN_LEAD_WEBHOOK_GATEKEEPER_H_
#define ZEN_LEAD_WEBHOOK_GATEKEEPER_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/client/client.h"
#include "api/client/clock.h"
#include "api/pool/cache.h"
#include "api/pool/guard_lease.h"
#include "api/pool/membership.h"
#include "api/pool/objects.h"
#include "api/pool/pool_lease.h"
#include "api/types/admissionreview.h"
#include "nlohmann/json.hpp"
#include "webhook/admission_review.h"
#include "webhook/server.h"

namespace zenlead::webhook {

// Active (SPEC §3.2): the pod object exists and its phase is neither
// Succeeded nor Failed (pool::FinishedPhase). A terminating pod is active:
// its containers may still run.
bool ActivePod(const nlohmann::json& pod);

// One guarded pool of a pod, with what its LeaderPolicy says.
struct GuardedPool {
  pool::PoolKey pool;
  pool::Guard guard = pool::Guard::kNone;
  pool::PolicySettings policy;
  // The largest fencing token reported in the policy's status.
  int64_t high_water = 0;
  // The sources through which the pod joins it (for the cache's pods).
  std::vector<pool::Source> sources;
};

// The guarded pools among `pools` (sorted by pool), their settings from
// `policy_of` (the LeaderPolicy object of a pool, nullopt: none, so the
// defaults apply: a Job pool without a LeaderPolicy is still guarded).
std::vector<GuardedPool> GuardedPoolsOf(
    const std::vector<pool::Membership>& pools,
    const std::function<std::optional<nlohmann::json>(const pool::PoolKey&)>&
        policy_of);

struct GuardOptions {
  // This webhook replica's name (its pod name): a reservation's requester
  // is "<replica>/<admission request uid>".
  std::string replica = "zen-lead";
  // A reservation write must end this long before the request's deadline,
  // so the denial a conflict ends in still reaches the API server in time.
  absl::Duration answer_margin = absl::Milliseconds(300);
};

class GuardedPods : public AdmissionHandler {
 public:
  // Not owned; all must outlive the handler. reader: may be nullptr (an
  // owner not cached is then "membership unknown": denied). clock nullptr:
  // RealClock().
  GuardedPods(const pool::Cache* cache, client::Client* client,
              pool::OwnerReader* reader, GuardOptions options,
              const client::Clock* clock = nullptr);

  // Reasons: "InPool" (allowed, no guard), "Admitted" (a reservation
  // written, or this request's own found again), "DryRun" (a dry run that
  // would be admitted; nothing written), and denials "PoolActive" (the
  // cache shows an active pod of the pool), "PoolHeld" (the Lease holds or
  // reserves the pool for another pod), "LeaseConflict" (a Lease of the
  // pool's name zen-lead does not manage), "MembershipUnknown" (an owner
  // could not be read) and "ReservationFailed" (the write failed or ran out
  // of time).
  Decision Review(const k8s::AdmissionRequest& request,
                  absl::Time deadline) override;
  // True when the cache alone shows the pod in a guarded pool or cannot
  // tell its membership (an owner not cached): such a pod is denied when
  // its review is undecided, whatever the failure policy.
  bool MustDecide(const k8s::AdmissionRequest& request) override;

 private:
  // The pod's guarded pools (its membership through `reader`, nullptr:
  // the cache alone); an error when an owner cannot be resolved.
  absl::StatusOr<std::vector<GuardedPool>> PoolsOf(
      const k8s::AdmissionRequest& request, pool::OwnerReader* reader) const;
  // An active pod of the pool in the cache: the first one found, confirmed from
  // the API server when it is terminating (its deletion may not have reached
  // the cache yet). nullopt: none.
  std::optional<nlohmann::json> ActivePodOf(const GuardedPool& g) const;
  // Whether the pod holding the Lease is gone or finished, read
  // authoritatively (the cache for a finished pod, the API server for one
  // the cache no longer has). False when it cannot be told.
  bool HolderGone(const GuardedPool& g, const pool::LeaseRead& read) const;

  const pool::Cache* const cache_;
  client::Client* const client_;
  pool::OwnerReader* const reader_;
  const GuardOptions options_;
  const client::Clock* const clock_;
};

}  // namespace zenlead::webhook

#endif  // ZEN_LEAD_WEBHOOK_GATEKEEPER_H_
