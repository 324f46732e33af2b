#include "webhook/configuration/desired.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "api/types/leaderpolicy.h"
#include "api/types/pod.h"
#include "webhook/admission_review.h"
#include "webhook/server.h"

namespace zenlead::webhook::configuration {
namespace {

using k8s::ValidatingWebhook;

constexpr char kAdmissionReviewVersion[] = "v1";
constexpr char kPemCertificateBegin[] = "-----BEGIN CERTIFICATE-----";
constexpr char kPemCertificateEnd[] = "-----END CERTIFICATE-----";

absl::Status CheckBaseUrl(const std::string& url) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "https://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "base_url: \"", url,
        "\" must start with https:// (the API server calls webhooks over "
        "TLS only)"));
  }
  const size_t host_end = rest.find('/');
  const absl::string_view host = rest.substr(0, host_end);
  if (host.empty() || host.front() == ':' || host.back() == ':') {
    return absl::InvalidArgumentError(
        absl::StrCat("base_url: \"", url, "\" has no host (or no port)"));
  }
  for (const char c : {'?', '#', '@'}) {
    if (absl::StrContains(rest, c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "base_url: \"", url, "\" must not contain '", std::string(1, c),
          "': a webhook URL has no query, fragment or user"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateCaBundle(const std::string& pem) {
  if (!absl::StrContains(pem, kPemCertificateBegin) ||
      !absl::StrContains(pem, kPemCertificateEnd)) {
    return absl::InvalidArgumentError(
        "caBundle: the CA bundle is not PEM certificates (no \"-----BEGIN "
        "CERTIFICATE-----\" ... \"-----END CERTIFICATE-----\" block)");
  }
  return absl::OkStatus();
}

namespace {

absl::Status CheckOwner(const k8s::OwnerReference& owner) {
  const std::pair<const char*, const std::string*> fields[] = {
      {"apiVersion", &owner.api_version},
      {"kind", &owner.kind},
      {"name", &owner.name},
      {"uid", &owner.uid}};
  for (const auto& [field, value] : fields) {
    if (value->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metadata.ownerReferences[0].", field, ": the owner has no ", field,
          " (look it up with LookUpOwner)"));
    }
  }
  return absl::OkStatus();
}

k8s::WebhookClientConfig ClientConfig(const DesiredOptions& options,
                                      const char* path,
                                      const std::string& ca_bundle_pem) {
  k8s::WebhookClientConfig config;
  if (options.service.has_value()) {
    k8s::ServiceReference service;
    service.namespace_field = options.service->ns;
    service.name = options.service->name;
    service.port = options.service->port;
    service.path = path;
    config.service = std::move(service);
  } else {
    config.url = absl::StrCat(absl::StripSuffix(options.base_url, "/"), path);
  }
  config.ca_bundle = absl::Base64Escape(ca_bundle_pem);
  return config;
}

// The rule for a route: its group and version from the generated client's
// resource (the API path zen-lead itself uses), its operations from the
// route the server checks requests against, so the two never disagree.
k8s::RuleWithOperations Rule(const client::Resource& resource,
                             const RouteSpec& route) {
  k8s::RuleWithOperations rule;
  rule.api_groups = std::vector<std::string>{resource.group};
  rule.api_versions = std::vector<std::string>{resource.version};
  // The resource alone: "pods" matches no subresource ("pods/status",
  // "leaderpolicies/status"), so status writes never reach the webhook.
  rule.resources = std::vector<std::string>{resource.resource};
  rule.operations = route.operations;
  rule.scope = k8s::RuleWithOperations::kScopeNamespaced;
  return rule;
}

ValidatingWebhook Webhook(const DesiredOptions& options, const char* name,
                          const char* path, const client::Resource& resource,
                          const RouteSpec& route,
                          const std::string& ca_bundle_pem) {
  ValidatingWebhook webhook;
  webhook.name = name;
  webhook.admission_review_versions = {kAdmissionReviewVersion};
  webhook.client_config = ClientConfig(options, path, ca_bundle_pem);
  webhook.rules = std::vector<k8s::RuleWithOperations>{Rule(resource, route)};
  // A request through another version of the resource is converted to the
  // one registered, which is the one the route decodes.
  webhook.match_policy = ValidatingWebhook::kMatchPolicyEquivalent;
  webhook.timeout_seconds = kTimeoutSeconds;
  if (!options.namespace_match_labels.empty()) {
    k8s::LabelSelector selector;
    selector.match_labels = options.namespace_match_labels;
    webhook.namespace_selector = std::move(selector);
  }
  return webhook;
}

ValidatingWebhook PodsWebhook(const DesiredOptions& options,
                              const std::string& ca_bundle_pem) {
  ValidatingWebhook webhook =
      Webhook(options, kPodsWebhookName, kPodsPath, k8s::PodClient::Resource(),
              PodsRoute(), ca_bundle_pem);
  webhook.failure_policy = options.pod_failure_policy == FailurePolicy::kFail
                               ? ValidatingWebhook::kFailurePolicyFail
                               : ValidatingWebhook::kFailurePolicyIgnore;
  // An admission into a guarded pool writes a reservation to the pool
  // Lease; a dry run is answered and writes nothing.
  webhook.side_effects = ValidatingWebhook::kSideEffectsNoneOnDryRun;
  // zen-lead's own pods must be created while zen-lead is down, whatever
  // the failure policy; kube-system's too. Sorted and unique: the same
  // options always give the same object.
  const std::set<std::string> excluded = {kKubeSystem,
                                          options.zen_lead_namespace};
  k8s::LabelSelectorRequirement not_ours;
  not_ours.key = kNamespaceNameLabel;
  not_ours.operator_field = k8s::LabelSelectorRequirement::kOperatorNotIn;
  not_ours.values = std::vector<std::string>(excluded.begin(), excluded.end());
  if (!webhook.namespace_selector.has_value()) {
    webhook.namespace_selector = k8s::LabelSelector();
  }
  webhook.namespace_selector->match_expressions =
      std::vector<k8s::LabelSelectorRequirement>{std::move(not_ours)};
  return webhook;
}

ValidatingWebhook LeaderPoliciesWebhook(const DesiredOptions& options,
                                        const std::string& ca_bundle_pem) {
  ValidatingWebhook webhook =
      Webhook(options, kLeaderPoliciesWebhookName, kLeaderPoliciesPath,
              api::v1alpha1::LeaderPolicyClient::Resource(),
              LeaderPoliciesRoute(), ca_bundle_pem);
  // A policy the webhook cannot check is refused: LeaderPolicy writes are
  // rare and made by people, who read the message and retry.
  webhook.failure_policy = ValidatingWebhook::kFailurePolicyFail;
  webhook.side_effects = ValidatingWebhook::kSideEffectsNone;
  k8s::MatchCondition spec_changed;
  spec_changed.name = kSpecChangedCondition;
  spec_changed.expression = kSpecChangedExpression;
  webhook.match_conditions =
      std::vector<k8s::MatchCondition>{std::move(spec_changed)};
  return webhook;
}

}  // namespace

absl::StatusOr<FailurePolicy> ParseFailurePolicy(absl::string_view text) {
  if (text == ValidatingWebhook::kFailurePolicyIgnore) {
    return FailurePolicy::kIgnore;
  }
  if (text == ValidatingWebhook::kFailurePolicyFail) {
    return FailurePolicy::kFail;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("failure policy \"", text, "\": must be ",
                   ValidatingWebhook::kFailurePolicyIgnore, " or ",
                   ValidatingWebhook::kFailurePolicyFail));
}

absl::Status ValidateDesiredOptions(const DesiredOptions& options) {
  if (options.name.empty()) {
    return absl::InvalidArgumentError("name: the configuration needs a name");
  }
  if (options.base_url.empty() == !options.service.has_value()) {
    return absl::InvalidArgumentError(
        "base_url, service: set exactly one (URL mode, e.g. "
        "https://127.0.0.1:9443 when zen-lead runs outside the cluster, or "
        "Service mode in the cluster)");
  }
  if (!options.base_url.empty()) {
    absl::Status url = CheckBaseUrl(options.base_url);
    if (!url.ok()) return url;
  }
  if (options.service.has_value()) {
    const ServiceEndpoint& service = *options.service;
    if (service.ns.empty() || service.name.empty()) {
      return absl::InvalidArgumentError(
          "service: needs a namespace and a name");
    }
    if (service.port < 1 || service.port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat(
          "service.port: must be in 1..65535, got ", service.port));
    }
  }
  if (options.zen_lead_namespace.empty()) {
    return absl::InvalidArgumentError(
        "zen_lead_namespace: needed, the pods webhook excludes it");
  }
  return absl::OkStatus();
}

absl::StatusOr<k8s::ValidatingWebhookConfiguration> DesiredConfiguration(
    const DesiredOptions& options, const std::string& ca_bundle_pem,
    const k8s::OwnerReference& owner) {
  for (const absl::Status& status :
       {ValidateDesiredOptions(options), ValidateCaBundle(ca_bundle_pem),
        CheckOwner(owner)}) {
    if (!status.ok()) return status;
  }
  k8s::ValidatingWebhookConfiguration config;
  config.api_version = k8s::ValidatingWebhookConfiguration::kApiVersion;
  config.kind = k8s::ValidatingWebhookConfiguration::kKind;
  k8s::ObjectMeta meta;
  meta.name = options.name;
  meta.labels = std::map<std::string, std::string>{
      {"app.kubernetes.io/name", "zen-lead"},
      {"app.kubernetes.io/managed-by", "zen-lead"}};
  meta.owner_references = std::vector<k8s::OwnerReference>{owner};
  config.metadata = std::move(meta);
  config.webhooks = std::vector<ValidatingWebhook>{
      PodsWebhook(options, ca_bundle_pem),
      LeaderPoliciesWebhook(options, ca_bundle_pem)};
  return config;
}

}  // namespace zenlead::webhook::configuration
