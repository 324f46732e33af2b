// Every row of guard_lease.h's table, the token rule, and violations.
#include "api/pool/guard_lease.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "api/types/leaderpolicy.h"
#include "gtest/gtest.h"

namespace zenlead::pool {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);
const absl::Duration kRenew = absl::Seconds(5);

OwnerRef Rs(const std::string& name) {
  OwnerRef o;
  o.kind = "ReplicaSet";
  o.name = name;
  o.uid = "uid-" + name;
  return o;
}

GuardPod Pod(const std::string& name, const std::string& phase,
             absl::Duration age, const OwnerRef& owner = Rs("web-1")) {
  GuardPod p;
  p.pod.name = name;
  p.pod.uid = "uid-" + name;
  p.pod.identity = name;
  p.pod.created = kNow - age;
  p.owner = owner;
  p.phase = phase;
  return p;
}

// Reserved by the webhook at `at` for a pod of `owner`, token `token`.
PoolLease Reserved(absl::Time at, int64_t token,
                   const OwnerRef& owner = Rs("web-1")) {
  PoolLease l;
  l.state.holder_identity = "replica-a/req-1";
  l.state.acquire_time = at;
  l.state.renew_time = at;
  l.state.lease_duration_seconds = 15;
  l.state.transitions = token;
  l.reservation = Reservation{owner, ""};
  return l;
}

PoolLease Held(const std::string& pod, absl::Time renewed, int64_t token) {
  PoolLease l;
  l.state.holder_uid = "uid-" + pod;
  l.state.holder_identity = pod;
  l.state.acquire_time = renewed;
  l.state.renew_time = renewed;
  l.state.lease_duration_seconds = 15;
  l.state.transitions = token;
  return l;
}

Source SourceOf(Source::Kind kind) {
  Source s;
  s.kind = kind;
  s.ns = "shop";
  s.name = "w";
  s.uid = "1";
  s.pool = "p";
  return s;
}

PolicySettings Mode(const std::string& mode) {
  PolicySettings p;
  p.follower_mode = mode;
  return p;
}

TEST(GuardOfTest, JobsAlwaysScaleDownWorkloadsOnlyServicesNever) {
  using K = Source::Kind;
  using api::v1alpha1::LeaderPolicySpec;
  const PolicySettings standby = Mode(LeaderPolicySpec::kFollowerModeStandby);
  const PolicySettings scale_down =
      Mode(LeaderPolicySpec::kFollowerModeScaleDown);
  EXPECT_EQ(GuardOf(SourceOf(K::kJob), standby), Guard::kStateGuard);
  EXPECT_EQ(GuardOf(SourceOf(K::kCronJob), standby), Guard::kStateGuard);
  EXPECT_EQ(GuardOf(SourceOf(K::kDeployment), standby), Guard::kNone);
  EXPECT_EQ(GuardOf(SourceOf(K::kDeployment), scale_down), Guard::kGatekeeper);
  EXPECT_EQ(GuardOf(SourceOf(K::kStatefulSet), scale_down), Guard::kGatekeeper);
  EXPECT_EQ(GuardOf(SourceOf(K::kService), scale_down), Guard::kNone);
  EXPECT_STREQ(GuardName(Guard::kStateGuard), "StateGuard");
}

TEST(FinishedPhaseTest, OnlySucceededAndFailed) {
  EXPECT_TRUE(FinishedPhase("Succeeded"));
  EXPECT_TRUE(FinishedPhase("Failed"));
  for (const char* active : {"", "Pending", "Running", "Unknown"}) {
    EXPECT_FALSE(FinishedPhase(active)) << active;
  }
}

GuardDecision Decide(const std::optional<PoolLease>& current,
                     const std::vector<GuardPod>& pods,
                     int64_t high_water = 0) {
  return DecideGuardLease(current, pods, PolicySettings(), high_water, kRenew,
                          kNow);
}

TEST(DecideGuardLeaseTest, TheReservedPodAppearsAndIsBoundWithItsToken) {
  const GuardDecision d =
      Decide(Reserved(kNow - absl::Seconds(1), 3),
             {Pod("web-1-a", "Pending", absl::Milliseconds(500))});
  ASSERT_TRUE(d.write.has_value());
  EXPECT_EQ(PhaseOf(*d.write), LeasePhase::kHeld);
  EXPECT_EQ(d.write->state.holder_uid, "uid-web-1-a");
  EXPECT_EQ(d.write->state.holder_identity, "web-1-a");
  EXPECT_EQ(d.write->state.transitions, 3) << "binding takes no new token";
  EXPECT_FALSE(d.write->reservation.has_value());
  EXPECT_FALSE(d.violation);
}

TEST(DecideGuardLeaseTest, AnExpiredReservationStillBindsItsPod) {
  const GuardDecision d =
      Decide(Reserved(kNow - absl::Seconds(60), 3),
             {Pod("web-1-a", "Running", absl::Seconds(50))});
  ASSERT_TRUE(d.write.has_value());
  EXPECT_EQ(d.write->state.holder_uid, "uid-web-1-a");
  EXPECT_EQ(d.write->state.transitions, 3);
}

TEST(DecideGuardLeaseTest, AReservationWhosePodNeverCameExpires) {
  // Another owner's pod does not match the reservation.
  const GuardPod stranger =
      Pod("other-a", "Succeeded", absl::Seconds(90), Rs("other"));
  EXPECT_FALSE(Decide(Reserved(kNow - absl::Seconds(10), 3), {stranger}).write)
      << "in force for 15 s: nothing to write";
  const GuardDecision d =
      Decide(Reserved(kNow - absl::Seconds(16), 3), {stranger});
  ASSERT_TRUE(d.write.has_value());
  EXPECT_EQ(PhaseOf(*d.write), LeasePhase::kFree);
  EXPECT_EQ(d.write->state.transitions, 3) << "expiry keeps the token";
  EXPECT_EQ(d.write->state.holder_identity, "");
}

TEST(DecideGuardLeaseTest, AHolderGoneOrFinishedIsReleased) {
  const GuardDecision gone = Decide(Held("web-1-a", kNow, 4), {});
  ASSERT_TRUE(gone.write.has_value());
  EXPECT_EQ(PhaseOf(*gone.write), LeasePhase::kFree);
  EXPECT_EQ(gone.write->state.transitions, 4);
  for (const char* phase : {"Succeeded", "Failed"}) {
    const GuardDecision done = Decide(
        Held("web-1-a", kNow, 4), {Pod("web-1-a", phase, absl::Seconds(9))});
    ASSERT_TRUE(done.write.has_value()) << phase;
    EXPECT_EQ(PhaseOf(*done.write), LeasePhase::kFree) << phase;
  }
}

TEST(DecideGuardLeaseTest, AnActiveHolderIsRenewedOnlyWhenDue) {
  const std::vector<GuardPod> pods = {
      Pod("web-1-a", "Running", absl::Seconds(30))};
  EXPECT_FALSE(Decide(Held("web-1-a", kNow - absl::Seconds(2), 4), pods).write);
  const GuardDecision due =
      Decide(Held("web-1-a", kNow - absl::Seconds(6), 4), pods);
  ASSERT_TRUE(due.write.has_value());
  EXPECT_EQ(due.write->state.renew_time, kNow);
  EXPECT_EQ(due.write->state.holder_uid, "uid-web-1-a");
  EXPECT_EQ(due.write->state.transitions, 4);
  // Terminating is still active: the pod is not released.
  GuardPod terminating = pods[0];
  terminating.pod.terminating = true;
  EXPECT_FALSE(
      Decide(Held("web-1-a", kNow - absl::Seconds(2), 4), {terminating}).write);
}

TEST(DecideGuardLeaseTest, AnUnrecordedActivePodIsAdoptedWithANewToken) {
  // No Lease at all, a pod running (admitted while the webhook was down).
  const GuardDecision none =
      Decide(std::nullopt, {Pod("web-1-a", "Running", absl::Seconds(5))},
             /*high_water=*/7);
  ASSERT_TRUE(none.write.has_value());
  EXPECT_EQ(none.write->state.holder_uid, "uid-web-1-a");
  EXPECT_EQ(none.write->state.transitions, 8) << "above the high-water mark";
  EXPECT_EQ(none.write->state.acquire_time, kNow);
  // Nothing runs and there is no Lease: nothing to write.
  EXPECT_FALSE(Decide(std::nullopt, {}).write);
  EXPECT_FALSE(
      Decide(std::nullopt, {Pod("web-1-a", "Succeeded", absl::Seconds(5))})
          .write);
}

TEST(DecideGuardLeaseTest, ReleaseAndAdoptionInOneWrite) {
  // The holder finished, another pod already runs: one write, the running
  // pod holds with the next token.
  const GuardDecision d = Decide(Held("job-a", kNow - absl::Seconds(1), 4),
                                 {Pod("job-a", "Succeeded", absl::Seconds(20)),
                                  Pod("job-b", "Running", absl::Seconds(2))});
  ASSERT_TRUE(d.write.has_value());
  EXPECT_EQ(d.write->state.holder_uid, "uid-job-b");
  EXPECT_EQ(d.write->state.transitions, 5);
  EXPECT_FALSE(d.violation);
}

TEST(DecideGuardLeaseTest, TwoActivePodsAreAViolationTheOldestHolds) {
  const GuardDecision d =
      Decide(std::nullopt, {Pod("web-1-b", "Running", absl::Seconds(5)),
                            Pod("web-1-a", "Running", absl::Seconds(50)),
                            Pod("web-1-c", "Failed", absl::Seconds(90))});
  EXPECT_TRUE(d.violation);
  EXPECT_EQ(d.active, (std::vector<std::string>{"web-1-a", "web-1-b"}));
  ASSERT_TRUE(d.write.has_value());
  EXPECT_EQ(d.write->state.holder_uid, "uid-web-1-a");
  // Held by one of them: still a violation, nothing else to write.
  const GuardDecision held = Decide(
      Held("web-1-a", kNow, 2), {Pod("web-1-a", "Running", absl::Seconds(50)),
                                 Pod("web-1-b", "Running", absl::Seconds(5))});
  EXPECT_TRUE(held.violation);
  EXPECT_FALSE(held.write);
}

TEST(DecideGuardLeaseTest, AJobPodThatFinishedBeforeItWasBoundFreesThePool) {
  const GuardDecision d =
      Decide(Reserved(kNow - absl::Seconds(2), 6, Rs("job")),
             {Pod("job-x", "Succeeded", absl::Seconds(1), Rs("job"))});
  ASSERT_TRUE(d.write.has_value());
  EXPECT_EQ(PhaseOf(*d.write), LeasePhase::kFree);
  EXPECT_EQ(d.write->state.transitions, 6);
}

TEST(DecideGuardLeaseTest, AnOlderPodOfTheSameOwnerIsNotTheReservedOne) {
  // The ReplicaSet's pod evicted an hour ago (Failed, still listed) matches
  // the reservation's owner but predates the admission: not bound.
  const PoolLease reserved = Reserved(kNow - absl::Seconds(2), 3);
  const GuardPod evicted = Pod("web-1-old", "Failed", absl::Hours(1));
  EXPECT_FALSE(Decide(reserved, {evicted}).write) << "still reserved";
  const GuardDecision d = Decide(
      reserved, {evicted, Pod("web-1-new", "Pending", absl::Seconds(1))});
  ASSERT_TRUE(d.write.has_value());
  EXPECT_EQ(d.write->state.holder_uid, "uid-web-1-new");
  EXPECT_EQ(d.write->state.transitions, 3);
}

}  // namespace
}  // namespace zenlead::pool
