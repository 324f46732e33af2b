#include "webhook/pod_admission.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "api/pool/testing/fake_owner_index.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace zenlead::webhook {
namespace {

using json = nlohmann::json;

using FakeIndex = pool::FakeOwnerIndex;

class Gatekeeper : public AdmissionHandler {
 public:
  Decision Review(const k8s::AdmissionRequest&, absl::Time) override {
    ++calls;
    return Decision::Deny("PoolHeld", "held");
  }
  int calls = 0;
};

k8s::AdmissionRequest PodRequest(const json& pod) {
  json review = {
      {"apiVersion", "admission.k8s.io/v1"},
      {"kind", "AdmissionReview"},
      {"request",
       {{"uid", "u"},
        {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
        {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
        {"namespace", "shop"},
        {"operation", "CREATE"},
        {"object", pod}}}};
  absl::StatusOr<k8s::AdmissionReview> decoded = DecodeReview(review.dump());
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  return *decoded->request;
}

json ReplicaSetPod(const std::string& rs_uid) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"generateName", "web-"},
            {"labels", {{"app", "web"}}},
            {"ownerReferences",
             {{{"apiVersion", "apps/v1"},
               {"kind", "ReplicaSet"},
               {"name", "web-1"},
               {"uid", rs_uid},
               {"controller", true}}}}}}};
}

// The header's example, as written there.
void HeaderExample(const pool::OwnerIndex& cache, Gatekeeper& gatekeeper,
                   ServerOptions& options, PodAdmission** out) {
  const pool::OwnerIndex* index = &cache;        // the process's pool::Cache
  static PodAdmission pods(index, &gatekeeper);  // gatekeeper: AdmissionHandler
  options.routes.push_back({kPodsPath, PodsRoute(), &pods});
  *out = &pods;
}

TEST(PodAdmissionTest, HeaderExampleRegistersTheRoute) {
  FakeIndex index;
  Gatekeeper gatekeeper;
  ServerOptions options;
  PodAdmission* pods = nullptr;
  HeaderExample(index, gatekeeper, options, &pods);
  ASSERT_EQ(options.routes.size(), 1u);
  EXPECT_EQ(options.routes[0].handler, pods);
}

TEST(PodAdmissionTest, PodOfNoPoolIsAllowedOnTheFastPath) {
  FakeIndex index;
  pool::OwnerNode rs;
  rs.kind = "ReplicaSet";
  rs.ns = "shop";
  rs.name = "web-1";
  rs.uid = "rs-1";  // no controller, forms no source: in no pool
  index.owners["rs-1"] = rs;
  Gatekeeper gatekeeper;
  PodAdmission pods(&index, &gatekeeper);

  const json bare = {{"apiVersion", "v1"},
                     {"kind", "Pod"},
                     {"metadata", {{"name", "lonely"}}}};
  for (const json& pod : {bare, ReplicaSetPod("rs-1")}) {
    Decision d = pods.Review(PodRequest(pod), absl::InfiniteFuture());
    EXPECT_TRUE(d.allowed) << pod.dump();
    EXPECT_EQ(d.reason, "OutsidePool");
    // The server's worker gets the same answer without a handler thread.
    std::optional<Decision> now = pods.Decide(PodRequest(pod));
    ASSERT_TRUE(now.has_value()) << pod.dump();
    EXPECT_TRUE(now->allowed);
    EXPECT_EQ(now->reason, "OutsidePool");
  }
  EXPECT_EQ(gatekeeper.calls, 0);
}

TEST(PodAdmissionTest, PodOfAPoolGoesToTheGatekeeper) {
  FakeIndex index;
  pool::Source service;
  service.kind = pool::Source::Kind::kService;
  service.ns = "shop";
  service.name = "web";
  service.uid = "svc-1";
  service.pool = "web";
  service.selector = {{"app", "web"}};
  index.services.push_back(service);
  pool::OwnerNode rs;
  rs.kind = "ReplicaSet";
  rs.ns = "shop";
  rs.name = "web-1";
  rs.uid = "rs-1";
  index.owners["rs-1"] = rs;
  Gatekeeper gatekeeper;
  PodAdmission pods(&index, &gatekeeper);

  // Not decided on the worker: the Gatekeeper may need the API server.
  EXPECT_FALSE(pods.Decide(PodRequest(ReplicaSetPod("rs-1"))).has_value());
  EXPECT_EQ(gatekeeper.calls, 0);
  Decision d =
      pods.Review(PodRequest(ReplicaSetPod("rs-1")), absl::InfiniteFuture());
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "PoolHeld");
  EXPECT_EQ(gatekeeper.calls, 1);
}

TEST(PodAdmissionTest, PodWhoseOwnerIsNotCachedIsNotCalledOutside) {
  FakeIndex index;  // knows no ReplicaSet
  Gatekeeper gatekeeper;
  PodAdmission pods(&index, &gatekeeper);
  EXPECT_FALSE(
      pods.Decide(PodRequest(ReplicaSetPod("rs-unknown"))).has_value());
  Decision d = pods.Review(PodRequest(ReplicaSetPod("rs-unknown")),
                           absl::InfiniteFuture());
  EXPECT_EQ(d.reason, "PoolHeld");
  EXPECT_EQ(gatekeeper.calls, 1);
}

}  // namespace
}  // namespace zenlead::webhook
