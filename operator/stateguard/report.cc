#include "operator/stateguard/report.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/client/errors.h"
#include "api/runtime/meta.h"

namespace zenlead::op {
namespace {

using nlohmann::json;

bool ConditionTrue(const json& job, const char* type) {
  auto status = job.find("status");
  if (status == job.end() || !status->is_object()) return false;
  auto conditions = status->find("conditions");
  if (conditions == status->end() || !conditions->is_array()) return false;
  for (const json& c : *conditions) {
    if (c.is_object() && c.value("type", std::string()) == type &&
        c.value("status", std::string()) == "True") {
      return true;
    }
  }
  return false;
}

EventInfo PoolTarget(const GuardSnapshot& snap) {
  EventInfo e;
  e.ns = snap.key.ns;
  if (snap.policy_object != nullptr) {
    e.api_version = "coordination.kube-zen.io/v1alpha1";
    e.kind = "LeaderPolicy";
    e.name = snap.key.name;
    e.uid = runtime::MetadataString(*snap.policy_object, "uid");
    return e;
  }
  for (const pool::Source& s : snap.sources) {
    if (!pool::StateGuarded(s)) continue;
    e.api_version = s.ApiVersion();
    e.kind = s.KindName();
    e.name = s.name;
    e.uid = s.uid;
    break;
  }
  return e;
}

const pool::GuardPod* PodNamed(const GuardSnapshot& snap,
                               const std::string& name) {
  for (const pool::GuardPod& p : snap.pods) {
    if (p.pod.name == name) return &p;
  }
  return nullptr;
}

}  // namespace

std::optional<GuardJob> GuardJobFromObject(const json& job) {
  if (!job.is_object()) return std::nullopt;
  GuardJob out;
  out.name = runtime::MetadataString(job, "name");
  out.uid = runtime::MetadataString(job, "uid");
  auto spec = job.find("spec");
  out.known = spec != job.end() && spec->is_object();
  if (out.known) out.suspended = spec->value("suspend", false);
  out.finished = ConditionTrue(job, "Complete") || ConditionTrue(job, "Failed");
  return out;
}

GuardReport PlanGuardReport(const GuardSnapshot& snap,
                            const GuardOutcome& outcome) {
  GuardReport report;
  const std::string& ns = snap.key.ns;
  const std::string& pool = snap.key.name;
  const EventInfo target = PoolTarget(snap);
  std::vector<Problem> problems;
  auto warn = [&](const EventInfo& on, const std::string& reason,
                  const std::string& note) {
    problems.push_back({reason, note});
    EventInfo e = on;
    e.warning = true;
    e.reason = reason;
    e.note = note;
    if (!e.name.empty()) report.warnings.push_back(std::move(e));
  };

  if (outcome.lease_conflict) {
    warn(target, "LeaseConflict",
         absl::StrCat("a Lease named ", pool,
                      " exists and is not managed by zen-lead; rename the "
                      "pool or remove that Lease"));
  }
  if (outcome.violation) {
    warn(target, "TwoActivePods",
         absl::StrCat(
             "pool ", pool, " allows one active pod (StateGuard) and has ",
             outcome.active.size(), ": ", absl::StrJoin(outcome.active, ", "),
             "; a pod got past admission (the webhook unreachable under "
             "failurePolicy Ignore, or pods running before the pool was "
             "guarded); see kubectl get lease -n ",
             ns, " ", pool));
  }
  std::vector<std::string> routed;
  for (const pool::Source& s : snap.sources) {
    if (pool::StateGuarded(s)) continue;
    routed.push_back(absl::StrCat(s.KindName(), " ", s.name));
  }
  if (!routed.empty()) {
    warn(target, "MixedPool",
         absl::StrCat("pool ", pool, " has Jobs or CronJobs and also ",
                      absl::StrJoin(routed, ", "),
                      ": a pool with Jobs is StateGuard's, so every pod of "
                      "it counts towards its one active pod and no leader "
                      "Service is routed; give the Jobs a pool of their "
                      "own"));
  }
  if (!outcome.result.ok() && !client::IsConflict(outcome.result)) {
    problems.push_back({"WriteFailed", absl::StrCat("a write failed: ",
                                                    outcome.result.message())});
  }

  // Who runs: the Lease's holder when it is active, else the oldest active
  // pod (one admitted while the webhook was down, not yet adopted).
  const pool::GuardPod* holder = nullptr;
  if (outcome.lease && !outcome.lease->state.holder_uid.empty()) {
    for (const pool::GuardPod& p : snap.pods) {
      if (p.pod.uid == outcome.lease->state.holder_uid &&
          pool::GuardPodActive(p)) {
        holder = &p;
      }
    }
  }
  if (holder == nullptr && !outcome.active.empty()) {
    holder = PodNamed(snap, outcome.active.front());
  }
  const bool reserved =
      outcome.lease &&
      pool::PhaseOf(*outcome.lease) == pool::LeasePhase::kReserved &&
      !pool::ReservationExpired(*outcome.lease, snap.now);

  // A Job that would run and has no active pod waits for the pool.
  if (holder != nullptr || reserved) {
    const std::string busy =
        holder != nullptr ? absl::StrCat("pod ", holder->pod.name, " is active")
                          : std::string("a pod was just admitted");
    for (const GuardJob& j : snap.jobs) {
      if (!j.known || j.suspended || j.finished) continue;
      if (holder != nullptr && holder->owner.uid == j.uid) continue;
      if (reserved && outcome.lease->reservation &&
          outcome.lease->reservation->owner.uid == j.uid) {
        continue;
      }
      EventInfo e{"batch/v1",
                  "Job",
                  ns,
                  j.name,
                  j.uid,
                  false,
                  "JobWaiting",
                  absl::StrCat("Job ", j.name, " waits: pool ", pool,
                               " allows one active pod (StateGuard) and ", busy,
                               "; its pod is admitted once the pool is "
                               "free (kubectl get lease -n ",
                               ns, " ", pool, ")")};
      report.notices.push_back(std::move(e));
    }
  }

  PoolLeader& pl = report.registry;
  pl.ns = ns;
  pl.pool = pool;
  pl.fencing_token = outcome.lease ? outcome.lease->state.transitions : 0;
  if (holder != nullptr) {
    pl.has_leader = true;
    pl.holder_identity = holder->pod.identity;
    pl.pod_name = holder->pod.name;
    pl.pod_uid = holder->pod.uid;
    pl.pod_ip = holder->pod.pod_ip;
    if (outcome.lease && outcome.lease->state.holder_uid == holder->pod.uid) {
      pl.since = outcome.lease->state.acquire_time;
    }
  }

  if (snap.policy_object == nullptr) return report;
  pool::PoolStatus st;
  st.observed_generation = snap.policy.generation;
  st.candidates = static_cast<int>(outcome.active.size());
  st.transitions = std::max(outcome.token_high_water, pl.fencing_token);
  st.last_transition =
      outcome.lease ? outcome.lease->state.acquire_time : absl::InfinitePast();
  if (st.last_transition == absl::InfinitePast()) {
    const json& obj = *snap.policy_object;
    if (obj.contains("status") && obj["status"].is_object()) {
      st.last_transition = pool::ParseRfcTime(
          obj["status"].value("lastTransitionTime", std::string()));
    }
  }
  if (holder != nullptr) {
    st.holder = holder->pod;
    st.holder_since = pl.since;
    st.phase = "Stable";
    st.leader_elected = {
        "True", "Running",
        absl::StrCat("pod ", holder->pod.name, " is the pool's active pod")};
  } else if (reserved) {
    st.phase = "Electing";
    st.leader_elected = {"False", "Admitted",
                         "a pod was admitted and is being created"};
  } else {
    st.phase = "Idle";
    st.leader_elected = {"False", "Idle", "no pod of the pool is active"};
  }
  if (!problems.empty()) {
    std::vector<std::string> messages;
    messages.reserve(problems.size());
    for (const Problem& p : problems) messages.push_back(p.second);
    st.ready = {"False", problems.front().first, absl::StrJoin(messages, "; ")};
  } else {
    st.ready = {"True", "Reconciled", "the pool is reconciled"};
  }
  report.status = std::move(st);
  return report;
}

}  // namespace zenlead::op
