// GuardedPods against the real API server (e2e/cluster): two webhook
// replicas, each with its own cache and client, decide concurrent reviews
// of one scaleDown pool; exactly one is admitted per round and the fencing
// token grows by one each time. Dry runs write nothing; a holder that is
// gone is replaced in one write; an active pod of a Job pool denies with
// its name; a foreign Lease denies.
#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/client/rest_client.h"
#include "api/client/testing/e2e_env.h"
#include "api/pool/cache.h"
#include "api/pool/membership.h"
#include "api/pool/pool_lease.h"
#include "api/pool/testing/pooled_objects.h"
#include "api/runtime/meta.h"
#include "api/types/admissionreview.h"
#include "api/types/deployment.h"
#include "api/types/job.h"
#include "api/types/leaderpolicy.h"
#include "api/types/lease.h"
#include "api/types/replicaset.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "webhook/gatekeeper.h"
#include "webhook/pod_admission.h"

namespace zenlead::webhook {
namespace {

using client::testing::NewE2eClient;
using client::testing::TestNamespace;
using client::testing::WaitFor;
using json = nlohmann::json;
using ::testing::HasSubstr;

constexpr char kPool[] = "db";

json Policy(const std::string& name, const std::string& mode) {
  return {{"apiVersion", "coordination.kube-zen.io/v1alpha1"},
          {"kind", "LeaderPolicy"},
          {"metadata", {{"name", name}}},
          {"spec", {{"followerMode", mode}}}};
}

// One webhook replica: its own watch client, cache, API client and handler.
struct Replica {
  std::unique_ptr<client::RestClient> watch;
  std::unique_ptr<client::RestClient> api;
  std::unique_ptr<pool::Cache> cache;
  std::unique_ptr<pool::OwnerReader> reader;
  std::unique_ptr<GuardedPods> guard;

  ~Replica() {
    if (cache) cache->Stop();
  }
};

class GatekeeperE2eTest : public ::testing::Test {
 protected:
  // The LeaderPolicy CRD: a cluster of e2e/cluster/up starts without it.
  static void SetUpTestSuite() {
    ASSERT_TRUE(client::testing::InstallLeaderPolicyCrd());
  }

  void SetUp() override {
    api_ = NewE2eClient();
    ASSERT_NE(api_, nullptr);
    ns_ = std::make_unique<TestNamespace>(api_.get(), "gate");
    ASSERT_TRUE(api_->Create(api::v1alpha1::LeaderPolicyClient::Resource(),
                             ns(), Policy(kPool, "scaleDown"))
                    .ok());
    // No replicas: the ReplicaSet exists, its pods are the reviews below.
    json d = pool::testing::PooledDeployment("web", kPool);
    d["spec"]["replicas"] = 0;
    d["spec"]["strategy"] = {{"type", "Recreate"}};
    ASSERT_TRUE(api_->Create(k8s::DeploymentClient::Resource(), ns(), d).ok());
    ASSERT_TRUE(WaitFor(
        [&] {
          absl::StatusOr<json> list = api_->List(
              k8s::ReplicaSetClient::Resource(), ns(), client::ListOptions());
          if (!list.ok() || (*list)["items"].empty()) return false;
          rs_ = (*list)["items"][0];
          return true;
        },
        absl::Seconds(60)))
        << "the controller-manager made no ReplicaSet";
  }

  const std::string& ns() const { return ns_->name(); }

  std::unique_ptr<Replica> StartReplica(const std::string& name) {
    auto r = std::make_unique<Replica>();
    r->watch = NewE2eClient();
    r->api = NewE2eClient();
    if (r->watch == nullptr || r->api == nullptr) return nullptr;
    pool::CacheOptions options;
    options.ns = ns();
    r->cache = std::make_unique<pool::Cache>(
        pool::CacheDeps{r->watch.get(), nullptr, nullptr}, options);
    for (pool::CacheKind k :
         {pool::CacheKind::kPolicies, pool::CacheKind::kPods,
          pool::CacheKind::kReplicaSets, pool::CacheKind::kDeployments,
          pool::CacheKind::kStatefulSets, pool::CacheKind::kJobs,
          pool::CacheKind::kCronJobs, pool::CacheKind::kServices,
          pool::CacheKind::kLeases, pool::CacheKind::kOtherLeases}) {
      EXPECT_TRUE(r->cache->Use(k).ok());
    }
    EXPECT_TRUE(r->cache->Start().ok());
    const std::string rs_uid = runtime::MetadataString(rs_, "uid");
    EXPECT_TRUE(WaitFor(
        [&] {
          return r->cache->HasSynced() &&
                 r->cache->Object(pool::CacheKind::kPolicies, ns(), kPool) &&
                 r->cache->ByUid(pool::CacheKind::kReplicaSets, ns(), rs_uid);
        },
        absl::Seconds(30)));
    r->reader = std::make_unique<pool::OwnerReader>(r->api.get(), nullptr);
    GuardOptions guard;
    guard.replica = name;
    r->guard = std::make_unique<GuardedPods>(r->cache.get(), r->api.get(),
                                             r->reader.get(), guard);
    return r;
  }

  // A pod of the ReplicaSet as admission sees it: no name, no UID.
  json ReplicaSetPod() const {
    return {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata",
             {{"generateName", runtime::MetadataString(rs_, "name") + "-"},
              {"namespace", ns()},
              {"labels", {{"app", "web"}}},
              {"ownerReferences",
               json::array({{{"apiVersion", "apps/v1"},
                             {"kind", "ReplicaSet"},
                             {"name", runtime::MetadataString(rs_, "name")},
                             {"uid", runtime::MetadataString(rs_, "uid")},
                             {"controller", true},
                             {"blockOwnerDeletion", true}}})}}},
            {"spec",
             {{"containers",
               json::array({{{"name", "app"}, {"image", "example/app"}}})}}}};
  }

  k8s::AdmissionRequest Request(const json& pod, const std::string& uid,
                                bool dry_run = false) const {
    k8s::AdmissionRequest r;
    r.uid = uid;
    r.operation = k8s::AdmissionRequest::kOperationCREATE;
    r.namespace_field = ns();
    r.object = pod;
    r.dry_run = dry_run;
    return r;
  }

  absl::StatusOr<std::optional<pool::LeaseRead>> ReadLease(
      const std::string& pool) {
    return pool::ReadLease(*api_, ns(), pool);
  }

  // Frees the pool (holder and reservation cleared, the token kept) and
  // waits until every replica's cache has the freed Lease.
  void FreePool(const std::vector<Replica*>& replicas) {
    absl::StatusOr<std::optional<pool::LeaseRead>> read = ReadLease(kPool);
    ASSERT_TRUE(read.ok()) << read.status();
    ASSERT_TRUE(read->has_value());
    absl::StatusOr<pool::PoolLease> freed = pool::WritePoolLease(
        *api_, ns(), kPool, pool::PolicySettings(), *read,
        [](const std::optional<pool::PoolLease>& current)
            -> std::optional<pool::PoolLease> {
          pool::PoolLease next = current.value_or(pool::PoolLease());
          next.state.holder_uid.clear();
          next.state.holder_identity.clear();
          next.reservation.reset();
          return next;
        },
        absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(freed.ok()) << freed.status();
    absl::StatusOr<std::optional<pool::LeaseRead>> now = ReadLease(kPool);
    ASSERT_TRUE(now.ok() && now->has_value());
    const std::string rv = (*now)->resource_version;
    for (Replica* r : replicas) {
      ASSERT_TRUE(WaitFor(
          [&] {
            runtime::ObjectPtr l =
                r->cache->Object(pool::CacheKind::kLeases, ns(), kPool);
            return l != nullptr &&
                   runtime::MetadataString(*l, "resourceVersion") == rv;
          },
          absl::Seconds(10)));
    }
  }

  std::unique_ptr<client::RestClient> api_;
  std::unique_ptr<TestNamespace> ns_;
  json rs_;
};

// Issue 13, e2e 1(a): rounds of 50 concurrent reviews of one pool, half to
// each replica. Exactly one is admitted per round, and each admission takes
// exactly one new fencing token.
TEST_F(GatekeeperE2eTest, ConcurrentReviewsOnTwoReplicasAdmitOnePerRound) {
  std::unique_ptr<Replica> a = StartReplica("replica-a");
  std::unique_ptr<Replica> b = StartReplica("replica-b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const json pod = ReplicaSetPod();
  constexpr int kRounds = 100;
  constexpr int kPerRound = 50;
  int admitted_total = 0;
  std::map<std::string, int> reasons;
  for (int round = 0; round < kRounds; ++round) {
    std::atomic<int> admitted{0};
    std::vector<Decision> decisions(kPerRound);
    std::vector<std::thread> threads;
    threads.reserve(kPerRound);
    std::atomic<bool> go{false};
    for (int i = 0; i < kPerRound; ++i) {
      threads.emplace_back([&, i] {
        while (!go.load()) std::this_thread::yield();
        GuardedPods& guard = i % 2 == 0 ? *a->guard : *b->guard;
        decisions[i] =
            guard.Review(Request(pod, absl::StrCat("r", round, "-", i)),
                         absl::Now() + absl::Seconds(3));
        if (decisions[i].allowed) ++admitted;
      });
    }
    go = true;
    for (std::thread& t : threads) t.join();
    for (const Decision& d : decisions) ++reasons[d.reason];
    ASSERT_EQ(admitted.load(), 1) << "round " << round;
    admitted_total += admitted.load();
    absl::StatusOr<std::optional<pool::LeaseRead>> lease = ReadLease(kPool);
    ASSERT_TRUE(lease.ok() && lease->has_value());
    EXPECT_EQ((*lease)->state.transitions, round + 1) << "round " << round;
    ASSERT_TRUE((*lease)->reservation.has_value());
    EXPECT_EQ((*lease)->reservation->owner.uid,
              runtime::MetadataString(rs_, "uid"));
    FreePool({a.get(), b.get()});
  }
  EXPECT_EQ(admitted_total, kRounds);
  std::string summary;
  for (const auto& [reason, n] : reasons) {
    absl::StrAppend(&summary, reason, "=", n, " ");
  }
  std::cout << "reviews by reason: " << summary << "\n";
  EXPECT_EQ(reasons["Admitted"], kRounds);
}

// A dry run is answered from the cache and never writes; a denial names
// the pool, what holds it and how to see it.
TEST_F(GatekeeperE2eTest, DryRunWritesNothingAndDenialsNameTheHolder) {
  std::unique_ptr<Replica> a = StartReplica("replica-a");
  ASSERT_NE(a, nullptr);
  const json pod = ReplicaSetPod();
  const Decision dry = a->guard->Review(Request(pod, "dry-1", true),
                                        absl::Now() + absl::Seconds(3));
  EXPECT_TRUE(dry.allowed) << dry.message;
  EXPECT_EQ(dry.reason, "DryRun");
  absl::StatusOr<std::optional<pool::LeaseRead>> none = ReadLease(kPool);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value()) << "a dry run created the Lease";

  const Decision first =
      a->guard->Review(Request(pod, "real-1"), absl::Now() + absl::Seconds(3));
  ASSERT_TRUE(first.allowed) << first.message;
  EXPECT_EQ(first.reason, "Admitted");
  absl::StatusOr<std::optional<pool::LeaseRead>> held = ReadLease(kPool);
  ASSERT_TRUE(held.ok() && held->has_value());
  EXPECT_EQ((*held)->state.transitions, 1);
  EXPECT_EQ((*held)->state.holder_identity, "replica-a/real-1");
  // The retry of the same request (the API server resends its UID) is
  // admitted again with the token it has.
  ASSERT_TRUE(WaitFor(
      [&] {
        runtime::ObjectPtr l =
            a->cache->Object(pool::CacheKind::kLeases, ns(), kPool);
        return l != nullptr && runtime::MetadataString(*l, "resourceVersion") ==
                                   (*held)->resource_version;
      },
      absl::Seconds(10)));
  const Decision retry =
      a->guard->Review(Request(pod, "real-1"), absl::Now() + absl::Seconds(3));
  EXPECT_TRUE(retry.allowed) << retry.message;
  const Decision second =
      a->guard->Review(Request(pod, "real-2"), absl::Now() + absl::Seconds(3));
  EXPECT_FALSE(second.allowed);
  EXPECT_EQ(second.reason, "PoolHeld");
  EXPECT_THAT(second.message, HasSubstr("pool db in namespace " + ns()));
  EXPECT_THAT(second.message, HasSubstr("replica-a/real-1"));
  EXPECT_THAT(second.message,
              HasSubstr("kubectl get lease -n " + ns() + " db"));
  const Decision dry_denied = a->guard->Review(Request(pod, "dry-2", true),
                                               absl::Now() + absl::Seconds(3));
  EXPECT_FALSE(dry_denied.allowed);
  absl::StatusOr<std::optional<pool::LeaseRead>> after = ReadLease(kPool);
  ASSERT_TRUE(after.ok() && after->has_value());
  EXPECT_EQ((*after)->resource_version, (*held)->resource_version)
      << "a denial or a retry wrote the Lease";
}

// A Lease held by a pod that no longer exists (its name free, the identity
// strategy "pod") is replaced by the next admission in one write: the
// operator's release is not waited for.
TEST_F(GatekeeperE2eTest, AHolderThatIsGoneIsReplacedInOneWrite) {
  std::unique_ptr<Replica> a = StartReplica("replica-a");
  ASSERT_NE(a, nullptr);
  absl::StatusOr<pool::PoolLease> written = pool::WritePoolLease(
      *api_, ns(), kPool, pool::PolicySettings(), std::nullopt,
      [](const std::optional<pool::PoolLease>&)
          -> std::optional<pool::PoolLease> {
        pool::PoolLease l;
        l.state.holder_uid = "0000-gone";
        l.state.holder_identity = "web-gone";
        l.state.transitions = 4;
        l.state.acquire_time = l.state.renew_time = absl::Now();
        return l;
      },
      absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(written.ok()) << written.status();
  ASSERT_TRUE(WaitFor(
      [&] {
        return a->cache->Object(pool::CacheKind::kLeases, ns(), kPool) !=
               nullptr;
      },
      absl::Seconds(10)));
  const Decision d = a->guard->Review(Request(ReplicaSetPod(), "after-gone"),
                                      absl::Now() + absl::Seconds(3));
  ASSERT_TRUE(d.allowed) << d.message;
  absl::StatusOr<std::optional<pool::LeaseRead>> lease = ReadLease(kPool);
  ASSERT_TRUE(lease.ok() && lease->has_value());
  EXPECT_EQ((*lease)->state.transitions, 5);
  EXPECT_EQ((*lease)->state.holder_uid, "");
  EXPECT_EQ((*lease)->state.holder_identity, "replica-a/after-gone");
}

// What the server asks when a review is undecided: a pod of the guarded
// pool, or one whose owner the cache does not know, must be decided (a
// denial under any failure policy); a pod of a standby pool or of no pool
// is left to the failure policy.
TEST_F(GatekeeperE2eTest, UndecidedReviewsOfGuardedPodsMustBeDecided) {
  ASSERT_TRUE(api_->Create(api::v1alpha1::LeaderPolicyClient::Resource(), ns(),
                           Policy("calm", "standby"))
                  .ok());
  json standby = pool::testing::PooledDeployment("calm", "calm");
  standby["spec"]["replicas"] = 0;
  ASSERT_TRUE(
      api_->Create(k8s::DeploymentClient::Resource(), ns(), standby).ok());
  std::unique_ptr<Replica> a = StartReplica("replica-a");
  ASSERT_NE(a, nullptr);
  PodAdmission pods(a->cache.get(), a->guard.get());
  EXPECT_TRUE(pods.MustDecide(Request(ReplicaSetPod(), "guarded")));

  json standby_rs;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const runtime::ObjectPtr& rs :
             a->cache->List(pool::CacheKind::kReplicaSets)) {
          if (absl::StartsWith(runtime::MetadataString(*rs, "name"), "calm-")) {
            standby_rs = *rs;
            return true;
          }
        }
        return false;
      },
      absl::Seconds(60)));
  json pod = ReplicaSetPod();
  pod["metadata"]["ownerReferences"][0]["name"] =
      runtime::MetadataString(standby_rs, "name");
  pod["metadata"]["ownerReferences"][0]["uid"] =
      runtime::MetadataString(standby_rs, "uid");
  EXPECT_FALSE(pods.MustDecide(Request(pod, "standby")));

  pod["metadata"]["ownerReferences"][0]["name"] = "not-cached";
  pod["metadata"]["ownerReferences"][0]["uid"] = "0000-not-cached";
  EXPECT_TRUE(pods.MustDecide(Request(pod, "unknown-owner")));

  pod["metadata"].erase("ownerReferences");
  EXPECT_FALSE(pods.MustDecide(Request(pod, "no-pool")));
}

// StateGuard: a Job pool without a LeaderPolicy is guarded; while a pod of
// one Job of the pool is active, a pod of another Job is denied with that
// pod's name. A foreign Lease of a pool's name denies.
TEST_F(GatekeeperE2eTest, AnActiveJobPodDeniesAnotherJobsPod) {
  const client::Resource& jobs = k8s::JobClient::Resource();
  auto job = [](const std::string& name) {
    return json{
        {"apiVersion", "batch/v1"},
        {"kind", "Job"},
        {"metadata",
         {{"name", name}, {"labels", {{"zen-lead/pool", "batch"}}}}},
        {"spec",
         {{"template",
           {{"spec",
             {{"restartPolicy", "Never"},
              {"containers", json::array({{{"name", "app"},
                                           {"image", "example/app"}}})}}}}}}}};
  };
  // kwok completes Job pods at once: this one asks for a node that does not
  // exist, so it stays Pending, which is active.
  json first = job("first");
  first["spec"]["template"]["spec"]["nodeSelector"] = {
      {"zen-lead.io/test-node", "none"}};
  ASSERT_TRUE(api_->Create(jobs, ns(), first).ok());
  json second_job = job("second");
  second_job["spec"]["suspend"] = true;  // its pod is the review below
  absl::StatusOr<json> second = api_->Create(jobs, ns(), second_job);
  ASSERT_TRUE(second.ok()) << second.status();
  std::unique_ptr<Replica> a = StartReplica("replica-a");
  ASSERT_NE(a, nullptr);
  // The Job controller creates the first Job's pod (no webhook here).
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const pool::Source& s :
             a->cache->SourcesOf(pool::PoolKey{ns(), "batch"})) {
          if (s.name == "first" && !a->cache->PodsOf(s).empty()) return true;
        }
        return false;
      },
      absl::Seconds(60)));
  ASSERT_TRUE(WaitFor(
      [&] {
        return a->cache->ByUid(pool::CacheKind::kJobs, ns(),
                               runtime::MetadataString(*second, "uid")) !=
               nullptr;
      },
      absl::Seconds(10)));
  const json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"generateName", "second-"},
        {"namespace", ns()},
        {"ownerReferences",
         json::array({{{"apiVersion", "batch/v1"},
                       {"kind", "Job"},
                       {"name", "second"},
                       {"uid", runtime::MetadataString(*second, "uid")},
                       {"controller", true}}})}}},
      {"spec",
       {{"containers",
         json::array({{{"name", "app"}, {"image", "example/app"}}})}}}};
  const Decision d =
      a->guard->Review(Request(pod, "job-2"), absl::Now() + absl::Seconds(3));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "PoolActive");
  EXPECT_THAT(d.message, HasSubstr("(StateGuard) allows one active pod"));
  EXPECT_THAT(d.message, HasSubstr("pod first-"));
  EXPECT_THAT(d.message, HasSubstr("kubectl get lease -n " + ns() + " batch"));

  // A pool whose name a foreign Lease holds: nothing can be recorded.
  ASSERT_TRUE(api_->Create(api::v1alpha1::LeaderPolicyClient::Resource(), ns(),
                           Policy("taken", "scaleDown"))
                  .ok());
  json d2 = pool::testing::PooledDeployment("other", "taken");
  d2["spec"]["replicas"] = 0;
  ASSERT_TRUE(api_->Create(k8s::DeploymentClient::Resource(), ns(), d2).ok());
  ASSERT_TRUE(api_->Create(k8s::LeaseClient::Resource(), ns(),
                           {{"apiVersion", "coordination.k8s.io/v1"},
                            {"kind", "Lease"},
                            {"metadata", {{"name", "taken"}}},
                            {"spec", {{"holderIdentity", "someone-else"}}}})
                  .ok());
  json other_rs;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const runtime::ObjectPtr& rs :
             a->cache->List(pool::CacheKind::kReplicaSets)) {
          if (runtime::MetadataString(*rs, "name").rfind("other-", 0) == 0) {
            other_rs = *rs;
          }
        }
        return !other_rs.is_null() &&
               a->cache->Object(pool::CacheKind::kOtherLeases, ns(), "taken") !=
                   nullptr &&
               a->cache->Object(pool::CacheKind::kPolicies, ns(), "taken") !=
                   nullptr;
      },
      absl::Seconds(60)));
  json taken_pod = ReplicaSetPod();
  taken_pod["metadata"]["ownerReferences"][0]["name"] =
      runtime::MetadataString(other_rs, "name");
  taken_pod["metadata"]["ownerReferences"][0]["uid"] =
      runtime::MetadataString(other_rs, "uid");
  const Decision conflict = a->guard->Review(Request(taken_pod, "taken-1"),
                                             absl::Now() + absl::Seconds(3));
  EXPECT_FALSE(conflict.allowed);
  EXPECT_EQ(conflict.reason, "LeaseConflict") << conflict.message;
  EXPECT_THAT(conflict.message, HasSubstr("is not managed by zen-lead"));
}

}  // namespace
}  // namespace zenlead::webhook
