#include "webhook/handlers.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/pool/membership.h"
#include "api/pool/testing/fake_owner_index.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "webhook/pod_admission.h"

namespace zenlead::webhook {
namespace {

using json = nlohmann::json;

k8s::AdmissionRequest Request(const json& object) {
  k8s::AdmissionRequest request;
  request.operation = k8s::AdmissionRequest::kOperationCREATE;
  request.namespace_field = "shop";
  request.object = object;
  return request;
}

json Policy(const json& spec) {
  return {{"apiVersion", "coordination.kube-zen.io/v1alpha1"},
          {"kind", "LeaderPolicy"},
          {"metadata", {{"name", "web"}, {"namespace", "shop"}}},
          {"spec", spec}};
}

TEST(PolicyAdmissionTest, AnswersAsValidatePolicyRequest) {
  PolicyAdmission policies(nullptr);
  const Decision bad = policies.Review(
      Request(
          Policy({{"leaseDurationSeconds", 10}, {"renewDeadlineSeconds", 12}})),
      absl::InfiniteFuture());
  EXPECT_FALSE(bad.allowed);
  EXPECT_EQ(bad.reason, "InvalidPolicy");
  EXPECT_EQ(bad.message,
            "spec.renewDeadlineSeconds (12) must be less than "
            "spec.leaseDurationSeconds (10)");
  const Decision good =
      policies.Review(Request(Policy(json::object())), absl::InfiniteFuture());
  EXPECT_TRUE(good.allowed) << good.message;
}

// The header's example: a pod a Service of a pool selects goes to the
// pooled handler and is admitted (InPool); a pod of no pool is admitted
// on the fast path (OutsidePool).
TEST(PooledPodsAllowedTest, HeaderExampleRoutesAndAnswers) {
  pool::FakeOwnerIndex cache;
  pool::Source web;
  web.ns = "shop";
  web.name = "web";
  web.kind = pool::Source::Kind::kService;
  web.pool = "web";
  web.selector = {{"app", "web"}};
  cache.services.push_back(web);
  PooledPodsAllowed pooled;
  PodAdmission pods(&cache, &pooled);
  const json pod = {{"apiVersion", "v1"},
                    {"kind", "Pod"},
                    {"metadata", {{"labels", {{"app", "web"}}}}}};
  const Decision in_pool = pods.Review(Request(pod), absl::InfiniteFuture());
  EXPECT_TRUE(in_pool.allowed);
  EXPECT_EQ(in_pool.reason, "InPool");
  json other = pod;
  other["metadata"]["labels"]["app"] = "db";
  const Decision outside = pods.Review(Request(other), absl::InfiniteFuture());
  EXPECT_TRUE(outside.allowed);
  EXPECT_EQ(outside.reason, "OutsidePool");
}

}  // namespace
}  // namespace zenlead::webhook
