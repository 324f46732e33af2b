// CachePolicyLookups against the real API server (e2e/cluster): the
// Deployments of a pool come from the shared cache with the strategy the
// API server defaulted, also one that joins only through a Service's
// selector (found through its pods and ReplicaSet, then read), the pool
// Lease is read from the API server (a foreign one too, which the cache
// never holds), and ValidatePolicy over them denies a scaleDown policy
// whose Deployment cannot roll out.
#include <memory>
#include <string>

#include "api/client/rest_client.h"
#include "api/client/testing/e2e_env.h"
#include "api/pool/cache.h"
#include "api/pool/testing/pooled_objects.h"
#include "api/runtime/metrics.h"
#include "api/types/deployment.h"
#include "api/types/lease.h"
#include "api/types/service.h"
#include "e2e/rbac/testing/counting_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "webhook/policy_validation_cache.h"

namespace zenlead::webhook {
namespace {

using client::testing::NewE2eClient;
using client::testing::TestNamespace;
using client::testing::WaitFor;
using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

// The pool model's e2e Deployment with `strategy` (none when null).
json PooledDeployment(const std::string& name, const std::string& pool,
                      const json& strategy) {
  json d = pool::testing::PooledDeployment(name, pool);
  if (!strategy.is_null()) d["spec"]["strategy"] = strategy;
  return d;
}

json PoolService(const std::string& name, const std::string& pool,
                 const std::string& app) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata",
           {{"name", name},
            {"annotations",
             {{"zen-lead.io/enabled", "true"}, {"zen-lead/pool", pool}}}}},
          {"spec",
           {{"selector", {{"app", app}}},
            {"ports", json::array({{{"port", 80}}})}}}};
}

json LeaseObject(const std::string& name, bool zen_lead) {
  json l = {{"apiVersion", "coordination.k8s.io/v1"},
            {"kind", "Lease"},
            {"metadata", {{"name", name}}},
            {"spec", {{"holderIdentity", "someone-else"}}}};
  if (zen_lead) {
    l["metadata"]["labels"] = {{"app.kubernetes.io/managed-by", "zen-lead"}};
  }
  return l;
}

TEST(PolicyValidationCacheE2eTest, LookupsAndDecisionsOnARealCluster) {
  std::unique_ptr<client::RestClient> api = NewE2eClient();
  ASSERT_NE(api, nullptr);
  std::unique_ptr<client::RestClient> watch = NewE2eClient();
  ASSERT_NE(watch, nullptr);
  TestNamespace test_ns(api.get(), "lpval");
  const std::string& ns = test_ns.name();
  const client::Resource& deployments = k8s::DeploymentClient::Resource();
  const client::Resource& leases = k8s::LeaseClient::Resource();
  // No strategy: the API server writes RollingUpdate 25% / 25%.
  ASSERT_TRUE(
      api->Create(deployments, ns, PooledDeployment("rolling", "web", json()))
          .ok());
  ASSERT_TRUE(
      api->Create(deployments, ns,
                  PooledDeployment("recreate", "web", {{"type", "Recreate"}}))
          .ok());
  // Joins pool "svc" only through the Service's selector.
  json backend = PooledDeployment("backend", "", {{"type", "RollingUpdate"}});
  backend["metadata"].erase("labels");
  backend["spec"]["replicas"] = 1;
  ASSERT_TRUE(api->Create(deployments, ns, backend).ok());
  ASSERT_TRUE(api->Create(k8s::ServiceClient::Resource(), ns,
                          PoolService("backend", "svc", "backend"))
                  .ok());
  ASSERT_TRUE(api->Create(leases, ns, LeaseObject("taken", false)).ok());
  ASSERT_TRUE(api->Create(leases, ns, LeaseObject("ours", true)).ok());

  pool::CacheOptions options;
  options.ns = ns;
  pool::Cache cache(pool::CacheDeps{watch.get(), nullptr, nullptr}, options);
  CachePolicyLookups lookups(&cache, api.get());
  // Before the cache holds Deployments: an error, never "none".
  EXPECT_TRUE(
      absl::IsFailedPrecondition(lookups.PoolDeployments(ns, "web").status()));
  for (pool::CacheKind k :
       {pool::CacheKind::kDeployments, pool::CacheKind::kReplicaSets,
        pool::CacheKind::kServices, pool::CacheKind::kPods}) {
    ASSERT_TRUE(cache.Use(k).ok());
  }
  ASSERT_TRUE(cache.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return cache.HasSynced(); }, absl::Seconds(30)));

  absl::StatusOr<std::vector<PoolDeployment>> found;
  ASSERT_TRUE(WaitFor(
      [&] {
        found = lookups.PoolDeployments(ns, "web");
        return found.ok() && found->size() == 2;
      },
      absl::Seconds(30)));
  // SourcesOf sorts by name.
  EXPECT_EQ((*found)[0].name, "recreate");
  EXPECT_EQ((*found)[0].strategy_type, "Recreate");
  EXPECT_EQ((*found)[1].name, "rolling");
  EXPECT_EQ((*found)[1].strategy_type, "RollingUpdate");
  EXPECT_EQ((*found)[1].replicas, 2);
  ASSERT_TRUE((*found)[1].max_unavailable.has_value());
  EXPECT_EQ((*found)[1].max_unavailable->ToString(), "25%");
  ASSERT_TRUE((*found)[1].max_surge.has_value());
  EXPECT_EQ((*found)[1].max_surge->ToString(), "25%");
  // Behind the Service: once its pod and ReplicaSet are cached.
  absl::StatusOr<std::vector<PoolDeployment>> behind;
  ASSERT_TRUE(WaitFor(
      [&] {
        behind = lookups.PoolDeployments(ns, "svc");
        return behind.ok() && behind->size() == 1;
      },
      absl::Seconds(60)))
      << behind.status();
  EXPECT_EQ((*behind)[0].name, "backend");
  EXPECT_EQ((*behind)[0].strategy_type, "RollingUpdate");
  EXPECT_EQ((*behind)[0].replicas, 1);
  absl::StatusOr<std::vector<PoolDeployment>> other =
      lookups.PoolDeployments(ns, "other");
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->empty());

  absl::StatusOr<std::optional<PoolLeaseInfo>> taken =
      lookups.PoolLease(ns, "taken");
  ASSERT_TRUE(taken.ok()) << taken.status();
  ASSERT_TRUE(taken->has_value());
  EXPECT_FALSE((*taken)->managed_by_zen_lead);
  absl::StatusOr<std::optional<PoolLeaseInfo>> ours =
      lookups.PoolLease(ns, "ours");
  ASSERT_TRUE(ours.ok() && ours->has_value()) << ours.status();
  EXPECT_TRUE((*ours)->managed_by_zen_lead);
  absl::StatusOr<std::optional<PoolLeaseInfo>> none =
      lookups.PoolLease(ns, "free");  // no Lease of that name
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());

  // Decisions over the real objects.
  auto policy = [&](const std::string& name, const json& spec) {
    return *api::v1alpha1::LeaderPolicy::FromJson(
        {{"metadata", {{"name", name}, {"namespace", ns}}}, {"spec", spec}});
  };
  Decision scale_down = ValidatePolicy(
      ns, policy("web", {{"followerMode", "scaleDown"}}), nullptr, &lookups);
  EXPECT_FALSE(scale_down.allowed);
  EXPECT_EQ(scale_down.reason, kReasonRolloutBlocked);
  EXPECT_EQ(scale_down.message,
            "spec.followerMode (scaleDown): Deployment " + ns +
                "/rolling could never finish a rollout: its RollingUpdate "
                "strategy keeps 2 of its 2 replicas available "
                "(maxUnavailable 25% is 0), but only one pod of a scaleDown "
                "pool runs, and the new ReplicaSet's pod is refused while it "
                "does; set the Deployment's spec.strategy.type to Recreate "
                "(or rollingUpdate.maxUnavailable to 100%)");
  EXPECT_TRUE(
      ValidatePolicy(ns, policy("web", json::object()), nullptr, &lookups)
          .allowed);
  Decision conflict =
      ValidatePolicy(ns, policy("taken", json::object()), nullptr, &lookups);
  EXPECT_FALSE(conflict.allowed);
  EXPECT_EQ(conflict.reason, kReasonLeaseConflict);
  EXPECT_TRUE(
      ValidatePolicy(ns, policy("ours", json::object()), nullptr, &lookups)
          .allowed);
  cache.Stop();

  // With zen-lead's Leases and the others cached (the zen-lead process):
  // the same answers with no API call, and a Lease created later is seen.
  runtime::Registry registry;
  absl::StatusOr<std::unique_ptr<client::RestClient>> counted =
      rbac::testing::NewCountingClient(&registry);
  ASSERT_TRUE(counted.ok()) << counted.status();
  pool::Cache leases_cache(pool::CacheDeps{watch.get(), nullptr, nullptr},
                           options);
  for (pool::CacheKind k :
       {pool::CacheKind::kDeployments, pool::CacheKind::kLeases,
        pool::CacheKind::kOtherLeases}) {
    ASSERT_TRUE(leases_cache.Use(k).ok());
  }
  ASSERT_TRUE(leases_cache.Start().ok());
  ASSERT_TRUE(
      WaitFor([&] { return leases_cache.HasSynced(); }, absl::Seconds(30)));
  CachePolicyLookups cached(&leases_cache, counted->get());
  taken = cached.PoolLease(ns, "taken");
  ASSERT_TRUE(taken.ok() && taken->has_value()) << taken.status();
  EXPECT_FALSE((*taken)->managed_by_zen_lead);
  ours = cached.PoolLease(ns, "ours");
  ASSERT_TRUE(ours.ok() && ours->has_value()) << ours.status();
  EXPECT_TRUE((*ours)->managed_by_zen_lead);
  none = cached.PoolLease(ns, "free");  // no Lease of that name
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(api->Create(leases, ns, LeaseObject("late", false)).ok());
  absl::StatusOr<std::optional<PoolLeaseInfo>> late;
  ASSERT_TRUE(WaitFor(
      [&] {
        late = cached.PoolLease(ns, "late");
        return late.ok() && late->has_value();
      },
      absl::Seconds(30)));
  EXPECT_FALSE((*late)->managed_by_zen_lead);
  EXPECT_EQ(ValidatePolicy(ns, policy("late", json::object()), nullptr, &cached)
                .reason,
            kReasonLeaseConflict);
  // No request at all through the lookups' client.
  EXPECT_THAT(registry.Render(), Not(HasSubstr("zen_lead_api_requests_total{")))
      << registry.Render();
  leases_cache.Stop();
}

}  // namespace
}  // namespace zenlead::webhook
