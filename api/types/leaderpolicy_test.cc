// The LeaderPolicy types generated from the CRD: what the operator and the
// webhook rely on (defaults equal to SPEC §1, validation paths, status
// conditions, ObjectMeta from //api/types:core).
#include "api/types/leaderpolicy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::api::v1alpha1 {
namespace {

using json = nlohmann::json;

TEST(LeaderPolicyTest, DefaultsAreTheSpecDefaults) {
  absl::StatusOr<LeaderPolicy> policy = LeaderPolicy::FromJson(json::parse(R"({
    "apiVersion": "coordination.kube-zen.io/v1alpha1", "kind": "LeaderPolicy",
    "metadata": {"name": "web", "namespace": "shop"}})"));
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_FALSE(policy->spec.has_value());
  ApplyDefaults(*policy);
  ASSERT_TRUE(policy->spec.has_value());  // spec: default {}
  const LeaderPolicySpec& spec = *policy->spec;
  EXPECT_EQ(spec.lease_duration_seconds, 15);
  EXPECT_EQ(spec.renew_deadline_seconds, 10);
  EXPECT_EQ(spec.retry_period_seconds, 2);
  EXPECT_EQ(spec.identity_strategy, LeaderPolicySpec::kIdentityStrategyPod);
  EXPECT_EQ(spec.follower_mode, LeaderPolicySpec::kFollowerModeStandby);
  EXPECT_EQ(spec.min_ready_seconds, 0);
  EXPECT_TRUE(Validate(*policy).ok());
  EXPECT_EQ(policy->metadata->name, "web");
  EXPECT_EQ(policy->metadata->namespace_field, "shop");
}

TEST(LeaderPolicyTest, ValidationNamesTheField) {
  absl::StatusOr<LeaderPolicy> policy = LeaderPolicy::FromJson(json::parse(R"({
    "spec": {"leaseDurationSeconds": 0, "retryPeriodSeconds": 61,
             "followerMode": "sleep", "minReadySeconds": 3601}})"));
  ASSERT_TRUE(policy.ok());
  EXPECT_EQ(
      Validate(*policy).message(),
      "spec.leaseDurationSeconds: must be greater than or equal to 1, got 0; "
      "spec.retryPeriodSeconds: must be less than or equal to 60, got 61; "
      "spec.followerMode: must be one of \"standby\", \"scaleDown\", got "
      "\"sleep\"; "
      "spec.minReadySeconds: must be less than or equal to 3600, got 3601");
  EXPECT_EQ(LeaderPolicy::FromJson(
                json::parse(R"({"spec":{"leaseDurationSeconds":"15"}})"))
                .status()
                .message(),
            "spec.leaseDurationSeconds: expected integer, got string");
}

TEST(LeaderPolicyTest, StatusRoundTripsWithConditions) {
  json in = json::parse(R"({
    "apiVersion": "coordination.kube-zen.io/v1alpha1", "kind": "LeaderPolicy",
    "metadata": {"name": "web", "generation": 3, "resourceVersion": "12",
                 "managedFields": [{"manager": "zen-lead"}]},
    "spec": {"leaseDurationSeconds": 15},
    "status": {
      "observedGeneration": 3, "phase": "Stable", "candidates": 2, "transitions": 1,
      "currentHolder": {"name": "web-0", "uid": "u", "identity": "web-0",
                        "podIP": "10.0.0.1", "since": "2024-01-02T03:04:05Z"},
      "lastTransitionTime": "2024-01-02T03:04:05Z",
      "conditions": [
        {"type": "Ready", "status": "True", "reason": "LeaderElected",
         "message": "web-0 leads", "lastTransitionTime": "2024-01-02T03:04:05Z",
         "observedGeneration": 3},
        {"type": "LeaderElected", "status": "Unknown", "reason": "Electing",
         "message": "", "lastTransitionTime": "2024-01-02T03:04:05Z"}]}})");
  absl::StatusOr<LeaderPolicy> policy = LeaderPolicy::FromJson(in);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->status->phase, LeaderPolicyStatus::kPhaseStable);
  EXPECT_EQ(policy->status->current_holder->pod_ip, "10.0.0.1");
  EXPECT_EQ((*policy->status->conditions)[1].status, Condition::kStatusUnknown);
  EXPECT_EQ(policy->ToJson(), in);
  EXPECT_TRUE(Validate(*policy).ok());

  (*policy->status->conditions)[1].type = "Ready";
  (*policy->status->conditions)[0].reason = "leader elected";
  EXPECT_EQ(
      Validate(*policy).message(),
      "status.conditions[1]: duplicate entry with type=\"Ready\"; "
      "status.conditions[0].reason: must match the pattern "
      "\"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$\", got \"leader elected\"");
  EXPECT_EQ(LeaderPolicy::FromJson(
                json::parse(R"({"status":{"conditions":[{"type":"Ready"}]}})"))
                .status()
                .message(),
            "status.conditions[0].status: required field is missing");
}

TEST(LeaderPolicyTest, ClientResource) {
  const client::Resource& r = LeaderPolicyClient::Resource();
  EXPECT_EQ(r.group, "coordination.kube-zen.io");
  EXPECT_EQ(r.version, "v1alpha1");
  EXPECT_EQ(r.resource, "leaderpolicies");
  EXPECT_TRUE(r.namespaced);
  EXPECT_STREQ(LeaderPolicy::kApiVersion, "coordination.kube-zen.io/v1alpha1");
  EXPECT_STREQ(LeaderPolicyList::kKind, "LeaderPolicyList");
}

}  // namespace
}  // namespace zenlead::api::v1alpha1
