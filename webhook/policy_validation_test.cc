// LeaderPolicy validation: one invalid case per rule with its exact message,
// valid cases, every warning at its threshold, the cross-object checks
// (denied when the request brings the problem in, a warning otherwise),
// status-only updates allowed with no checks, and the AdmissionRequest
// entry point. Hermetic: lookups are a fake.
#include "webhook/policy_validation.h"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::webhook {
namespace {

namespace lp = api::v1alpha1;
using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Scripted lookups that count their calls.
class FakeLookups : public PolicyLookups {
 public:
  absl::StatusOr<std::optional<PoolLeaseInfo>> lease = std::nullopt;
  absl::StatusOr<std::vector<PoolDeployment>> deployments =
      std::vector<PoolDeployment>{};
  mutable int lease_calls = 0;
  mutable int deployment_calls = 0;
  mutable std::string asked_ns;
  mutable std::string asked_pool;

  absl::StatusOr<std::optional<PoolLeaseInfo>> PoolLease(
      const std::string& ns, const std::string& pool) const override {
    ++lease_calls;
    asked_ns = ns;
    asked_pool = pool;
    return lease;
  }
  absl::StatusOr<std::vector<PoolDeployment>> PoolDeployments(
      const std::string& ns, const std::string& pool) const override {
    ++deployment_calls;
    asked_ns = ns;
    asked_pool = pool;
    return deployments;
  }
};

json PolicyJson(const json& spec, const std::string& name = "web") {
  json p = {{"apiVersion", "coordination.kube-zen.io/v1alpha1"},
            {"kind", "LeaderPolicy"},
            {"metadata", {{"name", name}, {"namespace", "shop"}}}};
  if (!spec.is_null()) p["spec"] = spec;
  return p;
}

lp::LeaderPolicy Policy(const json& spec, const std::string& name = "web") {
  absl::StatusOr<lp::LeaderPolicy> p =
      lp::LeaderPolicy::FromJson(PolicyJson(spec, name));
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : lp::LeaderPolicy();
}

Decision Create(const json& spec, const PolicyLookups* lookups = nullptr) {
  return ValidatePolicy("shop", Policy(spec), nullptr, lookups);
}

Decision Update(const json& old_spec, const json& new_spec,
                const PolicyLookups* lookups = nullptr) {
  const lp::LeaderPolicy old = Policy(old_spec);
  return ValidatePolicy("shop", Policy(new_spec), &old, lookups);
}

// ---- The header's example.

TEST(PolicyValidationTest, HeaderExample) {
  k8s::AdmissionRequest request;
  request.operation = k8s::AdmissionRequest::kOperationCREATE;
  request.namespace_field = "shop";
  request.object =
      PolicyJson({{"leaseDurationSeconds", 10}, {"renewDeadlineSeconds", 12}});
  FakeLookups lookups;
  Decision d = ValidatePolicyRequest(request, &lookups);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "InvalidPolicy");
  EXPECT_EQ(d.message,
            "spec.renewDeadlineSeconds (12) must be less than "
            "spec.leaseDurationSeconds (10)");
  EXPECT_THAT(d.warnings, IsEmpty());
  const json answer = json::parse(EncodeResponse("uid-1", d));
  EXPECT_EQ(answer["response"]["uid"], "uid-1");
  EXPECT_EQ(answer["response"]["allowed"], false);
  EXPECT_EQ(answer["response"]["status"]["message"], d.message);
}

// ---- Valid policies.

TEST(PolicyValidationTest, DefaultsAreValidWithoutWarnings) {
  for (const json& spec : {json::object(), json()}) {
    Decision d = Create(spec);
    EXPECT_TRUE(d.allowed) << spec << ": " << d.message;
    EXPECT_EQ(d.reason, kReasonValidPolicy);
    EXPECT_EQ(d.message, "");
    EXPECT_THAT(d.warnings, IsEmpty()) << spec;
  }
}

TEST(PolicyValidationTest, BoundaryValuesAreValid) {
  // 1.2 x 8 = 9.6 < 10; 299 < 300; minReadySeconds at its maximum.
  for (const json& spec :
       {json{{"renewDeadlineSeconds", 10}, {"retryPeriodSeconds", 8}},
        json{{"leaseDurationSeconds", 300},
             {"renewDeadlineSeconds", 299},
             {"retryPeriodSeconds", 60},
             {"minReadySeconds", 3600},
             {"identityStrategy", "custom"}},
        json{{"leaseDurationSeconds", 60}, {"renewDeadlineSeconds", 30}}}) {
    Decision d = Create(spec);
    EXPECT_TRUE(d.allowed) << spec << ": " << d.message;
  }
}

// ---- One invalid case per field rule, with the exact message.

struct InvalidCase {
  const char* name;
  json spec;
  std::string message;
};

TEST(PolicyValidationTest, EachFieldRuleDeniesWithItsMessage) {
  const InvalidCase cases[] = {
      {"renewDeadline not below leaseDuration",
       {{"leaseDurationSeconds", 10}, {"renewDeadlineSeconds", 12}},
       "spec.renewDeadlineSeconds (12) must be less than "
       "spec.leaseDurationSeconds (10)"},
      {"renewDeadline equal to leaseDuration",
       {{"leaseDurationSeconds", 10}, {"renewDeadlineSeconds", 10}},
       "spec.renewDeadlineSeconds (10) must be less than "
       "spec.leaseDurationSeconds (10)"},
      {"1.2 x retryPeriod not below renewDeadline",
       {{"renewDeadlineSeconds", 6}, {"retryPeriodSeconds", 5}},
       "1.2 x spec.retryPeriodSeconds (5) must be less than "
       "spec.renewDeadlineSeconds (6)"},
      {"the default retryPeriod against a short renewDeadline",
       {{"leaseDurationSeconds", 3}, {"renewDeadlineSeconds", 2}},
       "1.2 x spec.retryPeriodSeconds (2) must be less than "
       "spec.renewDeadlineSeconds (2)"},
      {"leaseDuration above its maximum",
       {{"leaseDurationSeconds", 301}},
       "spec.leaseDurationSeconds: must be less than or equal to 300, got 301"},
      {"retryPeriod above its maximum",
       {{"leaseDurationSeconds", 300},
        {"renewDeadlineSeconds", 200},
        {"retryPeriodSeconds", 61}},
       "spec.retryPeriodSeconds: must be less than or equal to 60, got 61"},
      {"minReadySeconds above its maximum",
       {{"minReadySeconds", 3601}},
       "spec.minReadySeconds: must be less than or equal to 3600, got 3601"},
      {"negative minReadySeconds",
       {{"minReadySeconds", -1}},
       "spec.minReadySeconds: must be greater than or equal to 0, got -1"},
      {"unknown followerMode",
       {{"followerMode", "sleep"}},
       "spec.followerMode: must be one of \"standby\", \"scaleDown\", got "
       "\"sleep\""},
      {"unknown identityStrategy",
       {{"identityStrategy", "random"}},
       "spec.identityStrategy: must be one of \"pod\", \"custom\", got "
       "\"random\""},
  };
  for (const InvalidCase& c : cases) {
    Decision d = Create(c.spec);
    EXPECT_FALSE(d.allowed) << c.name;
    EXPECT_EQ(d.reason, kReasonInvalidPolicy) << c.name;
    EXPECT_EQ(d.message, c.message) << c.name;
  }
}

TEST(PolicyValidationTest, BothCrossFieldRulesAreReportedTogether) {
  Decision d = Create({{"leaseDurationSeconds", 5},
                       {"renewDeadlineSeconds", 6},
                       {"retryPeriodSeconds", 5}});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.message,
            "spec.renewDeadlineSeconds (6) must be less than "
            "spec.leaseDurationSeconds (5); 1.2 x spec.retryPeriodSeconds (5) "
            "must be less than spec.renewDeadlineSeconds (6)");
}

TEST(PolicyValidationTest, ANameThatCannotNameAPoolIsDenied) {
  const std::string name(64, 'a');
  Decision d =
      ValidatePolicy("shop", Policy(json::object(), name), nullptr, nullptr);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, kReasonInvalidPolicy);
  EXPECT_EQ(d.message, "metadata.name: pool name \"" + name +
                           "\" is 64 characters long; at most 63 (it is a "
                           "label value)");
  EXPECT_TRUE(ValidatePolicy("shop",
                             Policy(json::object(), std::string(63, 'a')),
                             nullptr, nullptr)
                  .allowed);
}

TEST(PolicyValidationTest, InvalidPolicyIsNotLookedUp) {
  FakeLookups lookups;
  Decision d = Create(
      {{"leaseDurationSeconds", 10}, {"renewDeadlineSeconds", 12}}, &lookups);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(lookups.lease_calls, 0);
  EXPECT_EQ(lookups.deployment_calls, 0);
}

// ---- UPDATE.

TEST(PolicyValidationTest, UpdateValidatesTheNewObject) {
  Decision d = Update(json::object(), {{"leaseDurationSeconds", 10},
                                       {"renewDeadlineSeconds", 12}});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.message,
            "spec.renewDeadlineSeconds (12) must be less than "
            "spec.leaseDurationSeconds (10)");
  // A valid new spec is allowed even when the stored one was not.
  Decision fixed =
      Update({{"leaseDurationSeconds", 10}, {"renewDeadlineSeconds", 12}},
             {{"leaseDurationSeconds", 15}, {"renewDeadlineSeconds", 12}});
  EXPECT_TRUE(fixed.allowed) << fixed.message;
  EXPECT_EQ(fixed.reason, kReasonValidPolicy);
}

TEST(PolicyValidationTest, StatusOnlyUpdateIsAllowedWithNoChecks) {
  // A stored spec that breaks the rules (an older CRD), a status write on
  // it, and lookups that would deny: nothing is checked.
  const json bad = {{"leaseDurationSeconds", 10},
                    {"renewDeadlineSeconds", 12},
                    {"followerMode", "scaleDown"}};
  lp::LeaderPolicy old = Policy(bad);
  old.metadata->generation = 4;
  lp::LeaderPolicy now = old;
  now.status.emplace();
  now.status->phase = lp::LeaderPolicyStatus::kPhaseStable;
  now.status->observed_generation = 4;
  now.metadata->labels.emplace()["team"] = "shop";
  FakeLookups lookups;
  lookups.lease = PoolLeaseInfo{false};
  Decision d = ValidatePolicy("shop", now, &old, &lookups);
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.reason, kReasonSpecUnchanged);
  EXPECT_THAT(d.warnings, IsEmpty());
  EXPECT_EQ(lookups.lease_calls + lookups.deployment_calls, 0);
}

TEST(PolicyValidationTest, DefaultedFieldsCountAsUnchanged) {
  // The stored object has every default written out; the request leaves
  // them out (a client that sends only what it set).
  Decision d = Update({{"leaseDurationSeconds", 15},
                       {"renewDeadlineSeconds", 10},
                       {"retryPeriodSeconds", 2},
                       {"identityStrategy", "pod"},
                       {"followerMode", "standby"},
                       {"minReadySeconds", 0}},
                      json::object());
  EXPECT_EQ(d.reason, kReasonSpecUnchanged);
}

// ---- Warnings, each at its threshold.

TEST(PolicyValidationTest, FrequentRenewalsAreWarnedAbout) {
  // The defaults renew every 15 - 10 = 5 s; more than twice as often warns.
  Decision d =
      Create({{"leaseDurationSeconds", 12}, {"renewDeadlineSeconds", 10}});
  EXPECT_TRUE(d.allowed);
  EXPECT_THAT(d.warnings,
              ElementsAre("spec.leaseDurationSeconds (12) - "
                          "spec.renewDeadlineSeconds (10) renews the pool "
                          "Lease every 2s (the defaults: every 5s): each "
                          "pool costs the API server one write per 2s; with "
                          "many pools see docs/operator.md, Sizing"));
  EXPECT_THAT(
      Create({{"leaseDurationSeconds", 13}, {"renewDeadlineSeconds", 10}})
          .warnings,
      IsEmpty());
}

TEST(PolicyValidationTest, AShortRenewDeadlineIsWarnedAbout) {
  Decision d = Create({{"leaseDurationSeconds", 10},
                       {"renewDeadlineSeconds", 4},
                       {"retryPeriodSeconds", 1}});
  EXPECT_TRUE(d.allowed);
  EXPECT_THAT(d.warnings,
              ElementsAre("spec.renewDeadlineSeconds (4): a renewal that "
                          "lands more than 4s after it falls due lets the "
                          "pool Lease expire, and IsLeader readers then see "
                          "no leader; API server load delays renewals (the "
                          "default is 10s)"));
  EXPECT_THAT(Create({{"leaseDurationSeconds", 10},
                      {"renewDeadlineSeconds", 5},
                      {"retryPeriodSeconds", 1}})
                  .warnings,
              IsEmpty());
}

TEST(PolicyValidationTest, ScaleDownWithMinReadySecondsIsWarnedAbout) {
  Decision d = Create({{"followerMode", "scaleDown"}, {"minReadySeconds", 30}});
  EXPECT_TRUE(d.allowed);
  EXPECT_THAT(d.warnings,
              ElementsAre("spec.minReadySeconds (30) with spec.followerMode "
                          "scaleDown: no follower runs before a failover, so "
                          "the new pod gets no traffic until it has been "
                          "Ready for 30s, on every failover"));
  EXPECT_THAT(
      Create({{"followerMode", "scaleDown"}, {"minReadySeconds", 0}}).warnings,
      IsEmpty());
  EXPECT_THAT(
      Create({{"followerMode", "standby"}, {"minReadySeconds", 30}}).warnings,
      IsEmpty());
}

TEST(PolicyValidationTest, SeveralWarningsAtOnce) {
  // The fastest legal timings: renewed every second, 2 s to land.
  Decision d = Create({{"leaseDurationSeconds", 3},
                       {"renewDeadlineSeconds", 2},
                       {"retryPeriodSeconds", 1}});
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.warnings.size(), 2u);
}

// ---- Cross-object: the pool Lease.

TEST(PolicyValidationTest, AForeignLeaseDeniesACreate) {
  FakeLookups lookups;
  lookups.lease = PoolLeaseInfo{false};
  Decision d = Create(json::object(), &lookups);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, kReasonLeaseConflict);
  EXPECT_EQ(d.message,
            "metadata.name: the Lease shop/web exists and is not managed by "
            "zen-lead (no label app.kubernetes.io/managed-by=zen-lead); "
            "zen-lead never writes a Lease it does not manage, so this pool "
            "could never record a leader: choose another name, or remove "
            "that Lease if nothing uses it (kubectl get lease -n shop web -o "
            "yaml)");
  EXPECT_EQ(lookups.asked_ns, "shop");
  EXPECT_EQ(lookups.asked_pool, "web");
}

TEST(PolicyValidationTest, AForeignLeaseOnlyWarnsOnAnUpdate) {
  FakeLookups lookups;
  lookups.lease = PoolLeaseInfo{false};
  Decision d = Update(json::object(), {{"minReadySeconds", 5}}, &lookups);
  EXPECT_TRUE(d.allowed);
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_EQ(d.warnings[0].rfind("metadata.name: the Lease shop/web exists", 0),
            0u)
      << d.warnings[0];
}

TEST(PolicyValidationTest, ZenLeadsOwnLeaseOrNoLeaseIsFine) {
  FakeLookups lookups;
  lookups.lease = PoolLeaseInfo{true};
  EXPECT_TRUE(Create(json::object(), &lookups).allowed);
  lookups.lease = std::nullopt;
  Decision d = Create(json::object(), &lookups);
  EXPECT_TRUE(d.allowed);
  EXPECT_THAT(d.warnings, IsEmpty());
  EXPECT_EQ(lookups.lease_calls, 2);
}

TEST(PolicyValidationTest, AFailedLookupAllowsWithAWarning) {
  FakeLookups lookups;
  lookups.lease = absl::UnavailableError("the API server is unreachable");
  lookups.deployments = absl::UnavailableError("the cache has not synced");
  Decision d = Create({{"followerMode", "scaleDown"}}, &lookups);
  EXPECT_TRUE(d.allowed);
  EXPECT_THAT(d.warnings,
              ElementsAre("could not check the pool Lease shop/web: the API "
                          "server is unreachable",
                          "could not check the Deployments of pool shop/web: "
                          "the cache has not synced"));
}

// ---- Cross-object: scaleDown and the Deployments' rollout strategy.

PoolDeployment Rolling(int32_t replicas,
                       std::optional<openapi::IntOrString> max_unavailable,
                       std::optional<openapi::IntOrString> max_surge) {
  PoolDeployment d;
  d.name = "web";
  d.replicas = replicas;
  d.max_unavailable = std::move(max_unavailable);
  d.max_surge = std::move(max_surge);
  return d;
}

TEST(PolicyValidationTest, ScaleDownWithARollingUpdateDeploymentIsDenied) {
  FakeLookups lookups;
  lookups.deployments = std::vector<PoolDeployment>{
      Rolling(3, openapi::IntOrString("25%"), openapi::IntOrString("25%"))};
  Decision d = Create({{"followerMode", "scaleDown"}}, &lookups);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, kReasonRolloutBlocked);
  EXPECT_EQ(d.message,
            "spec.followerMode (scaleDown): Deployment shop/web could never "
            "finish a rollout: its RollingUpdate strategy keeps 3 of its 3 "
            "replicas available (maxUnavailable 25% is 0), but only one pod "
            "of a scaleDown pool runs, and the new ReplicaSet's pod is "
            "refused while it does; set the Deployment's spec.strategy.type "
            "to Recreate (or rollingUpdate.maxUnavailable to 100%)");
}

TEST(PolicyValidationTest, RolloutsThatCanFinishInScaleDown) {
  PoolDeployment recreate = Rolling(3, std::nullopt, std::nullopt);
  recreate.strategy_type = "Recreate";
  const PoolDeployment can[] = {
      recreate,
      Rolling(3, openapi::IntOrString("100%"), openapi::IntOrString("25%")),
      Rolling(1, openapi::IntOrString(int64_t{1}), openapi::IntOrString("0%")),
      Rolling(2, openapi::IntOrString(int64_t{2}), std::nullopt),
      // Both round to 0: the controller takes maxUnavailable as 1.
      Rolling(1, openapi::IntOrString("10%"), openapi::IntOrString("0%")),
      Rolling(0, std::nullopt, std::nullopt),
  };
  for (const PoolDeployment& d : can) {
    EXPECT_EQ(ScaleDownRolloutProblem("shop", d), std::nullopt)
        << d.strategy_type << " replicas " << d.replicas;
  }
  const PoolDeployment cannot[] = {
      Rolling(1, std::nullopt, std::nullopt),  // the API server's defaults
      Rolling(2, openapi::IntOrString(int64_t{1}), openapi::IntOrString("0%")),
      Rolling(4, openapi::IntOrString("75%"), openapi::IntOrString("25%")),
  };
  for (const PoolDeployment& d : cannot) {
    EXPECT_NE(ScaleDownRolloutProblem("shop", d), std::nullopt)
        << "replicas " << d.replicas;
  }
  EXPECT_EQ(*ScaleDownRolloutProblem("shop", cannot[0]),
            "Deployment shop/web could never finish a rollout: its "
            "RollingUpdate strategy keeps 1 of its 1 replicas available "
            "(maxUnavailable 25% (the default) is 0), but only one pod of a "
            "scaleDown pool runs, and the new ReplicaSet's pod is refused "
            "while it does; set the Deployment's spec.strategy.type to "
            "Recreate (or rollingUpdate.maxUnavailable to 100%)");
}

TEST(PolicyValidationTest, StandbyPoolsDoNotLookAtDeployments) {
  FakeLookups lookups;
  lookups.deployments =
      std::vector<PoolDeployment>{Rolling(3, std::nullopt, std::nullopt)};
  EXPECT_TRUE(Create(json::object(), &lookups).allowed);
  EXPECT_EQ(lookups.deployment_calls, 0);
}

TEST(PolicyValidationTest, SwitchingToScaleDownIsDeniedStayingOnlyWarns) {
  FakeLookups lookups;
  lookups.deployments =
      std::vector<PoolDeployment>{Rolling(2, std::nullopt, std::nullopt)};
  Decision to = Update({{"followerMode", "standby"}},
                       {{"followerMode", "scaleDown"}}, &lookups);
  EXPECT_FALSE(to.allowed);
  EXPECT_EQ(to.reason, kReasonRolloutBlocked);

  Decision stay = Update(
      {{"followerMode", "scaleDown"}},
      {{"followerMode", "scaleDown"}, {"leaseDurationSeconds", 20}}, &lookups);
  EXPECT_TRUE(stay.allowed);
  ASSERT_EQ(stay.warnings.size(), 1u);
  EXPECT_EQ(stay.warnings[0].rfind(
                "spec.followerMode (scaleDown): Deployment shop/web could "
                "never finish a rollout",
                0),
            0u)
      << stay.warnings[0];
}

TEST(PolicyValidationTest, DenialsAreJoinedAndWarningsKept) {
  FakeLookups lookups;
  lookups.lease = PoolLeaseInfo{false};
  lookups.deployments =
      std::vector<PoolDeployment>{Rolling(1, std::nullopt, std::nullopt)};
  Decision d = Create({{"followerMode", "scaleDown"}, {"minReadySeconds", 10}},
                      &lookups);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, kReasonLeaseConflict);  // the first problem's
  EXPECT_NE(d.message.find("the Lease shop/web exists"), std::string::npos);
  EXPECT_NE(d.message.find("; spec.followerMode (scaleDown): Deployment"),
            std::string::npos);
  EXPECT_EQ(d.warnings.size(), 1u);  // minReadySeconds with scaleDown
}

// ---- The AdmissionRequest entry point.

TEST(PolicyValidationTest, RequestOperations) {
  k8s::AdmissionRequest request;
  request.operation = k8s::AdmissionRequest::kOperationDELETE;
  EXPECT_EQ(ValidatePolicyRequest(request, nullptr).reason,
            kReasonNotValidated);

  request.operation = k8s::AdmissionRequest::kOperationCREATE;
  Decision missing = ValidatePolicyRequest(request, nullptr);
  EXPECT_FALSE(missing.allowed);
  EXPECT_EQ(missing.reason, kReasonInvalidObject);
  EXPECT_EQ(missing.message, "request.object: required field is missing");

  request.object = PolicyJson({{"leaseDurationSeconds", "15"}});
  Decision wrong_type = ValidatePolicyRequest(request, nullptr);
  EXPECT_FALSE(wrong_type.allowed);
  EXPECT_EQ(wrong_type.reason, kReasonInvalidObject);
  EXPECT_EQ(wrong_type.message,
            "spec.leaseDurationSeconds: expected integer, got string");
}

TEST(PolicyValidationTest, RequestUpdateComparesWithTheOldObject) {
  k8s::AdmissionRequest request;
  request.operation = k8s::AdmissionRequest::kOperationUPDATE;
  request.namespace_field = "shop";
  json old = PolicyJson({{"followerMode", "standby"}});
  json now = old;
  now["status"] = {{"phase", "Stable"}};
  request.old_object = old;
  request.object = now;
  EXPECT_EQ(ValidatePolicyRequest(request, nullptr).reason,
            kReasonSpecUnchanged);

  FakeLookups lookups;
  lookups.deployments =
      std::vector<PoolDeployment>{Rolling(1, std::nullopt, std::nullopt)};
  now["spec"]["followerMode"] = "scaleDown";
  request.object = now;
  Decision d = ValidatePolicyRequest(request, &lookups);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, kReasonRolloutBlocked);
  EXPECT_EQ(lookups.asked_ns, "shop");
}

TEST(PolicyValidationTest, NamespaceFromTheObjectWhenTheRequestHasNone) {
  FakeLookups lookups;
  ValidatePolicy("", Policy(json::object()), nullptr, &lookups);
  EXPECT_EQ(lookups.asked_ns, "shop");
}

}  // namespace
}  // namespace zenlead::webhook
