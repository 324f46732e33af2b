// The operator's side of a guarded pool's Lease (the Gatekeeper and
// StateGuard, docs/admission.md): what the Lease must say given the pool's
// pods as the operator's cache shows them. The webhook writes admissions
// (reservations); the operator moves them on:
//   reserved, its pod appeared         -> held by the pod (BindReservation,
//                                          the admission's token)
//   reserved, expired, no pod came     -> free (ExpireReservation)
//   held, the holder gone or finished  -> free (ReleaseIfGone)
//   held, the holder active            -> renewed when due
//   free, an active pod (admitted while the webhook was down, or running
//   before the pool became guarded)    -> held by the oldest (token + 1)
// and reports more than one active pod as a violation. Pure: time and the
// pods are passed in; the write goes through WritePoolLease.
//
//   GuardDecision d = DecideGuardLease(current, pods, policy, high_water,
//                                      renew_every, now);
//   if (d.write) WritePoolLease(client, ns, pool, policy, read, ...);
//   if (d.violation) { /* Warning Event, condition: d.active names them */ }
//
// Compiled in guard_lease_test.cc.
#ifndef ZEN_LEAD_API_POOL_GUARD_LEASE_H_
#define ZEN_LEAD_API_POOL_GUARD_LEASE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "api/pool/election.h"
#include "api/pool/objects.h"
#include "api/pool/pool_lease.h"
#include "nlohmann/json.hpp"

namespace zenlead::pool {

// Which guard a membership puts a pod under: the one rule the webhook's
// admission and the operator's Lease writes share.
enum class Guard {
  kNone,        // TrafficDirector only (standby mode, or a Service's pool)
  kGatekeeper,  // a Deployment or StatefulSet pool in scaleDown
  kStateGuard,  // a Job or CronJob pool
};
Guard GuardOf(const Source& source, const PolicySettings& policy);
const char* GuardName(Guard guard);  // "none", "Gatekeeper", "StateGuard"
// A Job or CronJob source: GuardOf is kStateGuard whatever the policy says,
// and its pool is StateGuard's (operator/stateguard), not the
// TrafficDirector's.
bool StateGuarded(const Source& source);

// A pod of a guarded pool, as the operator's cache has it.
struct GuardPod {
  Candidate pod;   // name, uid, identity, created
  OwnerRef owner;  // its controller owner (empty: none)
  std::string phase;
};

// Not Succeeded and not Failed (a terminating pod is active).
bool GuardPodActive(const GuardPod& pod);

// Pod objects (cached projections) as the guard decision reads them, one
// per UID; objects without a UID are skipped.
std::vector<GuardPod> GuardPodsFrom(
    const std::vector<std::shared_ptr<const nlohmann::json>>& pods,
    const std::string& identity_strategy);

struct GuardDecision {
  // What the Lease must say; nullopt: nothing to write.
  std::optional<PoolLease> write;
  // The active pods, oldest first (by creation, then name).
  std::vector<std::string> active;
  // More than one pod active: a second one got past admission (the webhook
  // was unreachable under failurePolicy Ignore, or the pods predate the
  // guard).
  bool violation = false;
};

// current: the Lease as read (nullopt: none). A reservation binds only a
// matching pod created after the admission (within the second
// creationTimestamp is rounded to). An expired reservation with such a pod
// still binds: no newer admission happened. A holder the pods
// do not contain is gone (the cache drops a pod only once it is deleted).
GuardDecision DecideGuardLease(const std::optional<PoolLease>& current,
                               const std::vector<GuardPod>& pods,
                               const PolicySettings& policy, int64_t high_water,
                               absl::Duration renew_every, absl::Time now);

}  // namespace zenlead::pool

#endif  // ZEN_LEAD_API_POOL_GUARD_LEASE_H_
