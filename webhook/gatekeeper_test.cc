// The Gatekeeper's pure parts: which memberships are guarded (the rule
// itself, pool::GuardOf, is in api/pool/guard_lease_test), with which
// settings, and which pods are active. The decision against the API server
// (reservations, conflicts, two replicas) is gatekeeper_e2e_test.
#include "webhook/gatekeeper.h"

#include <optional>
#include <string>
#include <vector>

#include "api/pool/membership.h"
#include "api/pool/objects.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace zenlead::webhook {
namespace {

using nlohmann::json;

pool::Source SourceOf(pool::Source::Kind kind, const std::string& pool,
                      const std::string& uid) {
  pool::Source s;
  s.kind = kind;
  s.ns = "shop";
  s.name = "w-" + uid;
  s.uid = uid;
  s.pool = pool;
  return s;
}

TEST(ActivePodTest, TerminatingIsActiveFinishedIsNot) {
  EXPECT_TRUE(ActivePod(json{{"metadata", {{"name", "a"}}}}));  // no status
  EXPECT_TRUE(ActivePod(json{{"status", {{"phase", "Pending"}}}}));
  EXPECT_TRUE(ActivePod(json{{"status", {{"phase", "Running"}}}}));
  EXPECT_TRUE(ActivePod(json{{"status", {{"phase", "Unknown"}}}}));
  EXPECT_TRUE(ActivePod(
      json{{"metadata", {{"deletionTimestamp", "2026-12-03T06:00:00Z"}}},
           {"status", {{"phase", "Running"}}}}));
  EXPECT_FALSE(ActivePod(json{{"status", {{"phase", "Succeeded"}}}}));
  EXPECT_FALSE(ActivePod(json{{"status", {{"phase", "Failed"}}}}));
  EXPECT_EQ(pool::PodPhase(json{{"status", "odd"}}), "");
}

TEST(GuardedPoolsOfTest, SettingsFromThePolicyDefaultsWithoutOne) {
  using K = pool::Source::Kind;
  const json scale_down_policy = {
      {"apiVersion", "coordination.kube-zen.io/v1alpha1"},
      {"kind", "LeaderPolicy"},
      {"metadata", {{"name", "db"}, {"namespace", "shop"}, {"uid", "lp"}}},
      {"spec", {{"followerMode", "scaleDown"}, {"leaseDurationSeconds", 30}}},
      {"status", {{"transitions", 7}}}};
  const json standby_policy = {
      {"apiVersion", "coordination.kube-zen.io/v1alpha1"},
      {"kind", "LeaderPolicy"},
      {"metadata", {{"name", "web"}, {"namespace", "shop"}, {"uid", "lp2"}}},
      {"spec", {{"followerMode", "standby"}}}};
  std::vector<pool::Membership> memberships;
  auto add = [&](K kind, const std::string& pool, const std::string& uid) {
    memberships.push_back(
        {pool::PoolKey{"shop", pool}, SourceOf(kind, pool, uid)});
  };
  add(K::kJob, "batch", "j1");       // no LeaderPolicy: still guarded
  add(K::kDeployment, "db", "d1");   // scaleDown
  add(K::kService, "db", "s1");      // joins db too, guards nothing
  add(K::kDeployment, "web", "d2");  // standby: not guarded
  int lookups = 0;
  const std::vector<GuardedPool> guarded = GuardedPoolsOf(
      memberships, [&](const pool::PoolKey& key) -> std::optional<json> {
        ++lookups;
        if (key.name == "db") return scale_down_policy;
        if (key.name == "web") return standby_policy;
        return std::nullopt;
      });
  EXPECT_EQ(lookups, 3);  // once per pool
  ASSERT_EQ(guarded.size(), 2u);
  EXPECT_EQ(guarded[0].pool.name, "batch");
  EXPECT_EQ(guarded[0].guard, pool::Guard::kStateGuard);
  EXPECT_FALSE(guarded[0].policy.found);
  EXPECT_EQ(guarded[0].high_water, 0);
  EXPECT_EQ(guarded[1].pool.name, "db");
  EXPECT_EQ(guarded[1].guard, pool::Guard::kGatekeeper);
  EXPECT_EQ(guarded[1].policy.lease_duration_seconds, 30);
  EXPECT_EQ(guarded[1].high_water, 7);
  ASSERT_EQ(guarded[1].sources.size(), 1u);  // the Service is not a guard
  EXPECT_EQ(guarded[1].sources[0].uid, "d1");
}

TEST(GuardedPoolsOfTest, AJobAmongAPoolsSourcesMakesItStateGuards) {
  using K = pool::Source::Kind;
  std::vector<pool::Membership> memberships = {
      {pool::PoolKey{"shop", "mixed"}, SourceOf(K::kDeployment, "mixed", "d")},
      {pool::PoolKey{"shop", "mixed"}, SourceOf(K::kJob, "mixed", "j")}};
  const json policy = {{"apiVersion", "coordination.kube-zen.io/v1alpha1"},
                       {"kind", "LeaderPolicy"},
                       {"metadata", {{"name", "mixed"}, {"namespace", "shop"}}},
                       {"spec", {{"followerMode", "scaleDown"}}}};
  const std::vector<GuardedPool> guarded = GuardedPoolsOf(
      memberships,
      [&](const pool::PoolKey&) -> std::optional<json> { return policy; });
  ASSERT_EQ(guarded.size(), 1u);
  EXPECT_EQ(guarded[0].guard, pool::Guard::kStateGuard);
  EXPECT_EQ(guarded[0].sources.size(), 2u);
}

}  // namespace
}  // namespace zenlead::webhook
