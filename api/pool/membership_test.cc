#include "api/pool/membership.h"

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "api/client/clock.h"
#include "api/client/errors.h"
#include "api/client/testing/fake_client.h"
#include "gtest/gtest.h"

namespace zenlead::pool {
namespace {

using json = nlohmann::json;

json Owner(const std::string& kind, const std::string& name,
           const std::string& uid) {
  return {{"apiVersion",
           kind == "Job" || kind == "CronJob" ? "batch/v1" : "apps/v1"},
          {"kind", kind},
          {"name", name},
          {"uid", uid},
          {"controller", true}};
}

json Object(const std::string& name, const std::string& uid,
            const json& owner = nullptr, const json& labels = json::object()) {
  json o = {{"metadata",
             {{"name", name},
              {"namespace", "shop"},
              {"uid", uid},
              {"labels", labels}}}};
  if (!owner.is_null()) o["metadata"]["ownerReferences"] = json::array({owner});
  return o;
}

json Pooled(json obj, const std::string& pool) {
  obj["metadata"]["labels"]["zen-lead/pool"] = pool;
  return obj;
}

// An index over a map of objects by UID, and a list of Services.
class MapIndex : public OwnerIndex {
 public:
  void Put(const std::string& kind, const json& obj) {
    objects_[obj["metadata"]["uid"].get<std::string>()] = {kind, obj};
  }
  void PutService(const json& svc) { services_.push_back(svc); }

  std::optional<OwnerNode> Owner(const std::string& ns,
                                 const OwnerRef& ref) const override {
    auto it = objects_.find(ref.uid);
    if (it == objects_.end() || it->second.first != ref.kind) {
      return std::nullopt;
    }
    if (it->second.second["metadata"]["namespace"] != ns) return std::nullopt;
    return OwnerNodeOf(it->second.first, it->second.second);
  }
  std::vector<Source> ServicesSelecting(
      const std::string& ns,
      const std::map<std::string, std::string>& labels) const override {
    std::vector<Source> out;
    for (const json& svc : services_) {
      std::optional<Source> s = SourceFromService(svc);
      if (s && s->ns == ns && SelectorMatches(s->selector, labels)) {
        out.push_back(*s);
      }
    }
    return out;
  }

 private:
  std::map<std::string, std::pair<std::string, json>> objects_;
  std::vector<json> services_;
};

// A pod at admission: no name, no UID, only generateName and its owner.
json AdmissionPod(const json& owner) {
  return {{"metadata",
           {{"generateName", "web-7d4b9-"},
            {"labels", {{"app", "web"}}},
            {"ownerReferences", json::array({owner})}}}};
}

TEST(MembershipTest, PodThroughReplicaSetToDeployment) {
  MapIndex index;
  index.Put("Deployment", Pooled(Object("web", "d1"), "db"));
  index.Put("ReplicaSet",
            Object("web-7d4b9", "rs1", Owner("Deployment", "web", "d1")));
  json pod =
      Object("web-7d4b9-x", "p1", Owner("ReplicaSet", "web-7d4b9", "rs1"));
  PodPools p = PoolsOfPod(pod, "", index, nullptr);
  ASSERT_TRUE(p.unresolved.ok()) << p.unresolved;
  ASSERT_EQ(p.pools.size(), 1u);
  EXPECT_EQ(p.pools[0].pool, (PoolKey{"shop", "db"}));
  EXPECT_EQ(p.pools[0].source.kind, Source::Kind::kDeployment);
  EXPECT_EQ(p.pools[0].source.uid, "d1");
  EXPECT_FALSE(p.cycle_at.has_value());
}

// The header's example, and the admission case: a pod with no name and no
// UID whose ReplicaSet the cache does not have yet is matched through the
// API server, which is asked once while the answer is remembered.
TEST(MembershipTest, PodWithoutNameOrUidThroughUncachedReplicaSet) {
  MapIndex cache;
  cache.Put("Deployment", Pooled(Object("web", "d1"), "db"));
  client::testing::FakeClient fake;
  int gets = 0;
  fake.get = [&](const client::Resource& r, absl::string_view ns,
                 absl::string_view name) -> absl::StatusOr<json> {
    ++gets;
    EXPECT_EQ(r.resource, "replicasets");
    EXPECT_EQ(ns, "shop");
    EXPECT_EQ(name, "web-7d4b9");
    return Object("web-7d4b9", "rs1", Owner("Deployment", "web", "d1"));
  };
  client::FakeClock clock;
  OwnerReader reader(&fake, &clock);
  json pod = AdmissionPod(Owner("ReplicaSet", "web-7d4b9", "rs1"));

  PodPools p = PoolsOfPod(pod, "shop", cache, &reader);
  if (!p.unresolved.ok()) { /* membership unknown: retry, never "none" */
  }
  std::vector<PoolKey> enqueued;
  for (const Membership& m : p.pools) enqueued.push_back(m.pool);

  ASSERT_TRUE(p.unresolved.ok()) << p.unresolved;
  EXPECT_EQ(enqueued, (std::vector<PoolKey>{{"shop", "db"}}));
  EXPECT_EQ(gets, 1);
  PoolsOfPod(pod, "shop", cache, &reader);
  EXPECT_EQ(gets, 1) << "remembered for the ttl";
  EXPECT_EQ(reader.reads(), 1);
  clock.Advance(absl::Seconds(6));
  EXPECT_EQ(PoolsOfPod(pod, "shop", cache, &reader).Keys().size(), 1u);
  EXPECT_EQ(gets, 2) << "read again after the ttl";
}

TEST(MembershipTest, UncachedOwnerWithoutReader) {
  MapIndex empty;
  json pod = AdmissionPod(Owner("ReplicaSet", "web-7d4b9", "rs1"));
  // A controller takes the chain as ending (the owner's own event comes).
  PodPools lax = PoolsOfPod(pod, "shop", empty, nullptr);
  EXPECT_TRUE(lax.unresolved.ok());
  EXPECT_TRUE(lax.pools.empty());
  // Admission must not guess "no pool".
  MembershipOptions strict;
  strict.require_owners = true;
  PodPools p = PoolsOfPod(pod, "shop", empty, nullptr, strict);
  EXPECT_TRUE(absl::IsUnavailable(p.unresolved)) << p.unresolved;
  EXPECT_NE(p.unresolved.message().find("web-7d4b9"), std::string::npos);
}

TEST(MembershipTest, ReaderErrorsAreUnresolvedAndNotRemembered) {
  MapIndex empty;
  client::testing::FakeClient fake;
  int gets = 0;
  fake.get = [&](const client::Resource&, absl::string_view,
                 absl::string_view) -> absl::StatusOr<json> {
    ++gets;
    return absl::UnavailableError("connection refused");
  };
  OwnerReader reader(&fake, nullptr);
  json pod = AdmissionPod(Owner("ReplicaSet", "web-7d4b9", "rs1"));
  EXPECT_TRUE(
      absl::IsUnavailable(PoolsOfPod(pod, "shop", empty, &reader).unresolved));
  PoolsOfPod(pod, "shop", empty, &reader);
  EXPECT_EQ(gets, 2);
}

TEST(MembershipTest, ReaderNotFoundOrReusedNameIsNoPool) {
  MapIndex cache;
  cache.Put("Deployment", Pooled(Object("web", "d1"), "db"));
  client::testing::FakeClient fake;
  bool exists = false;
  fake.get = [&](const client::Resource&, absl::string_view,
                 absl::string_view) -> absl::StatusOr<json> {
    if (!exists) {
      return client::StatusFromResponse(
          404, R"({"kind":"Status","reason":"NotFound","code":404})");
    }
    // Same name, another object: not the pod's owner.
    return Object("web-7d4b9", "rs-other", Owner("Deployment", "web", "d1"));
  };
  OwnerReader reader(&fake, nullptr, {absl::ZeroDuration(), 16});
  json pod = AdmissionPod(Owner("ReplicaSet", "web-7d4b9", "rs1"));
  PodPools gone = PoolsOfPod(pod, "shop", cache, &reader);
  EXPECT_TRUE(gone.unresolved.ok());
  EXPECT_TRUE(gone.pools.empty());
  exists = true;
  PodPools reused = PoolsOfPod(pod, "shop", cache, &reader);
  EXPECT_TRUE(reused.unresolved.ok());
  EXPECT_TRUE(reused.pools.empty());
}

TEST(MembershipTest, ReaderMemoryIsBounded) {
  client::testing::FakeClient fake;
  fake.get = [&](const client::Resource&, absl::string_view,
                 absl::string_view name) -> absl::StatusOr<json> {
    return Object(std::string(name), std::string(name));
  };
  OwnerReader reader(&fake, nullptr, {absl::Hours(1), 8});
  for (int i = 0; i < 100; ++i) {
    std::string n = absl::StrCat("rs", i);
    ASSERT_TRUE(
        reader.Read("shop", OwnerRef{"apps/v1", "ReplicaSet", n, n}).ok());
  }
  EXPECT_EQ(reader.reads(), 100);
  // The last one is still remembered: no read.
  ASSERT_TRUE(
      reader.Read("shop", OwnerRef{"apps/v1", "ReplicaSet", "rs99", "rs99"})
          .ok());
  EXPECT_EQ(reader.reads(), 100);
}

TEST(MembershipTest, JobAndCronJobPools) {
  MapIndex index;
  index.Put("CronJob", Pooled(Object("nightly", "cj1"), "batch"));
  index.Put("Job",
            Object("nightly-290", "j1", Owner("CronJob", "nightly", "cj1")));
  index.Put("Job", Pooled(Object("migrate", "j2"), "migrations"));
  PodPools cron = PoolsOfPod(
      Object("nightly-290-x", "p1", Owner("Job", "nightly-290", "j1")), "",
      index, nullptr);
  ASSERT_EQ(cron.pools.size(), 1u);
  EXPECT_EQ(cron.pools[0].pool.name, "batch");
  EXPECT_EQ(cron.pools[0].source.kind, Source::Kind::kCronJob);
  PodPools job =
      PoolsOfPod(Object("migrate-x", "p2", Owner("Job", "migrate", "j2")), "",
                 index, nullptr);
  ASSERT_EQ(job.pools.size(), 1u);
  EXPECT_EQ(job.pools[0].pool.name, "migrations");
  EXPECT_EQ(job.pools[0].source.kind, Source::Kind::kJob);
  EXPECT_EQ(job.pools[0].source.ApiVersion(), "batch/v1");
  // Routed kinds only: the TrafficDirector leaves Job pools alone.
  EXPECT_TRUE(job.KeysVia({Source::Kind::kDeployment,
                           Source::Kind::kStatefulSet, Source::Kind::kService})
                  .empty());
  // A Job's pods come in through the Job.
  std::optional<OwnerNode> j =
      index.Owner("shop", OwnerRef{"batch/v1", "Job", "nightly-290", "j1"});
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ(PoolsOfOwner(*j, index, nullptr).Keys(),
            (std::vector<PoolKey>{{"shop", "batch"}}));
}

TEST(MembershipTest, CronJobPoolFromJobTemplateAnnotations) {
  json cj = Object("nightly", "cj1");
  cj["spec"] = {{"schedule", "0 3 * * *"},
                {"jobTemplate",
                 {{"spec",
                   {{"template",
                     {{"metadata",
                       {{"annotations",
                         {{"zen-lead/pool", "batch"},
                          {"zen-lead/join", "true"}}}}}}}}}}}};
  std::optional<Source> s = SourceFromWorkload(Source::Kind::kCronJob, cj);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->pool, "batch");
  // Without join: "true", the annotation alone does not join.
  cj["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"]
    ["zen-lead/join"] = "yes";
  EXPECT_FALSE(SourceFromWorkload(Source::Kind::kCronJob, cj).has_value());
}

TEST(MembershipTest, PodTemplateAnnotations) {
  json annotated = AdmissionPod(Owner("ReplicaSet", "web-7d4b9", "rs1"));
  annotated["metadata"]["annotations"] = {{"zen-lead/pool", "db"},
                                          {"zen-lead/join", "true"}};
  // Nothing cached, no reader: the pod's own annotations are enough.
  MapIndex empty;
  PodPools p = PoolsOfPod(annotated, "shop", empty, nullptr);
  ASSERT_EQ(p.pools.size(), 1u);
  EXPECT_EQ(p.pools[0].pool, (PoolKey{"shop", "db"}));
  EXPECT_EQ(p.pools[0].source.kind, Source::Kind::kDeployment);
  EXPECT_EQ(p.pools[0].source.uid, "");
  // With the chain cached: the Deployment (joined by its template) is the
  // source, listed once.
  MapIndex index;
  json d = Object("web", "d1");
  d["spec"]["template"]["metadata"]["annotations"] = {
      {"zen-lead/pool", "db"}, {"zen-lead/join", "true"}};
  index.Put("Deployment", d);
  index.Put("ReplicaSet",
            Object("web-7d4b9", "rs1", Owner("Deployment", "web", "d1")));
  PodPools full = PoolsOfPod(annotated, "shop", index, nullptr);
  ASSERT_EQ(full.pools.size(), 1u);
  EXPECT_EQ(full.pools[0].source.uid, "d1");
  // join must be "true".
  annotated["metadata"]["annotations"]["zen-lead/join"] = "false";
  EXPECT_TRUE(PoolsOfPod(annotated, "shop", empty, nullptr).pools.empty());
}

TEST(MembershipTest, ServiceSelector) {
  MapIndex index;
  index.PutService({{"metadata",
                     {{"name", "web"},
                      {"namespace", "shop"},
                      {"uid", "s1"},
                      {"annotations", {{"zen-lead.io/enabled", "true"}}}}},
                    {"spec", {{"selector", {{"app", "web"}}}}}});
  PodPools p = PoolsOfPod(AdmissionPod(Owner("ReplicaSet", "x", "rs-x")),
                          "shop", index, nullptr);
  ASSERT_EQ(p.pools.size(), 1u);
  EXPECT_EQ(p.pools[0].pool, (PoolKey{"shop", "web"}));
  EXPECT_EQ(p.pools[0].source.kind, Source::Kind::kService);
  // Another namespace's Service never matches.
  EXPECT_TRUE(PoolsOfPod(AdmissionPod(Owner("ReplicaSet", "x", "rs-x")),
                         "other", index, nullptr)
                  .pools.empty());
}

TEST(MembershipTest, OwnerCycleIsReportedNotFollowed) {
  MapIndex index;
  index.Put("ReplicaSet",
            Object("loop", "rs1", Owner("ReplicaSet", "loop", "rs1")));
  PodPools p =
      PoolsOfPod(Object("loop-x", "p1", Owner("ReplicaSet", "loop", "rs1")), "",
                 index, nullptr);
  ASSERT_TRUE(p.cycle_at.has_value());
  EXPECT_EQ(p.cycle_at->kind, "ReplicaSet");
  EXPECT_EQ(p.cycle_at->uid, "rs1");
  EXPECT_EQ(p.cycle_owner.name, "loop");
  EXPECT_TRUE(p.pools.empty());
  // Two ReplicaSets owning each other.
  MapIndex two;
  two.Put("ReplicaSet", Object("a", "ra", Owner("ReplicaSet", "b", "rb")));
  two.Put("ReplicaSet", Object("b", "rb", Owner("ReplicaSet", "a", "ra")));
  EXPECT_TRUE(PoolsOfPod(Object("x", "p", Owner("ReplicaSet", "a", "ra")), "",
                         two, nullptr)
                  .cycle_at.has_value());
}

TEST(MembershipTest, ChainsAreBounded) {
  // A chain of ReplicaSets longer than kMaxOwnerDepth ends without a pool.
  MapIndex index;
  index.Put("Deployment", Pooled(Object("top", "d1"), "db"));
  std::string prev_kind = "Deployment", prev_name = "top", prev_uid = "d1";
  for (int i = 0; i < kMaxOwnerDepth + 1; ++i) {
    std::string n = absl::StrCat("rs", i);
    index.Put("ReplicaSet",
              Object(n, n, Owner(prev_kind, prev_name, prev_uid)));
    prev_kind = "ReplicaSet";
    prev_name = prev_uid = n;
  }
  PodPools p =
      PoolsOfPod(Object("x", "p", Owner(prev_kind, prev_name, prev_uid)), "",
                 index, nullptr);
  EXPECT_TRUE(p.pools.empty());
  EXPECT_FALSE(p.cycle_at.has_value());
}

}  // namespace
}  // namespace zenlead::pool
