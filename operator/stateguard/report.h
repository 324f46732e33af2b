// StateGuard's report of a Job/CronJob pool (SPEC §3.3), as a pure
// function: from the pool's sources, Jobs and pods as the cache shows them
// and the outcome of the pool Lease write (pool::DecideGuardLease), what the
// LeaderPolicy status says (phase Stable while a pod of the pool is active,
// Idle while none is; currentHolder the active pod), the Events (a Job that
// waits for the pool, two active pods, a pool that mixes Jobs with routed
// workloads) and the LeaderService registry entry. No clock, no cache, no
// API call: state_guard.h reads and writes.
//
//   GuardSnapshot snap = ...;                  // from the cache, at now
//   GuardOutcome outcome = ...;                // the Lease write's result
//   GuardReport report = PlanGuardReport(snap, outcome);
//   ... WarnOnce(report.warnings), Emit(report.events), patch report.status
//
// Compiled in report_test.cc.
#ifndef ZEN_LEAD_OPERATOR_STATEGUARD_REPORT_H_
#define ZEN_LEAD_OPERATOR_STATEGUARD_REPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "api/pool/guard_lease.h"
#include "api/pool/objects.h"
#include "api/pool/pool_lease.h"
#include "nlohmann/json.hpp"
#include "operator/leaderservice/leader_registry.h"
#include "operator/trafficdirector/planner.h"

namespace zenlead::op {

// A Job of the pool (a Job source, or a Job of a CronJob source).
struct GuardJob {
  std::string name;
  std::string uid;
  // Whether the cache holds its spec and status (a pool's own Jobs; a
  // CronJob's Jobs are cached by metadata only): only then can it be told
  // that it waits.
  bool known = false;
  bool suspended = false;
  // A Complete or Failed condition is True: it creates no more pods.
  bool finished = false;
};

// Reads a Job object (nullopt: not an object).
std::optional<GuardJob> GuardJobFromObject(const nlohmann::json& job);

struct GuardSnapshot {
  pool::PoolKey key;
  absl::Time now = absl::InfinitePast();
  // The LeaderPolicy (nullptr: none; no status is written then).
  const nlohmann::json* policy_object = nullptr;
  pool::PolicySettings policy;
  // Every source of the pool (Jobs and CronJobs, and any other kind that
  // names the pool: reported as a mixed pool).
  std::vector<pool::Source> sources;
  std::vector<GuardJob> jobs;
  // The pods of the Jobs and CronJobs, one per UID.
  std::vector<pool::GuardPod> pods;
};

// What the pool Lease write did.
struct GuardOutcome {
  // The Lease after the write (or as read when nothing was written;
  // nullopt: none, or unknown after an error).
  std::optional<pool::PoolLease> lease;
  bool lease_conflict = false;  // a Lease of that name zen-lead does not own
  // From pool::DecideGuardLease: the active pods (oldest first) and
  // whether there are two or more.
  std::vector<std::string> active;
  bool violation = false;
  absl::Status result;
  // The largest fencing token known for the pool (policy status, memory,
  // the Lease).
  int64_t token_high_water = 0;
};

struct GuardReport {
  // Recorded once while they last (by object UID and reason).
  std::vector<EventInfo> warnings;
  // Normal Events, recorded once per distinct message while they last
  // (JobWaiting).
  std::vector<EventInfo> notices;
  std::optional<pool::PoolStatus> status;
  PoolLeader registry;
};

GuardReport PlanGuardReport(const GuardSnapshot& snap,
                            const GuardOutcome& outcome);

}  // namespace zenlead::op

#endif  // ZEN_LEAD_OPERATOR_STATEGUARD_REPORT_H_
