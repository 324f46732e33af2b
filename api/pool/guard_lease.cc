#include "api/pool/guard_lease.h"

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

#include "api/types/leaderpolicy.h"

namespace zenlead::pool {

Guard GuardOf(const Source& source, const PolicySettings& policy) {
  switch (source.kind) {
    case Source::Kind::kJob:
    case Source::Kind::kCronJob:
      return Guard::kStateGuard;
    case Source::Kind::kDeployment:
    case Source::Kind::kStatefulSet:
      return policy.follower_mode ==
                     api::v1alpha1::LeaderPolicySpec::kFollowerModeScaleDown
                 ? Guard::kGatekeeper
                 : Guard::kNone;
    case Source::Kind::kService:
      return Guard::kNone;
  }
  return Guard::kNone;
}

bool StateGuarded(const Source& source) {
  return GuardOf(source, DefaultPolicySettings()) == Guard::kStateGuard;
}

const char* GuardName(Guard guard) {
  switch (guard) {
    case Guard::kGatekeeper:
      return "Gatekeeper";
    case Guard::kStateGuard:
      return "StateGuard";
    case Guard::kNone:
      break;
  }
  return "none";
}

bool GuardPodActive(const GuardPod& pod) { return !FinishedPhase(pod.phase); }

std::vector<GuardPod> GuardPodsFrom(
    const std::vector<std::shared_ptr<const nlohmann::json>>& pods,
    const std::string& identity_strategy) {
  std::vector<GuardPod> out;
  std::set<std::string> seen;
  for (const std::shared_ptr<const nlohmann::json>& obj : pods) {
    if (obj == nullptr) continue;
    GuardPod p;
    p.pod = CandidateFromPod(*obj, identity_strategy);
    if (p.pod.uid.empty() || !seen.insert(p.pod.uid).second) continue;
    if (std::optional<OwnerRef> owner = ControllerOwner(*obj)) {
      p.owner = *owner;
    }
    p.phase = PodPhase(*obj);
    out.push_back(std::move(p));
  }
  return out;
}

GuardDecision DecideGuardLease(const std::optional<PoolLease>& current,
                               const std::vector<GuardPod>& pods,
                               const PolicySettings& policy, int64_t high_water,
                               absl::Duration renew_every, absl::Time now) {
  GuardDecision out;
  std::vector<const GuardPod*> active;
  for (const GuardPod& p : pods) {
    if (GuardPodActive(p)) active.push_back(&p);
  }
  std::sort(active.begin(), active.end(),
            [](const GuardPod* a, const GuardPod* b) {
              return std::tie(a->pod.created, a->pod.name) <
                     std::tie(b->pod.created, b->pod.name);
            });
  for (const GuardPod* p : active) out.active.push_back(p->pod.name);
  out.violation = active.size() > 1;

  // The Lease as each step leaves it; one write carries all the steps.
  std::optional<PoolLease> lease = current;
  bool changed = false;
  auto step = [&](std::optional<PoolLease> next) {
    if (!next) return false;
    lease = std::move(next);
    changed = true;
    return true;
  };

  if (lease && PhaseOf(*lease) == LeasePhase::kReserved) {
    bool bound = false;
    // Only a pod created after the admission can be the one it admitted:
    // an older pod of the same owner (an evicted one, still listed) is not.
    // creationTimestamp has whole seconds, hence the second of slack.
    const absl::Time admitted = lease->state.acquire_time - absl::Seconds(1);
    for (const GuardPod& p : pods) {
      if (p.pod.created < admitted) continue;
      if (step(BindReservation(lease, p.pod, p.owner, now))) {
        bound = true;
        break;
      }
    }
    if (!bound) step(ExpireReservation(lease, now));
  }
  if (lease && PhaseOf(*lease) == LeasePhase::kHeld) {
    const std::string& uid = lease->state.holder_uid;
    auto holder =
        std::find_if(pods.begin(), pods.end(),
                     [&](const GuardPod& p) { return p.pod.uid == uid; });
    std::optional<std::string> phase;
    if (holder != pods.end()) phase = holder->phase;
    if (!step(ReleaseIfGone(lease, phase)) &&
        now - lease->state.renew_time >= renew_every) {
      lease->state.renew_time = now;
      changed = true;
    }
  }
  if ((!lease || PhaseOf(*lease) == LeasePhase::kFree) && !active.empty()) {
    // A pod runs and nothing records it: it becomes the holder, a new one.
    const Candidate& oldest = active.front()->pod;
    PoolLease next = lease.value_or(PoolLease());
    next.reservation.reset();
    next.state.holder_uid = oldest.uid;
    next.state.holder_identity =
        oldest.identity.empty() ? oldest.name : oldest.identity;
    next.state.transitions = NextToken(next.state.transitions, high_water);
    next.state.acquire_time = now;
    next.state.renew_time = now;
    lease = std::move(next);
    changed = true;
  }
  if (changed) {
    lease->state.lease_duration_seconds = policy.lease_duration_seconds;
    out.write = std::move(lease);
  }
  return out;
}

}  // namespace zenlead::pool
