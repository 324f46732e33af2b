// NextLease: the fencing-token rules of the pool Lease, on a fixed clock.
#include "api/pool/pool_lease.h"

#include "gtest/gtest.h"

namespace zenlead::pool {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);
const absl::Duration kEvery = absl::Seconds(5);

Candidate Pod(const std::string& name) {
  Candidate c;
  c.name = name;
  c.uid = "uid-" + name;
  c.identity = name;
  return c;
}

LeaseState HeldBy(const std::string& name, int64_t transitions,
                  absl::Time renewed) {
  LeaseState s;
  s.holder_uid = "uid-" + name;
  s.holder_identity = name;
  s.transitions = transitions;
  s.acquire_time = renewed - absl::Minutes(1);
  s.renew_time = renewed;
  return s;
}

TEST(NextLeaseTest, FirstLeaderTakesTokenOne) {
  std::optional<LeaseState> next = NextLease(
      std::nullopt, Pod("a"), DefaultPolicySettings(), 0, kEvery, kNow);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->transitions, 1);
  EXPECT_EQ(next->holder_uid, "uid-a");
  EXPECT_EQ(next->acquire_time, kNow);
  EXPECT_EQ(next->renew_time, kNow);
}

TEST(NextLeaseTest, NewHolderTakesTheNextToken) {
  std::optional<LeaseState> next =
      NextLease(HeldBy("a", 7, kNow - absl::Seconds(1)), Pod("b"),
                DefaultPolicySettings(), 7, kEvery, kNow);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->transitions, 8);
  EXPECT_EQ(next->holder_identity, "b");
}

// The Lease was deleted (or recreated) after token 3: the next holder gets
// 4, never 1 again.
TEST(NextLeaseTest, TokenNeverGoesBackBelowTheHighWaterMark) {
  std::optional<LeaseState> next = NextLease(
      std::nullopt, Pod("a"), DefaultPolicySettings(), 3, kEvery, kNow);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->transitions, 4);
  // A Lease that says less than the mark (restored from an old backup).
  next = NextLease(HeldBy("a", 1, kNow), Pod("b"), DefaultPolicySettings(), 9,
                   kEvery, kNow);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->transitions, 10);
}

TEST(NextLeaseTest, SameHolderNotDueWritesNothing) {
  EXPECT_FALSE(NextLease(HeldBy("a", 2, kNow - absl::Seconds(1)), Pod("a"),
                         DefaultPolicySettings(), 2, kEvery, kNow)
                   .has_value());
}

TEST(NextLeaseTest, SameHolderDueIsOnlyARenewal) {
  LeaseState current = HeldBy("a", 2, kNow - kEvery);
  std::optional<LeaseState> next =
      NextLease(current, Pod("a"), DefaultPolicySettings(), 2, kEvery, kNow);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->renew_time, kNow);
  EXPECT_EQ(next->transitions, 2);
  EXPECT_TRUE(OnlyRenewal(current, *next));
}

TEST(NextLeaseTest, LeaderLostClearsTheHolderKeepsTheToken) {
  LeaseState current = HeldBy("a", 5, kNow - absl::Seconds(1));
  std::optional<LeaseState> next = NextLease(
      current, std::nullopt, DefaultPolicySettings(), 5, kEvery, kNow);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->holder_uid, "");
  EXPECT_EQ(next->holder_identity, "");
  EXPECT_EQ(next->transitions, 5);
  EXPECT_FALSE(OnlyRenewal(current, *next));
  // The next leader after a gap: 6.
  next = NextLease(*next, Pod("b"), DefaultPolicySettings(), 5, kEvery, kNow);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->transitions, 6);
}

TEST(NextLeaseTest, PolicyLeaseDurationChangeIsWritten) {
  PolicySettings policy = DefaultPolicySettings();
  policy.lease_duration_seconds = 60;
  std::optional<LeaseState> next =
      NextLease(HeldBy("a", 1, kNow), Pod("a"), policy, 1, kEvery, kNow);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->lease_duration_seconds, 60);
  EXPECT_EQ(next->transitions, 1);
}

TEST(LeasePatchTest, ClearsWhatTheLeaseNoLongerHas) {
  LeaseState none;
  none.transitions = 4;
  nlohmann::json patch = LeasePatch("ns", "db", DefaultPolicySettings(), none);
  EXPECT_TRUE(patch["spec"]["holderIdentity"].is_null()) << patch.dump();
  EXPECT_TRUE(patch["spec"]["renewTime"].is_null());
  EXPECT_EQ(patch["spec"]["leaseTransitions"], 4);
  EXPECT_EQ(patch["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "zen-lead");
  EXPECT_TRUE(patch["metadata"]["ownerReferences"].is_null());
  EXPECT_FALSE(patch.contains("kind"));
  LeaseState held = HeldBy("a", 5, kNow);
  PolicySettings policy = DefaultPolicySettings();
  policy.found = true;
  policy.uid = "p-uid";
  patch = LeasePatch("ns", "db", policy, held);
  EXPECT_EQ(patch["spec"]["holderIdentity"], "a");
  EXPECT_EQ(patch["metadata"]["annotations"]["zen-lead.io/holder-uid"],
            "uid-a");
  EXPECT_EQ(patch["metadata"]["ownerReferences"][0]["uid"], "p-uid");
}

}  // namespace
}  // namespace zenlead::pool
