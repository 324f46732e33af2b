#include "api/pool/election.h"

#include "gtest/gtest.h"

namespace zenlead::pool {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'000'000);

Candidate Pod(const std::string& name, int created_secs_ago,
              bool ready = true) {
  Candidate c;
  c.name = name;
  c.uid = "uid-" + name;
  c.identity = name;
  c.pod_ip = "10.0.0." + std::to_string(name.size());
  c.created = kNow - absl::Seconds(created_secs_ago);
  c.ready = ready;
  c.ready_since = c.created;
  return c;
}

TEST(ChooseLeaderTest, PicksOldestReadyPod) {
  Choice c = ChooseLeader({Pod("b", 10), Pod("a", 30), Pod("c", 20)}, "",
                          absl::ZeroDuration(), kNow);
  ASSERT_TRUE(c.leader.has_value());
  EXPECT_EQ(c.leader->name, "a");
  EXPECT_TRUE(c.changed);
  EXPECT_EQ(c.ready_candidates, 3);
}

TEST(ChooseLeaderTest, TiesBrokenByName) {
  Choice c = ChooseLeader({Pod("web-b", 10), Pod("web-a", 10)}, "",
                          absl::ZeroDuration(), kNow);
  ASSERT_TRUE(c.leader.has_value());
  EXPECT_EQ(c.leader->name, "web-a");
}

TEST(ChooseLeaderTest, StickyWhileCurrentLeaderCanLead) {
  // "a" is older but "b" leads: no steal.
  Choice c = ChooseLeader({Pod("a", 30), Pod("b", 10)}, "uid-b",
                          absl::ZeroDuration(), kNow);
  ASSERT_TRUE(c.leader.has_value());
  EXPECT_EQ(c.leader->name, "b");
  EXPECT_FALSE(c.changed);
}

TEST(ChooseLeaderTest, FailsOverWhenLeaderNotReady) {
  Candidate b = Pod("b", 10);
  b.ready = false;
  Choice c = ChooseLeader({Pod("a", 5), b, Pod("c", 1)}, "uid-b",
                          absl::ZeroDuration(), kNow);
  ASSERT_TRUE(c.leader.has_value());
  EXPECT_EQ(c.leader->name, "a");
  EXPECT_TRUE(c.changed);
  EXPECT_EQ(c.ready_candidates, 2);
}

TEST(ChooseLeaderTest, FailsOverWhenLeaderTerminatingOrWithoutIp) {
  Candidate b = Pod("b", 10);
  b.terminating = true;
  EXPECT_EQ(ChooseLeader({b, Pod("a", 5)}, "uid-b", absl::ZeroDuration(), kNow)
                .leader->name,
            "a");
  b.terminating = false;
  b.pod_ip.clear();
  EXPECT_EQ(ChooseLeader({b, Pod("a", 5)}, "uid-b", absl::ZeroDuration(), kNow)
                .leader->name,
            "a");
}

TEST(ChooseLeaderTest, LeaderDeletedFromCacheFailsOver) {
  Choice c =
      ChooseLeader({Pod("a", 5)}, "uid-gone", absl::ZeroDuration(), kNow);
  ASSERT_TRUE(c.leader.has_value());
  EXPECT_EQ(c.leader->name, "a");
  EXPECT_TRUE(c.changed);
}

TEST(ChooseLeaderTest, NoReadyCandidates) {
  Choice c = ChooseLeader({Pod("a", 5, false), Pod("b", 5, false)}, "uid-a",
                          absl::ZeroDuration(), kNow);
  EXPECT_FALSE(c.leader.has_value());
  EXPECT_TRUE(c.changed);
  EXPECT_EQ(c.ready_candidates, 0);
  Choice none = ChooseLeader({}, "", absl::ZeroDuration(), kNow);
  EXPECT_FALSE(none.leader.has_value());
  EXPECT_FALSE(none.changed);
}

TEST(ChooseLeaderTest, MinReadySecondsDampsFlappingPods) {
  Candidate fresh = Pod("a", 100);
  fresh.ready_since = kNow - absl::Seconds(3);
  Candidate settled = Pod("b", 50);
  settled.ready_since = kNow - absl::Seconds(20);
  // "a" is older but Ready only 3 s of the 10 required.
  Choice c = ChooseLeader({fresh, settled}, "", absl::Seconds(10), kNow);
  ASSERT_TRUE(c.leader.has_value());
  EXPECT_EQ(c.leader->name, "b");
  EXPECT_EQ(c.ready_candidates, 2);
}

TEST(ChooseLeaderTest, MinReadySecondsAsksForRecheck) {
  Candidate fresh = Pod("a", 100);
  fresh.ready_since = kNow - absl::Seconds(3);
  Choice c = ChooseLeader({fresh}, "", absl::Seconds(10), kNow);
  EXPECT_FALSE(c.leader.has_value());
  ASSERT_TRUE(c.recheck_after.has_value());
  EXPECT_EQ(*c.recheck_after, absl::Seconds(7));
}

TEST(ChooseLeaderTest, MinReadySecondsDoesNotDemoteCurrentLeader) {
  Candidate leader = Pod("a", 100);
  leader.ready_since = kNow - absl::Seconds(1);
  Choice c =
      ChooseLeader({leader, Pod("b", 50)}, "uid-a", absl::Seconds(10), kNow);
  EXPECT_EQ(c.leader->name, "a");
  EXPECT_FALSE(c.changed);
  EXPECT_FALSE(c.recheck_after.has_value());
}

}  // namespace
}  // namespace zenlead::pool
