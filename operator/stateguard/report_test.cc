// StateGuard's report with fixed times: phases, currentHolder, the Events
// of a waiting Job, of two active pods and of a mixed pool.
#include "operator/stateguard/report.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::op {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

pool::Source JobSource(const std::string& name) {
  pool::Source s;
  s.kind = pool::Source::Kind::kJob;
  s.ns = "shop";
  s.name = name;
  s.uid = "uid-" + name;
  s.pool = "batch";
  return s;
}

pool::GuardPod PodOf(const std::string& job, const std::string& name,
                     const std::string& phase) {
  pool::GuardPod p;
  p.pod.name = name;
  p.pod.uid = "uid-" + name;
  p.pod.identity = name;
  p.pod.created = kNow - absl::Seconds(30);
  p.owner = {"batch/v1", "Job", job, "uid-" + job};
  p.phase = phase;
  return p;
}

GuardJob Job(const std::string& name, bool finished = false,
             bool suspended = false) {
  GuardJob j;
  j.name = name;
  j.uid = "uid-" + name;
  j.known = true;
  j.finished = finished;
  j.suspended = suspended;
  return j;
}

class ReportTest : public ::testing::Test {
 protected:
  ReportTest() {
    policy_ = {
        {"apiVersion", "coordination.kube-zen.io/v1alpha1"},
        {"kind", "LeaderPolicy"},
        {"metadata", {{"name", "batch"}, {"namespace", "shop"}, {"uid", "lp"}}},
        {"spec", json::object()}};
    snap_.key = {"shop", "batch"};
    snap_.now = kNow;
    snap_.policy_object = &policy_;
    snap_.sources = {JobSource("a"), JobSource("b"), JobSource("c")};
    snap_.jobs = {Job("a"), Job("b"), Job("c", /*finished=*/true)};
  }

  // The Lease held by `pod` with token `token`.
  static pool::PoolLease HeldBy(const pool::GuardPod& pod, int64_t token) {
    pool::PoolLease l;
    l.state.holder_uid = pod.pod.uid;
    l.state.holder_identity = pod.pod.identity;
    l.state.transitions = token;
    l.state.acquire_time = l.state.renew_time = kNow - absl::Seconds(20);
    return l;
  }

  json policy_;
  GuardSnapshot snap_;
};

TEST_F(ReportTest, NothingActiveIsIdle) {
  GuardOutcome outcome;
  pool::PoolLease free;
  free.state.transitions = 4;
  outcome.lease = free;
  outcome.token_high_water = 4;
  const GuardReport r = PlanGuardReport(snap_, outcome);
  ASSERT_TRUE(r.status.has_value());
  EXPECT_EQ(r.status->phase, "Idle");
  EXPECT_FALSE(r.status->holder.has_value());
  EXPECT_EQ(r.status->leader_elected.status, "False");
  EXPECT_EQ(r.status->leader_elected.reason, "Idle");
  EXPECT_EQ(r.status->ready.status, "True");
  EXPECT_EQ(r.status->transitions, 4);
  EXPECT_TRUE(r.notices.empty());  // nothing holds the pool: no one waits
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_FALSE(r.registry.has_leader);
}

TEST_F(ReportTest, TheRunningPodHoldsAndOtherJobsWait) {
  const pool::GuardPod running = PodOf("a", "a-x1", "Running");
  snap_.pods = {running, PodOf("c", "c-done", "Succeeded")};
  GuardOutcome outcome;
  outcome.lease = HeldBy(running, 7);
  outcome.active = {"a-x1"};
  outcome.token_high_water = 6;
  const GuardReport r = PlanGuardReport(snap_, outcome);
  ASSERT_TRUE(r.status.has_value());
  EXPECT_EQ(r.status->phase, "Stable");
  ASSERT_TRUE(r.status->holder.has_value());
  EXPECT_EQ(r.status->holder->name, "a-x1");
  EXPECT_EQ(r.status->holder_since, kNow - absl::Seconds(20));
  EXPECT_EQ(r.status->transitions, 7);
  EXPECT_EQ(r.status->leader_elected.reason, "Running");
  EXPECT_EQ(r.status->candidates, 1);
  // b waits; a runs; c is finished.
  ASSERT_EQ(r.notices.size(), 1u);
  EXPECT_EQ(r.notices[0].kind, "Job");
  EXPECT_EQ(r.notices[0].name, "b");
  EXPECT_EQ(r.notices[0].reason, "JobWaiting");
  EXPECT_FALSE(r.notices[0].warning);
  EXPECT_THAT(r.notices[0].note, HasSubstr("pod a-x1 is active"));
  EXPECT_THAT(r.notices[0].note, HasSubstr("kubectl get lease -n shop batch"));
  EXPECT_TRUE(r.registry.has_leader);
  EXPECT_EQ(r.registry.pod_name, "a-x1");
  EXPECT_EQ(r.registry.fencing_token, 7);
}

TEST_F(ReportTest, ASuspendedJobDoesNotWait) {
  snap_.jobs = {Job("a"), Job("b", false, /*suspended=*/true)};
  const pool::GuardPod running = PodOf("a", "a-x1", "Running");
  snap_.pods = {running};
  GuardOutcome outcome;
  outcome.lease = HeldBy(running, 1);
  outcome.active = {"a-x1"};
  EXPECT_TRUE(PlanGuardReport(snap_, outcome).notices.empty());
}

TEST_F(ReportTest, AReservationInForceIsElecting) {
  GuardOutcome outcome;
  pool::PoolLease reserved;
  reserved.state.holder_identity = "zen-lead/req-1";
  reserved.state.transitions = 3;
  reserved.state.acquire_time = reserved.state.renew_time =
      kNow - absl::Seconds(1);
  reserved.state.lease_duration_seconds = 15;
  reserved.reservation =
      pool::Reservation{{"batch/v1", "Job", "a", "uid-a"}, ""};
  outcome.lease = reserved;
  const GuardReport r = PlanGuardReport(snap_, outcome);
  ASSERT_TRUE(r.status.has_value());
  EXPECT_EQ(r.status->phase, "Electing");
  EXPECT_EQ(r.status->leader_elected.reason, "Admitted");
  // b waits for a's admitted pod; a does not wait for its own.
  ASSERT_EQ(r.notices.size(), 1u);
  EXPECT_EQ(r.notices[0].name, "b");
  EXPECT_THAT(r.notices[0].note, HasSubstr("a pod was just admitted"));
}

TEST_F(ReportTest, TwoActivePodsAreAWarningAndNotReady) {
  const pool::GuardPod first = PodOf("a", "a-x1", "Running");
  const pool::GuardPod second = PodOf("b", "b-y1", "Pending");
  snap_.pods = {first, second};
  GuardOutcome outcome;
  outcome.lease = HeldBy(first, 2);
  outcome.active = {"a-x1", "b-y1"};
  outcome.violation = true;
  const GuardReport r = PlanGuardReport(snap_, outcome);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].reason, "TwoActivePods");
  EXPECT_EQ(r.warnings[0].kind, "LeaderPolicy");
  EXPECT_TRUE(r.warnings[0].warning);
  EXPECT_THAT(r.warnings[0].note, HasSubstr("has 2: a-x1, b-y1"));
  ASSERT_TRUE(r.status.has_value());
  EXPECT_EQ(r.status->ready.status, "False");
  EXPECT_EQ(r.status->ready.reason, "TwoActivePods");
  EXPECT_EQ(r.status->holder->name, "a-x1");  // the Lease's holder
}

TEST_F(ReportTest, AMixedPoolIsReportedOnTheFirstJobWithoutAPolicy) {
  snap_.policy_object = nullptr;
  pool::Source d;
  d.kind = pool::Source::Kind::kDeployment;
  d.ns = "shop";
  d.name = "web";
  d.uid = "uid-web";
  d.pool = "batch";
  snap_.sources.push_back(d);
  const GuardReport r = PlanGuardReport(snap_, GuardOutcome());
  EXPECT_FALSE(r.status.has_value());  // no LeaderPolicy: no status
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].reason, "MixedPool");
  EXPECT_EQ(r.warnings[0].kind, "Job");
  EXPECT_EQ(r.warnings[0].name, "a");
  EXPECT_THAT(r.warnings[0].note, HasSubstr("also Deployment web"));
}

TEST_F(ReportTest, AForeignLeaseAndAFailedWriteAreNotReady) {
  GuardOutcome outcome;
  outcome.lease_conflict = true;
  outcome.result = absl::UnavailableError("connection refused");
  const GuardReport r = PlanGuardReport(snap_, outcome);
  ASSERT_TRUE(r.status.has_value());
  EXPECT_EQ(r.status->ready.reason, "LeaseConflict");
  EXPECT_THAT(r.status->ready.message, HasSubstr("connection refused"));
}

TEST(GuardJobTest, SuspendedAndFinishedFromTheObject) {
  std::optional<GuardJob> j = GuardJobFromObject(
      json{{"metadata", {{"name", "a"}, {"uid", "u"}}},
           {"spec", {{"suspend", true}}},
           {"status",
            {{"conditions",
              json::array({{{"type", "Complete"}, {"status", "True"}}})}}}});
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ(j->name, "a");
  EXPECT_TRUE(j->known);
  EXPECT_TRUE(j->suspended);
  EXPECT_TRUE(j->finished);
  j = GuardJobFromObject(
      json{{"metadata", {{"name", "b"}}},
           {"spec", json::object()},
           {"status",
            {{"conditions",
              json::array({{{"type", "Failed"}, {"status", "False"}}})}}}});
  ASSERT_TRUE(j.has_value());
  EXPECT_FALSE(j->finished);
  EXPECT_FALSE(j->suspended);
  // A CronJob's Job, cached by metadata only: not known.
  j = GuardJobFromObject(json{{"metadata", {{"name", "c"}}}});
  ASSERT_TRUE(j.has_value());
  EXPECT_FALSE(j->known);
  EXPECT_FALSE(GuardJobFromObject(json("x")).has_value());
}

}  // namespace
}  // namespace zenlead::op
