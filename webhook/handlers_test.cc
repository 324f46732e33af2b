#include "webhook/handlers.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

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

}  // namespace
}  // namespace zenlead::webhook
