#include "operator/trafficdirector/planner.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/client/errors.h"
#include "api/pool/service_settings.h"

namespace zenlead::op {
namespace {

using json = nlohmann::json;

// Pool events go to the LeaderPolicy, or to the first source without one.
EventInfo PoolEventTarget(bool has_policy, const pool::PolicySettings& policy,
                          const std::vector<RouteView>& routes,
                          const pool::PoolKey& key) {
  EventInfo e;
  e.ns = key.ns;
  if (has_policy) {
    e.api_version = "coordination.kube-zen.io/v1alpha1";
    e.kind = "LeaderPolicy";
    e.name = key.name;
    e.uid = policy.uid;
  } else if (!routes.empty()) {
    const pool::Source& s = routes[0].source;
    e.api_version = s.ApiVersion();
    e.kind = s.KindName();
    e.name = s.name;
    e.uid = s.uid;
  }
  return e;
}

EventInfo OnSource(const pool::Source& s, const std::string& reason,
                   const std::string& note) {
  return {s.ApiVersion(), s.KindName(), s.ns,   s.name,
          s.uid,          true,         reason, note};
}

}  // namespace

absl::Duration RenewInterval(const pool::PolicySettings& policy) {
  int32_t seconds =
      policy.lease_duration_seconds - policy.renew_deadline_seconds;
  return absl::Seconds(std::max<int32_t>(1, seconds));
}

RoutingPlan PlanRouting(const PoolSnapshot& snap, PoolMemory& memory) {
  RoutingPlan plan;
  const std::string& ns = snap.key.ns;
  const std::string& pool = snap.key.name;
  if (memory.first_seen == absl::InfinitePast()) memory.first_seen = snap.now;

  // Settings: a stored policy that breaks the CRD's rules (written under an
  // older or relaxed CRD) is not used; the last good settings (or the
  // defaults) apply until it is fixed.
  plan.has_policy = snap.policy_object != nullptr;
  pool::PolicySettings policy =
      plan.has_policy ? pool::PolicyFromObject(*snap.policy_object)
                      : pool::DefaultPolicySettings();
  const std::string invalid_policy = policy.invalid;
  if (!invalid_policy.empty()) {
    pool::PolicySettings fallback =
        memory.last_good_policy.value_or(pool::DefaultPolicySettings());
    fallback.found = true;
    fallback.uid = policy.uid;
    fallback.generation = policy.generation;
    policy = fallback;
  } else if (policy.found) {
    memory.last_good_policy = policy;
  }
  plan.pool_target =
      PoolEventTarget(plan.has_policy, policy, snap.routes, snap.key);
  if (!invalid_policy.empty()) {
    const std::string message = absl::StrCat(
        "LeaderPolicy ", ns, "/", pool, " is invalid: ", invalid_policy,
        memory.last_good_policy ? "; the pool keeps its last valid settings"
                                : "; the pool uses the default settings");
    plan.problems.push_back({"InvalidPolicy", message});
    EventInfo e = plan.pool_target;
    e.warning = true;
    e.reason = "InvalidPolicy";
    e.note = message;
    plan.warnings.push_back(e);
  }

  // PolicyNotFound: once per pool until the policy appears.
  bool named = false;
  for (const RouteView& r : snap.routes) named |= r.source.pool_named;
  if (!policy.found && named && !memory.policy_missing_reported) {
    for (const RouteView& r : snap.routes) {
      if (!r.source.pool_named) continue;
      plan.events.push_back(OnSource(
          r.source, "PolicyNotFound",
          absl::StrCat("LeaderPolicy ", ns, "/", pool,
                       " does not exist; using the default settings")));
    }
    memory.policy_missing_reported = true;
  }
  if (policy.found) memory.policy_missing_reported = false;

  // A pool name that cannot name the pool Lease or label zen-lead's
  // objects: nothing can be written for the pool.
  const absl::Status pool_name = pool::ValidatePoolName(pool);
  plan.pool_name_valid = pool_name.ok();
  if (!plan.pool_name_valid) {
    const std::string message =
        absl::StrCat(pool_name.message(),
                     "; zen-lead writes nothing for this pool until it is "
                     "renamed");
    for (const RouteView& r : snap.routes) {
      plan.warnings.push_back(OnSource(r.source, "InvalidPoolName", message));
    }
    plan.problems.insert(plan.problems.begin(), {"InvalidPoolName", message});
  }

  // A Service's own settings: an invalid value keeps the default and is
  // warned about, naming the annotation.
  plan.min_ready = absl::Seconds(policy.min_ready_seconds);
  bool min_ready_overridden = false;
  for (const RouteView& r : snap.routes) {
    const pool::Source& s = r.source;
    for (const pool::SettingProblem& p : s.setting_problems) {
      plan.warnings.push_back(
          OnSource(s, pool::kInvalidAnnotationReason, p.message));
    }
    if (!s.sticky) plan.sticky = false;
    if (s.min_ready) {
      plan.min_ready = min_ready_overridden
                           ? std::max(plan.min_ready, *s.min_ready)
                           : *s.min_ready;
      min_ready_overridden = true;
    }
  }

  // Sources whose leader Service zen-lead may write (SPEC §3.1: never a
  // Service or EndpointSlice it did not create; one writer per name).
  for (size_t i = 0; i < snap.routes.size(); ++i) {
    const RouteView& r = snap.routes[i];
    if (r.claim_problem) {
      plan.problems.push_back(*r.claim_problem);
      plan.warnings.push_back(
          OnSource(r.source, r.claim_problem->first, r.claim_problem->second));
    } else if (plan.pool_name_valid) {
      plan.writable.push_back(i);
    }
  }

  // Recover the current leader: memory, then the Lease, then the slices
  // (after a restart, the leader stays where it is).
  plan.current_uid = memory.leader_uid;
  if (plan.current_uid.empty() && snap.lease) {
    plan.current_uid = snap.lease->state.holder_uid;
  }
  for (const RouteView& r : snap.routes) {
    if (!plan.current_uid.empty()) break;
    plan.current_uid = r.slice_endpoint_uid;
  }
  if (!plan.current_uid.empty() ||
      (snap.lease && snap.lease->state.transitions > 0)) {
    memory.ever_led = true;  // a Lease holder or token: it has led before
  }

  std::map<std::string, pool::Candidate> by_uid;
  for (const runtime::ObjectPtr& p : snap.pods) {
    pool::Candidate c = pool::CandidateFromPod(*p, policy.identity_strategy);
    by_uid.emplace(c.uid, std::move(c));
  }
  plan.candidates.reserve(by_uid.size());
  for (auto& [uid, c] : by_uid) plan.candidates.push_back(std::move(c));
  if (plan.sticky) {
    plan.choice = pool::ChooseLeader(plan.candidates, plan.current_uid,
                                     plan.min_ready, snap.now);
  } else {
    // Not sticky: the oldest Ready pod, even over a current leader that can
    // still lead; the current one stays only while no pod qualifies (all
    // still inside min-ready).
    plan.choice =
        pool::ChooseLeader(plan.candidates, "", plan.min_ready, snap.now);
    if (plan.choice.leader) {
      plan.choice.changed = plan.choice.leader->uid != plan.current_uid;
    } else {
      plan.choice = pool::ChooseLeader(plan.candidates, plan.current_uid,
                                       plan.min_ready, snap.now);
    }
  }
  if (plan.choice.changed) memory.last_switch = snap.now;
  plan.last_switch = memory.last_switch;
  if (plan.last_switch == absl::InfinitePast() && plan.choice.leader &&
      snap.lease && snap.lease->state.holder_uid == plan.choice.leader->uid) {
    // After a restart: the Lease says since when it holds.
    plan.last_switch = snap.lease->state.acquire_time;
  }
  plan.renew_every = RenewInterval(policy);
  memory.renew_every = plan.renew_every;
  plan.token_high_water = std::max(
      memory.token_high_water,
      plan.has_policy ? pool::PolicyStatusTransitions(*snap.policy_object) : 0);
  plan.policy = std::move(policy);
  return plan;
}

void CommitLeader(const RoutingPlan& plan, const PoolSnapshot& snapshot,
                  PoolMemory& memory) {
  const pool::Choice& choice = plan.choice;
  if (!choice.changed) {
    // Kept: after a restart, the leader recovered from the Lease or a slice
    // is this operator's leader from now on (its loss is a failover).
    if (choice.leader && memory.leader_uid.empty()) {
      memory.leader_uid = choice.leader->uid;
      memory.leader_since =
          snapshot.lease &&
                  snapshot.lease->state.holder_uid == choice.leader->uid &&
                  snapshot.lease->state.acquire_time != absl::InfinitePast()
              ? snapshot.lease->state.acquire_time
              : snapshot.now;
    }
    return;
  }
  const std::string new_uid = choice.leader ? choice.leader->uid : "";
  if (memory.leader_uid == new_uid &&
      (new_uid.empty() || memory.leader_since != absl::InfinitePast())) {
    return;  // committed already
  }
  memory.leader_uid = new_uid;
  memory.leader_since = choice.leader ? snapshot.now : absl::InfinitePast();
  if (choice.leader) memory.no_candidates_reported = false;
}

void RecordRoute(const RoutingPlan& plan, RouteOutcome outcome,
                 PoolMemory& memory) {
  RouteOutcome& route = memory.route;
  outcome.changed = route.changed || plan.choice.changed;
  outcome.from_uid = route.changed ? route.from_uid : plan.current_uid;
  outcome.leaders = std::move(route.leaders);
  if (plan.choice.changed) outcome.leaders.push_back(plan.choice.leader);
  route = std::move(outcome);
}

RouteOutcome TakeRouteChange(PoolMemory& memory) {
  RouteOutcome taken = memory.route;
  memory.route.changed = false;
  memory.route.from_uid.clear();
  memory.route.leaders.clear();
  return taken;
}

void ReturnRouteChange(const RouteOutcome& taken, PoolMemory& memory) {
  if (!taken.changed) return;
  memory.route.changed = true;
  memory.route.from_uid = taken.from_uid;
}

void ApplyRoute(const RouteOutcome& route, RoutingPlan& plan,
                WriteOutcome& outcome) {
  if (route.changed) {
    plan.choice.changed = true;
    plan.current_uid = route.from_uid;
  }
  outcome.problems.insert(outcome.problems.end(), route.problems.begin(),
                          route.problems.end());
  outcome.warnings.insert(outcome.warnings.end(), route.warnings.begin(),
                          route.warnings.end());
  if (outcome.port_error.empty()) outcome.port_error = route.port_error;
  outcome.result.Update(route.result);
}

void MergeRouted(const PoolMemory& routed, PoolMemory& into) {
  if (into.first_seen == absl::InfinitePast() ||
      (routed.first_seen != absl::InfinitePast() &&
       routed.first_seen < into.first_seen)) {
    into.first_seen = routed.first_seen;
  }
  into.last_good_policy = routed.last_good_policy;
  into.renew_every = routed.renew_every;
  into.ever_led |= routed.ever_led;
  if (into.leader_uid != routed.leader_uid ||
      into.leader_since != routed.leader_since) {
    into.leader_uid = routed.leader_uid;
    into.leader_since = routed.leader_since;
    if (!routed.leader_uid.empty()) into.no_candidates_reported = false;
  }
  into.last_switch = routed.last_switch;
}

void MergePublished(const PoolMemory& published, PoolMemory& into) {
  into.token_high_water =
      std::max(into.token_high_water, published.token_high_water);
  into.reported = published.reported;
  into.policy_missing_reported = published.policy_missing_reported;
  // A leader committed meanwhile resets it (MergeRouted); else the
  // publish's word.
  if (into.leader_uid == published.leader_uid) {
    into.no_candidates_reported = published.no_candidates_reported;
    if (into.leader_since == absl::InfinitePast()) {
      into.leader_since = published.leader_since;
    }
  }
  into.candidates_due = published.candidates_due;
  into.ever_led |= published.ever_led;
}

SliceWrite SliceWriteFor(bool cached, bool owned_by_source,
                         const std::string& cached_address_type,
                         const std::string& address_type) {
  if (!cached) return SliceWrite::kCreate;
  if (cached_address_type != address_type || !owned_by_source) {
    return SliceWrite::kReplace;
  }
  return SliceWrite::kPatch;
}

ReportPlan PlanReport(const PoolSnapshot& snap, const RoutingPlan& plan,
                      const WriteOutcome& outcome, const ReportOptions& options,
                      PoolMemory& memory) {
  ReportPlan report;
  const std::string& ns = snap.key.ns;
  const std::string& pool = snap.key.name;
  const pool::Choice& choice = plan.choice;
  const absl::Time now = snap.now;
  std::vector<Problem> problems = plan.problems;
  for (const Problem& p : outcome.problems) problems.push_back(p);
  report.warnings = outcome.warnings;

  report.token = outcome.lease_now && !outcome.lease_conflict
                     ? outcome.lease_now->transitions
                     : 0;
  memory.token_high_water = std::max(plan.token_high_water, report.token);
  if (outcome.guard_violation) {
    // Possible only when pods got past admission: the webhook unreachable
    // under failurePolicy Ignore, or pods that ran before the pool became
    // scaleDown. zen-lead does not delete pods; the user decides.
    const std::string note = absl::StrCat(
        "pool ", pool,
        " allows one active pod (followerMode scaleDown) and "
        "has ",
        outcome.guard_active.size(), ": ",
        absl::StrJoin(outcome.guard_active, ", "),
        "; a pod got past admission (the webhook unreachable under "
        "failurePolicy Ignore, or pods running before the pool became "
        "scaleDown); see kubectl get lease -n ",
        ns, " ", pool);
    problems.push_back({"TwoActivePods", note});
    EventInfo e = plan.pool_target;
    e.reason = "TwoActivePods";
    e.note = note;
    if (!e.name.empty()) report.warnings.push_back(e);
  }
  if (outcome.lease_conflict) {
    problems.insert(problems.begin(),
                    {"LeaseConflict",
                     absl::StrCat("a Lease named ", pool,
                                  " exists and is not managed by zen-lead; "
                                  "rename the pool or remove that Lease")});
  }

  // The leader, and its Event.
  const std::string new_uid = choice.leader ? choice.leader->uid : "";
  CommitLeader(plan, snap, memory);  // (done already after the slice writes)
  if (choice.changed) {
    if (choice.leader) {
      report.leader_changed = true;
      EventInfo e = plan.pool_target;
      e.reason = plan.current_uid.empty() ? "LeaderElected" : "LeaderChanged";
      e.note = absl::StrCat("pod ", choice.leader->name, " (",
                            choice.leader->pod_ip, ") leads pool ", pool);
      if (report.token > 0) {
        absl::StrAppend(&e.note, "; fencing token ", report.token);
      }
      if (!e.name.empty()) report.events.push_back(e);
    }
  } else if (choice.leader && memory.leader_since == absl::InfinitePast()) {
    // Sticky across restarts: the leader was recovered from the cluster.
    memory.leader_uid = new_uid;
    memory.leader_since =
        outcome.lease_now && outcome.lease_now->holder_uid == new_uid
            ? outcome.lease_now->acquire_time
            : now;
  }
  if (choice.leader) memory.ever_led = true;

  // Scaled to zero on purpose: no leader is expected, and no alarm.
  bool scaled_to_zero = !snap.routes.empty();
  for (const RouteView& r : snap.routes) {
    scaled_to_zero &=
        r.source.kind != pool::Source::Kind::kService && r.source.replicas == 0;
  }
  // No Ready pod: a Warning once readiness was lost, or never came within
  // the grace of the pool's start (its first pods may be pulling images).
  // Only for pools that route something: a pool of refused sources has had
  // its Warning.
  if (!choice.leader && !plan.writable.empty() && !scaled_to_zero &&
      !memory.no_candidates_reported) {
    if (memory.ever_led ||
        now - memory.first_seen >= options.no_candidates_grace) {
      EventInfo e = plan.pool_target;
      e.warning = true;
      e.reason = "NoReadyCandidates";
      e.note =
          memory.ever_led
              ? absl::StrCat("pool ", pool,
                             " has no Ready pod; the leader Service has "
                             "no endpoint")
              : absl::StrCat("no pod of pool ", pool, " became Ready in ",
                             absl::FormatDuration(options.no_candidates_grace),
                             "; the leader Service has no endpoint");
      if (!e.name.empty()) report.events.push_back(e);
      memory.no_candidates_reported = true;
    } else {
      report.no_candidates_recheck =
          memory.first_seen + options.no_candidates_grace;
    }
  }

  PoolLeader& pl = report.registry;
  pl.ns = ns;
  pl.pool = pool;
  pl.has_leader = choice.leader.has_value();
  if (choice.leader) {
    pl.holder_identity = choice.leader->identity;
    pl.pod_name = choice.leader->name;
    pl.pod_uid = choice.leader->uid;
    pl.pod_ip = choice.leader->pod_ip;
    pl.since = memory.leader_since;
  }
  pl.fencing_token = report.token;

  // Writes that failed for a reason retrying will not fix (the API server
  // refused them) are a problem of the pool; others are retried and shown
  // in the condition meanwhile. A conflict only means the cache was
  // behind: retried, not a problem.
  const absl::Status& result = outcome.result;
  if (!result.ok() && !client::IsConflict(result)) {
    const std::string message =
        absl::StrCat("a write failed: ", result.message());
    problems.push_back({"WriteFailed", message});
    if (client::IsInvalid(result) || absl::IsPermissionDenied(result) ||
        absl::IsInvalidArgument(result)) {
      EventInfo e = plan.pool_target;
      e.warning = true;
      e.reason = "WriteFailed";
      e.note = message;
      report.warnings.push_back(e);
    }
  }

  if (snap.policy_object == nullptr) return report;
  const json& policy_obj = *snap.policy_object;
  bool single = !snap.routes.empty();
  for (const RouteView& r : snap.routes) {
    if (r.source.replicas > 1 ||
        (r.source.replicas < 0 && plan.candidates.size() > 1)) {
      single = false;
    }
  }
  pool::PoolStatus st;
  st.observed_generation = plan.policy.generation;
  st.candidates = choice.ready_candidates;
  // Never below a token already issued, also while the Lease is unknown.
  st.transitions = memory.token_high_water;
  st.last_transition = outcome.lease_now ? outcome.lease_now->acquire_time
                                         : absl::InfinitePast();
  if (st.last_transition == absl::InfinitePast() &&
      policy_obj.contains("status") && policy_obj["status"].is_object()) {
    st.last_transition = pool::ParseRfcTime(
        policy_obj["status"].value("lastTransitionTime", std::string()));
  }
  st.holder = choice.leader;
  st.holder_since = memory.leader_since;
  const std::string& port_error = outcome.port_error;
  if (!problems.empty()) {
    std::vector<std::string> messages;
    messages.reserve(problems.size());
    for (const Problem& p : problems) messages.push_back(p.second);
    st.ready = {"False", problems.front().first, absl::StrJoin(messages, "; ")};
  } else if (!port_error.empty()) {
    st.ready = {"False", "PortResolutionFailed", port_error};
  } else {
    st.ready = {"True", "Reconciled", "the pool is reconciled"};
  }
  if (choice.leader) {
    st.phase = !port_error.empty() ? "NoCandidates"
               : single            ? "SingleReplica"
                                   : "Stable";
    st.leader_elected = {
        "True", "LeaderElected",
        absl::StrCat("pod ", choice.leader->name, " leads the pool")};
  } else {
    st.phase = snap.routes.empty()    ? "NoCandidates"
               : scaled_to_zero       ? "SingleReplica"
               : choice.recheck_after ? "Electing"
                                      : "NoCandidates";
    st.holder_since = absl::InfinitePast();
    st.leader_elected =
        snap.routes.empty()
            ? pool::PoolStatus::Cond{"False", "NoMembers",
                                     "no workload or Service names this pool"}
        : scaled_to_zero
            ? pool::PoolStatus::Cond{"False", "ScaledToZero",
                                     "the pool's workloads are scaled to 0 "
                                     "replicas"}
            : pool::PoolStatus::Cond{"False", "NoReadyCandidates",
                                     "no pod of the pool is Ready"};
  }
  report.status = std::move(st);
  return report;
}

StatusWrite PlanStatusWrite(const json& have, const json& desired,
                            absl::Time now, absl::Duration debounce,
                            PoolMemory& memory) {
  StatusWrite out;
  // zen-lead is the status' only writer: a merge patch of the fields that
  // changed (candidates, mostly, under churn) is the cheapest write.
  json patch = pool::MergePatchFor(have, desired);
  const bool only_candidates =
      patch.size() == 1 && patch.contains("candidates");
  if (only_candidates && memory.candidates_due == absl::InfinitePast()) {
    // Informational only (routing and conditions are unchanged): written
    // after `debounce` with whatever the count is then.
    memory.candidates_due = now + debounce;
  }
  if (only_candidates && now < memory.candidates_due) {
    // (Re)scheduled every time: an earlier wake-up of the pool, which
    // absorbs a later AddAfter, must not leave the count unwritten.
    out.due = memory.candidates_due;
    out.patch = json::object();
    return out;
  }
  memory.candidates_due = absl::InfinitePast();
  out.patch = std::move(patch);
  return out;
}

}  // namespace zenlead::op
