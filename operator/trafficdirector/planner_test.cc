// The TrafficDirector's decisions at fixed times (no clock, no cluster):
// every phase, condition, Event and fencing-token rule, and leader recovery
// after a restart. The writes themselves are proven on the real API server
// (operator/trafficdirector/traffic_director_e2e_test.cc).
#include "operator/trafficdirector/planner.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "api/client/errors.h"
#include "gtest/gtest.h"

namespace zenlead::op {
namespace {

using json = nlohmann::json;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

std::string Rfc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

runtime::ObjectPtr Pod(const std::string& name, bool ready,
                       absl::Time created = kT0 - absl::Minutes(10),
                       absl::Time ready_since = kT0 - absl::Minutes(5)) {
  return std::make_shared<const json>(
      json{{"metadata",
            {{"name", name},
             {"namespace", "shop"},
             {"uid", "uid-" + name},
             {"creationTimestamp", Rfc(created)}}},
           {"status",
            {{"phase", "Running"},
             {"podIP", "10.0.0." + std::to_string(name.size())},
             {"conditions",
              json::array({{{"type", "Ready"},
                            {"status", ready ? "True" : "False"},
                            {"lastTransitionTime", Rfc(ready_since)}}})}}}});
}

RouteView Route(const std::string& name, int replicas = 2,
                pool::Source::Kind kind = pool::Source::Kind::kDeployment) {
  RouteView r;
  r.source.kind = kind;
  r.source.ns = "shop";
  r.source.name = name;
  r.source.uid = "src-" + name;
  r.source.pool = "db";
  r.source.replicas = replicas;
  return r;
}

json Policy(json spec = json::object()) {
  return {{"apiVersion", "coordination.kube-zen.io/v1alpha1"},
          {"kind", "LeaderPolicy"},
          {"metadata",
           {{"name", "db"},
            {"namespace", "shop"},
            {"uid", "policy-uid"},
            {"generation", 3}}},
          {"spec", spec}};
}

class PlannerTest : public ::testing::Test {
 protected:
  PlannerTest() {
    snap_.key = pool::PoolKey{"shop", "db"};
    snap_.now = kT0;
    snap_.routes.push_back(Route("web"));
  }

  // One reconcile: routing, then a report as if every write succeeded and
  // the Lease now holds `lease_now`.
  ReportPlan Reconcile(std::optional<pool::LeaseState> lease_now = {}) {
    plan_ = PlanRouting(snap_, memory_);
    WriteOutcome outcome;
    outcome.lease_now = std::move(lease_now);
    return PlanReport(snap_, plan_, outcome, options_, memory_);
  }

  static pool::LeaseState Held(const std::string& pod, int64_t token,
                               absl::Time since = kT0) {
    pool::LeaseState s;
    s.holder_identity = pod;
    s.holder_uid = "uid-" + pod;
    s.transitions = token;
    s.acquire_time = since;
    s.renew_time = since;
    return s;
  }

  PoolSnapshot snap_;
  PoolMemory memory_;
  RoutingPlan plan_;
  ReportOptions options_;
  json policy_ = Policy();
};

// The header's example, end to end.
TEST_F(PlannerTest, HeaderExample) {
  PoolSnapshot snap = snap_;
  snap.pods = {Pod("a", true)};
  PoolMemory memory;
  RoutingPlan plan = PlanRouting(snap, memory);
  WriteOutcome outcome;
  outcome.lease_now = Held("a", 1);
  ReportPlan report = PlanReport(snap, plan, outcome, ReportOptions(), memory);
  ASSERT_TRUE(plan.choice.leader.has_value());
  EXPECT_EQ(plan.choice.leader->name, "a");
  EXPECT_EQ(plan.writable, std::vector<size_t>{0});
  EXPECT_EQ(report.registry.pod_name, "a");
  EXPECT_EQ(report.token, 1);
}

TEST_F(PlannerTest, OldestReadyPodIsElectedAndStaysSticky) {
  snap_.policy_object = &policy_;
  snap_.pods = {Pod("young", true, kT0 - absl::Minutes(1)),
                Pod("old", true, kT0 - absl::Minutes(9))};
  ReportPlan r = Reconcile(Held("old", 1));
  EXPECT_EQ(plan_.choice.leader->name, "old");
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].reason, "LeaderElected");
  EXPECT_EQ(r.events[0].kind, "LeaderPolicy");
  EXPECT_NE(r.events[0].note.find("fencing token 1"), std::string::npos);
  ASSERT_TRUE(r.status.has_value());
  EXPECT_EQ(r.status->phase, "Stable");
  EXPECT_EQ(r.status->ready.status, "True");
  EXPECT_EQ(r.status->leader_elected.reason, "LeaderElected");
  EXPECT_EQ(r.status->candidates, 2);
  EXPECT_EQ(r.status->observed_generation, 3);
  // An older pod appears: the leader stays (sticky), no Event.
  snap_.pods.push_back(Pod("oldest", true, kT0 - absl::Hours(1)));
  snap_.now = kT0 + absl::Seconds(5);
  ReportPlan again = Reconcile(Held("old", 1));
  EXPECT_EQ(plan_.choice.leader->name, "old");
  EXPECT_FALSE(plan_.choice.changed);
  EXPECT_TRUE(again.events.empty());
}

TEST_F(PlannerTest, FailoverIsLeaderChangedWithTheNextToken) {
  snap_.pods = {Pod("a", true, kT0 - absl::Minutes(9)),
                Pod("b", true, kT0 - absl::Minutes(5))};
  Reconcile(Held("a", 1));
  snap_.pods = {Pod("a", false, kT0 - absl::Minutes(9)),
                Pod("b", true, kT0 - absl::Minutes(5))};
  snap_.now = kT0 + absl::Seconds(1);
  ReportPlan r = Reconcile(Held("b", 2, snap_.now));
  EXPECT_EQ(plan_.current_uid, "uid-a");
  EXPECT_EQ(plan_.choice.leader->name, "b");
  EXPECT_TRUE(r.leader_changed);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].reason, "LeaderChanged");
  EXPECT_EQ(r.events[0].kind, "Deployment") << "no policy: the source";
  EXPECT_EQ(r.token, 2);
  EXPECT_EQ(memory_.token_high_water, 2);
  EXPECT_EQ(memory_.leader_uid, "uid-b");
  EXPECT_EQ(memory_.leader_since, snap_.now);
}

TEST_F(PlannerTest, TokenNeverBelowWhatWasIssued) {
  // The policy's status says token 7 was issued (the Lease was lost since).
  policy_["status"] = {{"transitions", 7}};
  snap_.policy_object = &policy_;
  snap_.pods = {Pod("a", true)};
  plan_ = PlanRouting(snap_, memory_);
  EXPECT_EQ(plan_.token_high_water, 7);
  // The Lease is unknown this time (read failed): readers get no token,
  // the status keeps 7.
  WriteOutcome unknown;
  unknown.result = absl::UnavailableError("connection refused");
  ReportPlan r = PlanReport(snap_, plan_, unknown, options_, memory_);
  EXPECT_EQ(r.token, 0) << "never a guess";
  EXPECT_EQ(r.registry.fencing_token, 0);
  EXPECT_EQ(r.status->transitions, 7);
  EXPECT_EQ(r.status->ready.reason, "WriteFailed");
  EXPECT_TRUE(r.warnings.empty()) << "retryable: no Warning";
  // A Lease in conflict: no token either, LeaseConflict first.
  WriteOutcome conflict;
  conflict.lease_conflict = true;
  conflict.lease_now = Held("a", 99);
  ReportPlan c = PlanReport(snap_, plan_, conflict, options_, memory_);
  EXPECT_EQ(c.token, 0);
  EXPECT_EQ(c.status->ready.reason, "LeaseConflict");
  EXPECT_EQ(memory_.token_high_water, 7);
}

TEST_F(PlannerTest, LeaderRecoveredAfterRestartFromLeaseOrSlice) {
  snap_.pods = {Pod("old", true, kT0 - absl::Hours(1)),
                Pod("b", true, kT0 - absl::Minutes(1))};
  // From the Lease (a fresh operator has no memory).
  snap_.lease =
      pool::LeaseRead{Held("b", 4, kT0 - absl::Minutes(1)), "rv", false};
  ReportPlan r = Reconcile(snap_.lease->state);
  EXPECT_EQ(plan_.current_uid, "uid-b");
  EXPECT_EQ(plan_.choice.leader->name, "b") << "stays; not the oldest";
  EXPECT_FALSE(plan_.choice.changed);
  EXPECT_TRUE(r.events.empty()) << "no LeaderElected after a restart";
  EXPECT_EQ(memory_.leader_since, kT0 - absl::Minutes(1))
      << "since the Lease's acquireTime";
  EXPECT_TRUE(memory_.ever_led);
  // From a slice, when there is no Lease.
  PoolMemory fresh;
  PoolSnapshot snap = snap_;
  snap.lease.reset();
  snap.routes[0].slice_endpoint_uid = "uid-b";
  RoutingPlan plan = PlanRouting(snap, fresh);
  EXPECT_EQ(plan.current_uid, "uid-b");
  EXPECT_EQ(plan.choice.leader->name, "b");
}

TEST_F(PlannerTest, NoReadyCandidatesWarnsAfterGraceOrLoss) {
  options_.no_candidates_grace = absl::Seconds(60);
  snap_.pods = {Pod("a", false)};
  ReportPlan first = Reconcile();
  EXPECT_TRUE(first.events.empty()) << "a new pool's pods may be starting";
  ASSERT_TRUE(first.no_candidates_recheck.has_value());
  EXPECT_EQ(*first.no_candidates_recheck, kT0 + absl::Seconds(60));
  snap_.now = kT0 + absl::Seconds(61);
  ReportPlan late = Reconcile();
  ASSERT_EQ(late.events.size(), 1u);
  EXPECT_EQ(late.events[0].reason, "NoReadyCandidates");
  EXPECT_TRUE(late.events[0].warning);
  EXPECT_NE(late.events[0].note.find("became Ready"), std::string::npos);
  snap_.now += absl::Seconds(5);
  EXPECT_TRUE(Reconcile().events.empty()) << "once";

  // A pool that had a leader and lost it: at once.
  PoolMemory led;
  led.ever_led = true;
  memory_ = led;
  snap_.now = kT0;
  ReportPlan lost = Reconcile();
  ASSERT_EQ(lost.events.size(), 1u);
  EXPECT_NE(lost.events[0].note.find("has no Ready pod"), std::string::npos);
}

TEST_F(PlannerTest, Phases) {
  snap_.policy_object = &policy_;
  // Stable: several replicas, a leader.
  snap_.pods = {Pod("a", true), Pod("b", true)};
  EXPECT_EQ(Reconcile(Held("a", 1)).status->phase, "Stable");
}

TEST_F(PlannerTest, PhaseSingleReplica) {
  snap_.policy_object = &policy_;
  snap_.routes[0].source.replicas = 1;
  snap_.pods = {Pod("a", true)};
  ReportPlan r = Reconcile(Held("a", 1));
  EXPECT_EQ(r.status->phase, "SingleReplica");
  // Scaled to zero: SingleReplica, no alarm.
  PoolMemory m;
  memory_ = m;
  snap_.routes[0].source.replicas = 0;
  snap_.pods.clear();
  snap_.now = kT0 + absl::Hours(1);
  ReportPlan zero = Reconcile();
  EXPECT_EQ(zero.status->phase, "SingleReplica");
  EXPECT_EQ(zero.status->leader_elected.reason, "ScaledToZero");
  EXPECT_TRUE(zero.events.empty());
  EXPECT_FALSE(zero.no_candidates_recheck.has_value());
}

TEST_F(PlannerTest, PhaseElectingWhileMinReadySecondsRuns) {
  policy_["spec"]["minReadySeconds"] = 30;
  snap_.policy_object = &policy_;
  snap_.pods = {
      Pod("a", true, kT0 - absl::Minutes(1), kT0 - absl::Seconds(10))};
  ReportPlan r = Reconcile();
  EXPECT_FALSE(plan_.choice.leader.has_value());
  ASSERT_TRUE(plan_.choice.recheck_after.has_value());
  EXPECT_EQ(*plan_.choice.recheck_after, absl::Seconds(20));
  EXPECT_EQ(r.status->phase, "Electing");
  EXPECT_EQ(r.status->leader_elected.reason, "NoReadyCandidates");
}

TEST_F(PlannerTest, PhaseNoCandidatesAndNoMembers) {
  snap_.policy_object = &policy_;
  snap_.pods = {Pod("a", false)};
  ReportPlan none = Reconcile();
  EXPECT_EQ(none.status->phase, "NoCandidates");
  EXPECT_EQ(none.status->leader_elected.reason, "NoReadyCandidates");
  EXPECT_EQ(none.status->ready.status, "True") << "reconciled, no leader";
  snap_.routes.clear();
  snap_.pods.clear();
  ReportPlan empty = Reconcile();
  EXPECT_EQ(empty.status->phase, "NoCandidates");
  EXPECT_EQ(empty.status->leader_elected.reason, "NoMembers");
}

TEST_F(PlannerTest, PortResolutionFailureIsNoCandidates) {
  snap_.policy_object = &policy_;
  snap_.pods = {Pod("a", true), Pod("b", true)};
  plan_ = PlanRouting(snap_, memory_);
  WriteOutcome outcome;
  outcome.port_error = "port admin is not declared by pod a";
  ReportPlan r = PlanReport(snap_, plan_, outcome, options_, memory_);
  EXPECT_EQ(r.status->phase, "NoCandidates");
  EXPECT_EQ(r.status->ready.reason, "PortResolutionFailed");
  EXPECT_EQ(r.status->ready.status, "False");
}

TEST_F(PlannerTest, InvalidPolicyKeepsLastValidSettings) {
  policy_["spec"] = {{"leaseDurationSeconds", 30},
                     {"renewDeadlineSeconds", 20}};
  snap_.policy_object = &policy_;
  snap_.pods = {Pod("a", true)};
  Reconcile(Held("a", 1));
  EXPECT_EQ(plan_.policy.lease_duration_seconds, 30);
  EXPECT_EQ(plan_.renew_every, absl::Seconds(10));
  // Stored under a relaxed CRD: renewDeadline above leaseDuration.
  policy_["spec"] = {{"leaseDurationSeconds", 5}, {"renewDeadlineSeconds", 20}};
  ReportPlan r = Reconcile(Held("a", 1));
  EXPECT_EQ(plan_.policy.lease_duration_seconds, 30) << "the last valid";
  EXPECT_EQ(r.status->ready.reason, "InvalidPolicy");
  ASSERT_EQ(plan_.warnings.size(), 1u);
  EXPECT_EQ(plan_.warnings[0].reason, "InvalidPolicy");
  EXPECT_NE(plan_.warnings[0].note.find("keeps its last valid settings"),
            std::string::npos);
  // A fresh operator has no last valid settings: the defaults.
  PoolMemory fresh;
  RoutingPlan p = PlanRouting(snap_, fresh);
  EXPECT_EQ(p.policy.lease_duration_seconds,
            pool::DefaultPolicySettings().lease_duration_seconds);
  EXPECT_NE(p.warnings[0].note.find("default settings"), std::string::npos);
}

TEST_F(PlannerTest, PolicyNotFoundOnceWhileMissing) {
  snap_.pods = {Pod("a", true)};
  RoutingPlan p = PlanRouting(snap_, memory_);
  ASSERT_EQ(p.events.size(), 1u);
  EXPECT_EQ(p.events[0].reason, "PolicyNotFound");
  EXPECT_EQ(p.events[0].name, "web");
  EXPECT_TRUE(PlanRouting(snap_, memory_).events.empty()) << "once";
  snap_.policy_object = &policy_;
  PlanRouting(snap_, memory_);
  snap_.policy_object = nullptr;
  EXPECT_EQ(PlanRouting(snap_, memory_).events.size(), 1u)
      << "again after the policy came and went";
  // A Service without a pool name expects no policy.
  PoolMemory m;
  PoolSnapshot svc = snap_;
  svc.routes = {Route("web", -1, pool::Source::Kind::kService)};
  svc.routes[0].source.pool_named = false;
  EXPECT_TRUE(PlanRouting(svc, m).events.empty());
}

TEST_F(PlannerTest, InvalidPoolNameWritesNothing) {
  snap_.key.name = "Not_A_Name";
  snap_.pods = {Pod("a", true)};
  snap_.policy_object = &policy_;
  ReportPlan r = Reconcile();
  EXPECT_TRUE(plan_.writable.empty());
  EXPECT_FALSE(plan_.pool_name_valid);
  EXPECT_EQ(r.status->ready.reason, "InvalidPoolName");
  ASSERT_FALSE(plan_.warnings.empty());
  EXPECT_EQ(plan_.warnings[0].reason, "InvalidPoolName");
}

TEST_F(PlannerTest, ClaimProblemLeavesOtherSourcesRouted) {
  snap_.routes.push_back(Route("api"));
  snap_.routes[0].claim_problem =
      Problem{"LeaderServiceConflict", "Service web-leader is not ours"};
  snap_.policy_object = &policy_;
  snap_.pods = {Pod("a", true)};
  ReportPlan r = Reconcile(Held("a", 1));
  EXPECT_EQ(plan_.writable, std::vector<size_t>{1});
  EXPECT_EQ(r.status->ready.reason, "LeaderServiceConflict");
  EXPECT_EQ(r.status->phase, "Stable") << "the other source still routes";
  ASSERT_EQ(plan_.warnings.size(), 1u);
  EXPECT_EQ(plan_.warnings[0].name, "web");
}

TEST_F(PlannerTest, RefusedWritesWarnOthersOnlyShow) {
  snap_.policy_object = &policy_;
  snap_.pods = {Pod("a", true)};
  plan_ = PlanRouting(snap_, memory_);
  WriteOutcome refused;
  refused.result = client::StatusFromResponse(
      403, R"({"kind":"Status","reason":"Forbidden","code":403})");
  ReportPlan r = PlanReport(snap_, plan_, refused, options_, memory_);
  EXPECT_EQ(r.status->ready.reason, "WriteFailed");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].reason, "WriteFailed");
  // A conflict: the cache was behind; retried, not a problem.
  WriteOutcome conflict;
  conflict.result = client::StatusFromResponse(
      409, R"({"kind":"Status","reason":"Conflict","code":409})");
  ReportPlan c = PlanReport(snap_, plan_, conflict, options_, memory_);
  EXPECT_EQ(c.status->ready.status, "True");
}

TEST_F(PlannerTest, SliceWrites) {
  EXPECT_EQ(SliceWriteFor(false, false, "IPv4", "IPv4"), SliceWrite::kCreate);
  EXPECT_EQ(SliceWriteFor(true, true, "IPv4", "IPv4"), SliceWrite::kPatch);
  EXPECT_EQ(SliceWriteFor(true, true, "IPv4", "IPv6"), SliceWrite::kReplace)
      << "addressType is immutable";
  EXPECT_EQ(SliceWriteFor(true, false, "IPv4", "IPv4"), SliceWrite::kReplace)
      << "a losing namesake's slice";
}

TEST_F(PlannerTest, StatusCandidatesOnlyChangeIsDebounced) {
  json have = {{"phase", "Stable"}, {"candidates", 2}};
  json desired = {{"phase", "Stable"}, {"candidates", 3}};
  StatusWrite w =
      PlanStatusWrite(have, desired, kT0, absl::Seconds(2), memory_);
  EXPECT_TRUE(w.patch.empty());
  ASSERT_TRUE(w.due.has_value());
  EXPECT_EQ(*w.due, kT0 + absl::Seconds(2));
  // Still due later: rescheduled, not written.
  w = PlanStatusWrite(have, desired, kT0 + absl::Seconds(1), absl::Seconds(2),
                      memory_);
  EXPECT_TRUE(w.patch.empty());
  EXPECT_EQ(*w.due, kT0 + absl::Seconds(2));
  // Due: written with the count of then.
  w = PlanStatusWrite(have, desired, kT0 + absl::Seconds(2), absl::Seconds(2),
                      memory_);
  EXPECT_EQ(w.patch, (json{{"candidates", 3}}));
  EXPECT_FALSE(w.due.has_value());
  // A phase change is written at once.
  json failed = {{"phase", "NoCandidates"}, {"candidates", 0}};
  w = PlanStatusWrite(have, failed, kT0 + absl::Seconds(3), absl::Seconds(2),
                      memory_);
  EXPECT_EQ(w.patch["phase"], "NoCandidates");
}

TEST_F(PlannerTest, RenewInterval) {
  pool::PolicySettings p;
  p.lease_duration_seconds = 15;
  p.renew_deadline_seconds = 10;
  EXPECT_EQ(RenewInterval(p), absl::Seconds(5));
  p.renew_deadline_seconds = 15;
  EXPECT_EQ(RenewInterval(p), absl::Seconds(1)) << "at least a second";
}

TEST_F(PlannerTest, ServiceSettingsStickyMinReadyAndProblems) {
  snap_.routes = {Route("web", -1, pool::Source::Kind::kService)};
  snap_.pods = {Pod("old", true, kT0 - absl::Hours(1)),
                Pod("b", true, kT0 - absl::Minutes(1))};
  memory_.leader_uid = "uid-b";  // b leads; old is Ready again
  memory_.leader_since = kT0 - absl::Minutes(1);
  // Sticky (the default): b stays.
  EXPECT_EQ(PlanRouting(snap_, memory_).choice.leader->name, "b");
  // zen-lead.io/sticky: "false": always the oldest Ready pod.
  snap_.routes[0].source.sticky = false;
  RoutingPlan p = PlanRouting(snap_, memory_);
  EXPECT_EQ(p.choice.leader->name, "old");
  EXPECT_TRUE(p.choice.changed);
  EXPECT_EQ(p.last_switch, kT0);
  EXPECT_EQ(memory_.last_switch, kT0);
  // ... but the current leader stays while no pod qualifies yet.
  snap_.routes[0].source.min_ready = absl::Hours(2);
  snap_.pods = {Pod("old", true, kT0 - absl::Hours(1), kT0 - absl::Minutes(1)),
                Pod("b", true, kT0 - absl::Minutes(1), kT0 - absl::Minutes(1))};
  RoutingPlan waiting = PlanRouting(snap_, memory_);
  EXPECT_EQ(waiting.min_ready, absl::Hours(2))
      << "zen-lead.io/min-ready-duration overrides minReadySeconds";
  EXPECT_EQ(waiting.choice.leader->name, "b");
  EXPECT_FALSE(waiting.choice.changed);
  // An invalid annotation: a Warning on the Service, naming it.
  snap_.routes[0].source.setting_problems = {
      {"zen-lead.io/sticky", "maybe", "zen-lead.io/sticky: \"maybe\" ..."}};
  RoutingPlan warned = PlanRouting(snap_, memory_);
  ASSERT_EQ(warned.warnings.size(), 1u);
  EXPECT_EQ(warned.warnings[0].reason, "InvalidAnnotation");
  EXPECT_EQ(warned.warnings[0].kind, "Service");
  EXPECT_NE(warned.warnings[0].note.find("zen-lead.io/sticky"),
            std::string::npos);
}

// The writer records the new leader right after the slices (CommitLeader);
// the report that follows still tells the change once.
TEST_F(PlannerTest, LeaderCommittedBeforeTheReport) {
  snap_.pods = {Pod("a", true, kT0 - absl::Minutes(9)),
                Pod("b", true, kT0 - absl::Minutes(5))};
  Reconcile(Held("a", 1));
  snap_.pods[0] = Pod("a", false, kT0 - absl::Minutes(9));
  snap_.now = kT0 + absl::Seconds(1);
  plan_ = PlanRouting(snap_, memory_);
  CommitLeader(plan_, snap_, memory_);
  EXPECT_EQ(memory_.leader_uid, "uid-b") << "known before the Lease write";
  EXPECT_EQ(memory_.leader_since, snap_.now);
  WriteOutcome outcome;
  outcome.lease_now = Held("b", 2, snap_.now);
  ReportPlan r = PlanReport(snap_, plan_, outcome, options_, memory_);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].reason, "LeaderChanged");
  EXPECT_EQ(memory_.leader_since, snap_.now) << "not moved by the report";
}

// Route and publish as the controller runs them, each on its own copy of
// the memory: two failovers land before the publish runs; it reports one
// change, from the first leader, and neither copy undoes the other's fields.
TEST_F(PlannerTest, RoutesAndPublishShareTheMemoryByOwnership) {
  snap_.policy_object = &policy_;
  snap_.pods = {Pod("a", true, kT0 - absl::Minutes(9)),
                Pod("b", true, kT0 - absl::Minutes(7)),
                Pod("c", true, kT0 - absl::Minutes(5))};
  Reconcile(Held("a", 1));
  memory_.route = {};
  const PoolMemory before = memory_;

  // Route 1: a is lost, b is elected; the publish starts and takes it.
  snap_.pods[0] = Pod("a", false, kT0 - absl::Minutes(9));
  snap_.now = kT0 + absl::Seconds(1);
  PoolMemory routed = memory_;
  RoutingPlan r1 = PlanRouting(snap_, routed);
  ASSERT_TRUE(r1.choice.changed);
  CommitLeader(r1, snap_, routed);
  MergeRouted(routed, memory_);
  RouteOutcome w1;
  w1.routed = {"src-web"};
  RecordRoute(r1, w1, memory_);
  EXPECT_EQ(memory_.leader_uid, "uid-b");
  RouteOutcome taken = TakeRouteChange(memory_);
  EXPECT_TRUE(taken.changed);
  EXPECT_EQ(taken.from_uid, "uid-a");
  EXPECT_FALSE(memory_.route.changed) << "taken";

  // Route 2 while that publish runs: b is lost too, c is elected.
  snap_.pods[1] = Pod("b", false, kT0 - absl::Minutes(7));
  snap_.now = kT0 + absl::Seconds(2);
  routed = memory_;
  RoutingPlan r2 = PlanRouting(snap_, routed);
  ASSERT_TRUE(r2.choice.changed);
  EXPECT_EQ(r2.current_uid, "uid-b");
  CommitLeader(r2, snap_, routed);
  MergeRouted(routed, memory_);
  RecordRoute(r2, RouteOutcome{}, memory_);
  // The publish sees the leader moved: it gives its change back, which
  // then counts from a.
  ReturnRouteChange(taken, memory_);
  EXPECT_TRUE(memory_.route.changed);
  EXPECT_EQ(memory_.route.from_uid, "uid-a");
  // b's Lease transition was the first publish's (taken, not given back);
  // c's waits for the next one.
  ASSERT_EQ(taken.leaders.size(), 1u);
  EXPECT_EQ(taken.leaders[0]->name, "b");
  ASSERT_EQ(memory_.route.leaders.size(), 1u);
  EXPECT_EQ(memory_.route.leaders[0]->name, "c");

  // The next publish: its own plan finds c committed and unchanged; the
  // routes make it one LeaderChanged, to c, with the Lease's token.
  PoolMemory published = memory_;
  RouteOutcome route = TakeRouteChange(memory_);
  published.route = {};
  RoutingPlan plan = PlanRouting(snap_, published);
  EXPECT_FALSE(plan.choice.changed);
  EXPECT_EQ(plan.choice.leader->name, "c");
  WriteOutcome outcome;
  ApplyRoute(route, plan, outcome);
  outcome.lease_now = Held("c", 2, snap_.now);
  ReportPlan report = PlanReport(snap_, plan, outcome, options_, published);
  ASSERT_EQ(report.events.size(), 1u);
  EXPECT_EQ(report.events[0].reason, "LeaderChanged");
  EXPECT_NE(report.events[0].note.find("pod c"), std::string::npos);
  EXPECT_NE(report.events[0].note.find("fencing token 2"), std::string::npos);
  EXPECT_TRUE(report.leader_changed);

  // A route committed meanwhile is not undone by the publish's write-back,
  // and the publish's own fields land.
  routed = memory_;
  routed.leader_uid = "uid-x";
  routed.leader_since = snap_.now;
  MergeRouted(routed, memory_);
  published.reported["k/Reason"] = "note";
  published.token_high_water = 2;
  MergePublished(published, memory_);
  EXPECT_EQ(memory_.leader_uid, "uid-x");
  EXPECT_EQ(memory_.token_high_water, 2);
  EXPECT_EQ(memory_.reported.count("k/Reason"), 1u);
  EXPECT_EQ(memory_.first_seen, before.first_seen);
}

// A route's write findings reach the publish's report, and only the latest
// route's: a conflict fixed by a later route is no longer reported.
TEST_F(PlannerTest, PublishReportsTheLatestRoutesFindings) {
  snap_.policy_object = &policy_;
  snap_.pods = {Pod("a", true)};
  plan_ = PlanRouting(snap_, memory_);
  RouteOutcome conflict;
  conflict.problems = {{"LeaderServiceConflict", "Service web-leader ..."}};
  conflict.result = absl::UnavailableError("slice write failed");
  RecordRoute(plan_, conflict, memory_);
  WriteOutcome outcome;
  ApplyRoute(TakeRouteChange(memory_), plan_, outcome);
  outcome.lease_now = Held("a", 1);
  ReportPlan r = PlanReport(snap_, plan_, outcome, options_, memory_);
  ASSERT_TRUE(r.status.has_value());
  EXPECT_EQ(r.status->ready.status, "False");
  EXPECT_EQ(r.status->ready.reason, "LeaderServiceConflict");
  EXPECT_NE(r.status->ready.message.find("slice write failed"),
            std::string::npos);
  // Fixed by the next route.
  RecordRoute(plan_, RouteOutcome{}, memory_);
  WriteOutcome clean;
  ApplyRoute(TakeRouteChange(memory_), plan_, clean);
  clean.lease_now = Held("a", 1);
  ReportPlan fixed = PlanReport(snap_, plan_, clean, options_, memory_);
  EXPECT_EQ(fixed.status->ready.status, "True");
}

// After a restart the kept leader is committed by the route (its loss is
// then a failover), since the Lease's acquireTime.
TEST_F(PlannerTest, RecoveredLeaderIsCommittedByTheRoute) {
  snap_.pods = {Pod("a", true, kT0 - absl::Minutes(9)),
                Pod("b", true, kT0 - absl::Minutes(5))};
  snap_.lease =
      pool::LeaseRead{Held("b", 4, kT0 - absl::Minutes(1)), "rv", false};
  plan_ = PlanRouting(snap_, memory_);
  EXPECT_FALSE(plan_.choice.changed);
  EXPECT_TRUE(memory_.leader_uid.empty());
  CommitLeader(plan_, snap_, memory_);
  EXPECT_EQ(memory_.leader_uid, "uid-b");
  EXPECT_EQ(memory_.leader_since, kT0 - absl::Minutes(1));
}

// Two routes before one publish: both leaders wait for their Lease
// transitions, in order; a route that changes nothing adds none.
TEST_F(PlannerTest, EveryRoutedLeaderWaitsForItsLeaseTransition) {
  snap_.pods = {Pod("a", true, kT0 - absl::Minutes(9)),
                Pod("b", true, kT0 - absl::Minutes(7))};
  plan_ = PlanRouting(snap_, memory_);
  CommitLeader(plan_, snap_, memory_);
  RecordRoute(plan_, RouteOutcome{}, memory_);
  snap_.pods[0] = Pod("a", false, kT0 - absl::Minutes(9));
  snap_.now = kT0 + absl::Seconds(1);
  RoutingPlan second = PlanRouting(snap_, memory_);
  ASSERT_TRUE(second.choice.changed);
  CommitLeader(second, snap_, memory_);
  RecordRoute(second, RouteOutcome{}, memory_);
  RoutingPlan same = PlanRouting(snap_, memory_);
  ASSERT_FALSE(same.choice.changed);
  RecordRoute(same, RouteOutcome{}, memory_);
  RouteOutcome taken = TakeRouteChange(memory_);
  ASSERT_EQ(taken.leaders.size(), 2u);
  EXPECT_EQ(taken.leaders[0]->name, "a");
  EXPECT_EQ(taken.leaders[1]->name, "b");
  EXPECT_EQ(taken.from_uid, "");
  EXPECT_TRUE(memory_.route.leaders.empty());
}

// A guarded pool seen with two active pods: Ready=False (TwoActivePods)
// naming both, and a Warning on the pool's LeaderPolicy.
TEST_F(PlannerTest, TwoActivePodsOfAGuardedPoolAreReported) {
  policy_["spec"] = {{"followerMode", "scaleDown"}};
  snap_.policy_object = &policy_;
  snap_.pods = {Pod("a", true), Pod("b", false)};
  plan_ = PlanRouting(snap_, memory_);
  WriteOutcome outcome;
  outcome.lease_now = Held("a", 2);
  outcome.guard_violation = true;
  outcome.guard_active = {"a", "b"};
  ReportPlan r = PlanReport(snap_, plan_, outcome, options_, memory_);
  ASSERT_TRUE(r.status.has_value());
  EXPECT_EQ(r.status->ready.reason, "TwoActivePods");
  EXPECT_NE(r.status->ready.message.find("has 2: a, b"), std::string::npos)
      << r.status->ready.message;
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].reason, "TwoActivePods");
  EXPECT_EQ(r.warnings[0].name, "db");
  EXPECT_NE(r.warnings[0].note.find("kubectl get lease -n shop db"),
            std::string::npos);
  // One active pod: nothing of it.
  outcome.guard_violation = false;
  outcome.guard_active = {"a"};
  ReportPlan ok = PlanReport(snap_, plan_, outcome, options_, memory_);
  EXPECT_NE(ok.status->ready.reason, "TwoActivePods");
  EXPECT_TRUE(ok.warnings.empty());
}

}  // namespace
}  // namespace zenlead::op
