#include "webhook/configuration/desired.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "api/types/leaderpolicy.h"
#include "api/types/pod.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "webhook/admission_review.h"
#include "webhook/server.h"

namespace zenlead::webhook::configuration {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr char kCa[] =
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

k8s::OwnerReference Owner() {
  k8s::OwnerReference owner;
  owner.api_version = "rbac.authorization.k8s.io/v1";
  owner.kind = "ClusterRole";
  owner.name = "zen-lead-manager";
  owner.uid = "0f0e-uid";
  return owner;
}

DesiredOptions UrlOptions() {
  DesiredOptions options;
  options.base_url = "https://127.0.0.1:9443";
  options.zen_lead_namespace = "zen-lead-system";
  return options;
}

k8s::ValidatingWebhookConfiguration Build(const DesiredOptions& options) {
  absl::StatusOr<k8s::ValidatingWebhookConfiguration> config =
      DesiredConfiguration(options, kCa, Owner());
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : k8s::ValidatingWebhookConfiguration();
}

const k8s::ValidatingWebhook& Pods(
    const k8s::ValidatingWebhookConfiguration& config) {
  return config.webhooks->at(0);
}
const k8s::ValidatingWebhook& Policies(
    const k8s::ValidatingWebhookConfiguration& config) {
  return config.webhooks->at(1);
}

// The header's example.
TEST(DesiredTest, HeaderExample) {
  const std::string ca_bundle_pem = kCa;
  const k8s::OwnerReference owner = Owner();
  DesiredOptions options;
  options.base_url = "https://127.0.0.1:9443";  // or options.service
  options.zen_lead_namespace = "zen-lead-system";
  options.pod_failure_policy = FailurePolicy::kIgnore;    // the default
  absl::Status usable = ValidateDesiredOptions(options);  // at flag time
  absl::StatusOr<k8s::ValidatingWebhookConfiguration> desired =
      DesiredConfiguration(options, ca_bundle_pem, owner);
  ASSERT_TRUE(usable.ok()) << usable;
  ASSERT_TRUE(desired.ok()) << desired.status();
  EXPECT_EQ(desired->webhooks->at(0).name, kPodsWebhookName);
}

TEST(DesiredTest, ObjectMetadataNamesOwnerAndLabels) {
  const k8s::ValidatingWebhookConfiguration config = Build(UrlOptions());
  EXPECT_EQ(config.api_version, "admissionregistration.k8s.io/v1");
  EXPECT_EQ(config.kind, "ValidatingWebhookConfiguration");
  ASSERT_TRUE(config.metadata.has_value());
  EXPECT_EQ(config.metadata->name, "zen-lead-webhook");
  EXPECT_THAT(*config.metadata->labels,
              ElementsAre(Pair("app.kubernetes.io/managed-by", "zen-lead"),
                          Pair("app.kubernetes.io/name", "zen-lead")));
  ASSERT_EQ(config.metadata->owner_references->size(), 1u);
  const k8s::OwnerReference& owner = config.metadata->owner_references->at(0);
  EXPECT_EQ(owner, Owner());
  // Neither field: blockOwnerDeletion needs update on the owner's
  // finalizers, and the configuration has no controller.
  EXPECT_FALSE(owner.controller.has_value());
  EXPECT_FALSE(owner.block_owner_deletion.has_value());
  ASSERT_EQ(config.webhooks->size(), 2u);
  EXPECT_EQ(Pods(config).name, "pods.webhook.zen-lead.io");
  EXPECT_EQ(Policies(config).name, "leaderpolicies.webhook.zen-lead.io");
}

TEST(DesiredTest, ConfigurationNameIsAnOption) {
  DesiredOptions options = UrlOptions();
  options.name = "zen-lead-e2e-abc";
  EXPECT_EQ(Build(options).metadata->name, "zen-lead-e2e-abc");
}

// What the two webhooks differ in; the rest is the same for both.
struct Expected {
  const char* failure_policy;
  const char* side_effects;
  const char* group;
  const char* version;
  const char* resource;
  std::vector<std::string> operations;
};

void ExpectWebhook(const k8s::ValidatingWebhook& webhook,
                   const Expected& expected) {
  EXPECT_THAT(webhook.admission_review_versions, ElementsAre("v1"));
  EXPECT_EQ(webhook.failure_policy, expected.failure_policy);
  EXPECT_EQ(webhook.side_effects, expected.side_effects);
  EXPECT_EQ(webhook.timeout_seconds, 3);
  EXPECT_EQ(webhook.match_policy, "Equivalent");
  EXPECT_FALSE(webhook.object_selector.has_value());
  ASSERT_EQ(webhook.rules->size(), 1u);
  const k8s::RuleWithOperations& rule = webhook.rules->at(0);
  EXPECT_THAT(*rule.api_groups, ElementsAre(expected.group));
  EXPECT_THAT(*rule.api_versions, ElementsAre(expected.version));
  // The resource alone, no subresource: status writes never reach it.
  EXPECT_THAT(*rule.resources, ElementsAre(expected.resource));
  EXPECT_EQ(*rule.operations, expected.operations);
  EXPECT_EQ(rule.scope, "Namespaced");
}

TEST(DesiredTest, PodsWebhook) {
  const k8s::ValidatingWebhook pods = Pods(Build(UrlOptions()));
  ExpectWebhook(pods, {"Ignore", "NoneOnDryRun", "", "v1", "pods", {"CREATE"}});
  // See kPodsWebhookName: no expression can skip a pod safely.
  EXPECT_FALSE(pods.match_conditions.has_value());
}

TEST(DesiredTest, PodsWebhookExcludesKubeSystemAndZenLeadsNamespace) {
  const k8s::ValidatingWebhook pods = Pods(Build(UrlOptions()));
  ASSERT_TRUE(pods.namespace_selector.has_value());
  EXPECT_FALSE(pods.namespace_selector->match_labels.has_value());
  ASSERT_EQ(pods.namespace_selector->match_expressions->size(), 1u);
  const k8s::LabelSelectorRequirement& not_ours =
      pods.namespace_selector->match_expressions->at(0);
  EXPECT_EQ(not_ours.key, "kubernetes.io/metadata.name");
  EXPECT_EQ(not_ours.operator_field, "NotIn");
  EXPECT_THAT(*not_ours.values, ElementsAre("kube-system", "zen-lead-system"));

  DesiredOptions in_kube_system = UrlOptions();
  in_kube_system.zen_lead_namespace = "kube-system";
  EXPECT_THAT(*Pods(Build(in_kube_system))
                   .namespace_selector->match_expressions->at(0)
                   .values,
              ElementsAre("kube-system"));
}

TEST(DesiredTest, PodFailurePolicyFail) {
  DesiredOptions options = UrlOptions();
  options.pod_failure_policy = FailurePolicy::kFail;
  const k8s::ValidatingWebhookConfiguration config = Build(options);
  EXPECT_EQ(Pods(config).failure_policy, "Fail");
  EXPECT_EQ(Policies(config).failure_policy, "Fail");
}

TEST(DesiredTest, LeaderPoliciesWebhook) {
  const k8s::ValidatingWebhookConfiguration config = Build(UrlOptions());
  const k8s::ValidatingWebhook& policies = Policies(config);
  ExpectWebhook(policies, {"Fail",
                           "None",
                           "coordination.kube-zen.io",
                           "v1alpha1",
                           "leaderpolicies",
                           {"CREATE", "UPDATE"}});
  // Every namespace: a LeaderPolicy is checked wherever it is.
  EXPECT_FALSE(policies.namespace_selector.has_value());
  ASSERT_EQ(policies.match_conditions->size(), 1u);
  EXPECT_EQ(policies.match_conditions->at(0).name, "spec-changed");
  EXPECT_EQ(policies.match_conditions->at(0).expression,
            "request.operation != 'UPDATE' || !has(object.spec) || "
            "!has(oldObject.spec) || object.spec != oldObject.spec");
}

// The rules are the routes' (what the server accepts) on the resources the
// generated clients use.
TEST(DesiredTest, RulesFollowTheRoutes) {
  const k8s::ValidatingWebhookConfiguration config = Build(UrlOptions());
  EXPECT_EQ(*Pods(config).rules->at(0).operations, PodsRoute().operations);
  EXPECT_EQ(Pods(config).rules->at(0).api_groups->at(0),
            PodsRoute().kind.group);
  EXPECT_EQ(Pods(config).rules->at(0).api_versions->at(0),
            PodsRoute().kind.version);
  EXPECT_EQ(Pods(config).rules->at(0).resources->at(0),
            k8s::PodClient::Resource().resource);
  EXPECT_EQ(*Policies(config).rules->at(0).operations,
            LeaderPoliciesRoute().operations);
  EXPECT_EQ(Policies(config).rules->at(0).api_groups->at(0),
            LeaderPoliciesRoute().kind.group);
  EXPECT_EQ(Policies(config).rules->at(0).api_versions->at(0),
            LeaderPoliciesRoute().kind.version);
  EXPECT_EQ(Policies(config).rules->at(0).resources->at(0),
            api::v1alpha1::LeaderPolicyClient::Resource().resource);
}

TEST(DesiredTest, UrlModeAppendsTheRoutesPaths) {
  const k8s::ValidatingWebhookConfiguration config = Build(UrlOptions());
  EXPECT_EQ(Pods(config).client_config.url,
            "https://127.0.0.1:9443/validate/pods");
  EXPECT_EQ(Policies(config).client_config.url,
            "https://127.0.0.1:9443/validate/leaderpolicies");
  EXPECT_FALSE(Pods(config).client_config.service.has_value());

  DesiredOptions slash = UrlOptions();
  slash.base_url = "https://127.0.0.1:9443/";
  EXPECT_EQ(Pods(Build(slash)).client_config.url,
            std::string("https://127.0.0.1:9443") + kPodsPath);
  DesiredOptions prefix = UrlOptions();
  prefix.base_url = "https://10.0.0.1/zen";
  EXPECT_EQ(Policies(Build(prefix)).client_config.url,
            "https://10.0.0.1/zen/validate/leaderpolicies");
}

TEST(DesiredTest, ServiceMode) {
  DesiredOptions options = UrlOptions();
  options.base_url.clear();
  options.service = ServiceEndpoint{"zen-lead-system", "zen-lead-webhook", 443};
  const k8s::ValidatingWebhookConfiguration config = Build(options);
  for (const k8s::ValidatingWebhook* webhook :
       {&Pods(config), &Policies(config)}) {
    EXPECT_FALSE(webhook->client_config.url.has_value());
    ASSERT_TRUE(webhook->client_config.service.has_value());
    EXPECT_EQ(webhook->client_config.service->namespace_field,
              "zen-lead-system");
    EXPECT_EQ(webhook->client_config.service->name, "zen-lead-webhook");
    EXPECT_EQ(webhook->client_config.service->port, 443);
  }
  EXPECT_EQ(Pods(config).client_config.service->path, "/validate/pods");
  EXPECT_EQ(Policies(config).client_config.service->path,
            "/validate/leaderpolicies");
}

TEST(DesiredTest, CaBundleIsBase64OfThePem) {
  const k8s::ValidatingWebhookConfiguration config = Build(UrlOptions());
  for (const k8s::ValidatingWebhook* webhook :
       {&Pods(config), &Policies(config)}) {
    std::string decoded;
    ASSERT_TRUE(
        absl::Base64Unescape(*webhook->client_config.ca_bundle, &decoded));
    EXPECT_EQ(decoded, kCa);
  }
  // The JSON field the API server reads.
  EXPECT_EQ(config.ToJson()["webhooks"][0]["clientConfig"]["caBundle"],
            absl::Base64Escape(kCa));
}

TEST(DesiredTest, NamespaceMatchLabelsLimitBothWebhooks) {
  DesiredOptions options = UrlOptions();
  options.namespace_match_labels = {{"kubernetes.io/metadata.name", "e2e-abc"}};
  const k8s::ValidatingWebhookConfiguration config = Build(options);
  EXPECT_THAT(*Pods(config).namespace_selector->match_labels,
              ElementsAre(Pair("kubernetes.io/metadata.name", "e2e-abc")));
  // The exclusion stays.
  EXPECT_EQ(Pods(config).namespace_selector->match_expressions->size(), 1u);
  ASSERT_TRUE(Policies(config).namespace_selector.has_value());
  EXPECT_THAT(*Policies(config).namespace_selector->match_labels,
              ElementsAre(Pair("kubernetes.io/metadata.name", "e2e-abc")));
  EXPECT_FALSE(
      Policies(config).namespace_selector->match_expressions.has_value());
}

TEST(DesiredTest, SameOptionsSameObject) {
  EXPECT_EQ(Build(UrlOptions()), Build(UrlOptions()));
  EXPECT_EQ(Build(UrlOptions()).ToJson().dump(),
            Build(UrlOptions()).ToJson().dump());
}

TEST(DesiredTest, ObjectPassesTheGeneratedValidation) {
  const absl::Status valid = k8s::Validate(Build(UrlOptions()));
  EXPECT_TRUE(valid.ok()) << valid;
}

TEST(DesiredTest, ParseFailurePolicy) {
  EXPECT_EQ(*ParseFailurePolicy("Ignore"), FailurePolicy::kIgnore);
  EXPECT_EQ(*ParseFailurePolicy("Fail"), FailurePolicy::kFail);
  const absl::StatusOr<FailurePolicy> bad = ParseFailurePolicy("fail");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(),
              HasSubstr("failure policy \"fail\": must be Ignore or Fail"));
}

struct BadOptions {
  const char* what;
  void (*change)(DesiredOptions&);
  const char* message;
};

TEST(DesiredTest, BadOptionsAreRefusedNamingTheOption) {
  const BadOptions cases[] = {
      {"no name", [](DesiredOptions& o) { o.name.clear(); }, "name:"},
      {"no client", [](DesiredOptions& o) { o.base_url.clear(); },
       "base_url, service: set exactly one"},
      {"both clients",
       [](DesiredOptions& o) {
         o.service = ServiceEndpoint{"ns", "svc"};
       },
       "base_url, service: set exactly one"},
      {"http", [](DesiredOptions& o) { o.base_url = "http://127.0.0.1:9443"; },
       "must start with https://"},
      {"no host", [](DesiredOptions& o) { o.base_url = "https:///x"; },
       "has no host"},
      {"no port", [](DesiredOptions& o) { o.base_url = "https://h:"; },
       "has no host (or no port)"},
      {"query", [](DesiredOptions& o) { o.base_url = "https://h:1/?a=b"; },
       "must not contain '?'"},
      {"fragment", [](DesiredOptions& o) { o.base_url = "https://h/#f"; },
       "must not contain '#'"},
      {"user", [](DesiredOptions& o) { o.base_url = "https://u@h"; },
       "must not contain '@'"},
      {"service without name",
       [](DesiredOptions& o) {
         o.base_url.clear();
         o.service = ServiceEndpoint{"ns", ""};
       },
       "service: needs a namespace and a name"},
      {"service port",
       [](DesiredOptions& o) {
         o.base_url.clear();
         o.service = ServiceEndpoint{"ns", "svc", 70000};
       },
       "service.port: must be in 1..65535, got 70000"},
      {"no namespace", [](DesiredOptions& o) { o.zen_lead_namespace.clear(); },
       "zen_lead_namespace:"},
  };
  for (const BadOptions& c : cases) {
    DesiredOptions options = UrlOptions();
    c.change(options);
    const absl::Status status = ValidateDesiredOptions(options);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_THAT(status.message(), HasSubstr(c.message)) << c.what;
    EXPECT_EQ(DesiredConfiguration(options, kCa, Owner()).status(), status)
        << c.what;
  }
}

TEST(DesiredTest, BadBundleOrOwnerIsRefused) {
  const absl::Status bundle =
      DesiredConfiguration(UrlOptions(), "not a certificate", Owner()).status();
  EXPECT_EQ(bundle.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bundle.message(), HasSubstr("caBundle:"));
  EXPECT_EQ(ValidateCaBundle("not a certificate"), bundle);
  EXPECT_TRUE(ValidateCaBundle(kCa).ok());

  k8s::OwnerReference no_uid = Owner();
  no_uid.uid.clear();
  const absl::Status owner =
      DesiredConfiguration(UrlOptions(), kCa, no_uid).status();
  EXPECT_EQ(owner.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(owner.message(),
              HasSubstr("metadata.ownerReferences[0].uid: the owner has no "
                        "uid"));
}

}  // namespace
}  // namespace zenlead::webhook::configuration
