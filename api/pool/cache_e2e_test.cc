// The shared cache against the real API server (e2e/cluster): the header's
// example, informers made on first use and sharing one client, the pool's
// sources and pods read through the indexes, and membership of a pod at
// admission (no name, no UID) through a ReplicaSet the cache does not hold,
// read from the API server.
#include <atomic>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "api/client/rest_client.h"
#include "api/client/testing/e2e_env.h"
#include "api/pool/cache.h"
#include "api/pool/testing/pooled_objects.h"
#include "api/types/deployment.h"
#include "api/types/replicaset.h"
#include "gtest/gtest.h"

namespace zenlead::pool {
namespace {

using client::testing::NewE2eClient;
using client::testing::TestNamespace;
using client::testing::WaitFor;
using pool::testing::PooledDeployment;
using json = nlohmann::json;

class CacheE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = NewE2eClient();
    ASSERT_NE(api_, nullptr);
    watch_ = NewE2eClient();
    ASSERT_NE(watch_, nullptr);
    ns_ = std::make_unique<TestNamespace>(api_.get(), "cache");
  }
  void TearDown() override {
    if (cache_) cache_->Stop();
    ns_.reset();
  }

  std::unique_ptr<client::RestClient> api_;
  std::unique_ptr<client::RestClient> watch_;
  std::unique_ptr<TestNamespace> ns_;
  std::unique_ptr<Cache> cache_;
};

TEST_F(CacheE2eTest, SourcesPodsAndMembershipFromOneCache) {
  const std::string ns = ns_->name();
  ASSERT_TRUE(api_->Create(k8s::DeploymentClient::Resource(), ns,
                           PooledDeployment("web", "db"))
                  .ok());

  // The header's example.
  CacheOptions options;
  options.ns = ns;
  cache_ = std::make_unique<Cache>(CacheDeps{watch_.get(), nullptr, nullptr},
                                   options);
  Cache& cache = *cache_;
  std::atomic<int> added{0};
  runtime::EventHandler handler;
  handler.on_add = [&](const runtime::ObjectPtr&) { ++added; };
  absl::StatusOr<runtime::Informer*> pods = cache.Use(CacheKind::kPods);
  ASSERT_TRUE(pods.ok()) << pods.status();
  ASSERT_TRUE((*pods)->AddEventHandler(handler).ok());
  for (CacheKind k : {CacheKind::kDeployments, CacheKind::kReplicaSets,
                      CacheKind::kServices}) {
    ASSERT_TRUE(cache.Use(k).ok());
  }
  EXPECT_EQ(cache.Get(CacheKind::kJobs), nullptr) << "made on first use only";
  ASSERT_TRUE(cache.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return cache.HasSynced(); }, absl::Seconds(30)));
  EXPECT_TRUE(absl::IsFailedPrecondition(cache.Use(CacheKind::kJobs).status()))
      << "no informer is added once the cache runs";
  EXPECT_TRUE(cache.Use(CacheKind::kPods).ok()) << "one already in use is";

  std::vector<Source> sources;
  ASSERT_TRUE(WaitFor(
      [&] {
        sources = cache.SourcesOf(PoolKey{ns, "db"});
        return sources.size() == 1 && cache.PodsOf(sources[0]).size() == 2;
      },
      absl::Seconds(60)))
      << "sources " << sources.size();
  EXPECT_EQ(sources[0].name, "web");
  EXPECT_EQ(sources[0].kind, Source::Kind::kDeployment);
  EXPECT_GE(added.load(), 2);
  for (const runtime::ObjectPtr& pod : cache.PodsOf(sources[0])) {
    PodPools p = PoolsOfPod(*pod, "", cache, nullptr);
    ASSERT_TRUE(p.unresolved.ok()) << p.unresolved;
    EXPECT_EQ(p.Keys(), (std::vector<PoolKey>{{ns, "db"}}));
  }
  const absl::Time stop = absl::Now();
  cache.Stop();
  EXPECT_LT(absl::Now() - stop, absl::Seconds(1))
      << "every informer ends its own quiet watch at once";
  // The shared client serves on.
  EXPECT_TRUE(watch_->Get(k8s::DeploymentClient::Resource(), ns, "web").ok());
}

// A pod at admission has no name and no UID, and its ReplicaSet may be
// milliseconds old: a cache without ReplicaSets (or one that lags) reads
// the owner from the API server, once while it is remembered.
TEST_F(CacheE2eTest, PodAtAdmissionThroughAReplicaSetTheCacheLacks) {
  const std::string ns = ns_->name();
  ASSERT_TRUE(api_->Create(k8s::DeploymentClient::Resource(), ns,
                           PooledDeployment("api", "gate"))
                  .ok());
  CacheOptions options;
  options.ns = ns;
  cache_ = std::make_unique<Cache>(CacheDeps{watch_.get(), nullptr, nullptr},
                                   options);
  ASSERT_TRUE(cache_->Use(CacheKind::kDeployments).ok());
  ASSERT_TRUE(cache_->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return cache_->HasSynced(); }, absl::Seconds(30)));
  json rs;
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<json> list =
            api_->List(k8s::ReplicaSetClient::Resource(), ns, {});
        if (!list.ok() || (*list)["items"].empty()) return false;
        rs = (*list)["items"][0];
        return !cache_->SourcesOf(PoolKey{ns, "gate"}).empty();
      },
      absl::Seconds(60)));
  json pod = {
      {"metadata",
       {{"generateName", rs["metadata"]["name"].get<std::string>() + "-"},
        {"ownerReferences", json::array({{{"apiVersion", "apps/v1"},
                                          {"kind", "ReplicaSet"},
                                          {"name", rs["metadata"]["name"]},
                                          {"uid", rs["metadata"]["uid"]},
                                          {"controller", true}}})}}}};
  MembershipOptions strict;
  strict.require_owners = true;
  // Without a reader: unknown, never "no pool".
  EXPECT_TRUE(absl::IsUnavailable(
      PoolsOfPod(pod, ns, *cache_, nullptr, strict).unresolved));
  OwnerReader reader(api_.get(), nullptr);
  PodPools p = PoolsOfPod(pod, ns, *cache_, &reader, strict);
  ASSERT_TRUE(p.unresolved.ok()) << p.unresolved;
  EXPECT_EQ(p.Keys(), (std::vector<PoolKey>{{ns, "gate"}}));
  PoolsOfPod(pod, ns, *cache_, &reader, strict);
  EXPECT_EQ(reader.reads(), 1);
}

}  // namespace
}  // namespace zenlead::pool
