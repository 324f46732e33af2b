// The ValidatingWebhookConfiguration zen-lead writes for its own webhook, as
// a pure function of its options: two webhooks (pods, leaderpolicies), the
// caBundle, where the API server calls (a URL such as https://127.0.0.1:9443
// for `make run`, or the Service of the install), the failure policies and
// the ownerReference that makes uninstalling delete it. writer.h applies it.
//
//   DesiredOptions options;
//   options.base_url = "https://127.0.0.1:9443";  // or options.service
//   options.zen_lead_namespace = "zen-lead-system";
//   options.pod_failure_policy = FailurePolicy::kIgnore;  // the default
//   absl::Status usable = ValidateDesiredOptions(options);  // at flag time
//   absl::StatusOr<k8s::ValidatingWebhookConfiguration> desired =
//       DesiredConfiguration(options, ca_bundle_pem, owner);
//   // desired->webhooks[0].name == kPodsWebhookName
//
// Compiled in desired_test.cc.
//
// What each webhook says, and why (docs/webhook.md, "The webhook
// configuration"):
//   pods.webhook.zen-lead.io: Pod CREATE, failurePolicy Ignore unless
//     configured Fail (a zen-lead outage never blocks the cluster's pods),
//     sideEffects NoneOnDryRun (an admission writes a reservation, a dry run
//     does not), namespaces other than kube-system and zen-lead's own (its
//     own pods must start without it). No matchConditions: none can skip a
//     pod safely (see kPodsWebhookName).
//   leaderpolicies.webhook.zen-lead.io: LeaderPolicy CREATE and UPDATE of
//     the resource itself (not leaderpolicies/status: status writes never
//     reach it), failurePolicy Fail, sideEffects None, and a matchCondition
//     that skips updates leaving the spec as it was (labels, finalizers,
//     ownerReferences), which the handler allows unchecked anyway: such
//     writes then succeed while zen-lead is down.
#ifndef ZEN_LEAD_WEBHOOK_CONFIGURATION_DESIRED_H_
#define ZEN_LEAD_WEBHOOK_CONFIGURATION_DESIRED_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/types/meta.h"
#include "api/types/validatingwebhookconfiguration.h"

namespace zenlead::webhook::configuration {

// The configuration's name: one per cluster, fixed so that RBAC can name it
// (config/rbac/role.yaml's resourceNames).
inline constexpr char kDefaultConfigurationName[] = "zen-lead-webhook";

// The pods webhook. It has no matchConditions, because no expression over
// the request can tell that a pod joins no pool without an owner lookup:
// a pod joins through its controller chain (ReplicaSet → Deployment,
// StatefulSet, Job → CronJob: the owners' labels, not the pod's, say so),
// through the selector of any enabled Service (any labelled pod, whoever
// owns it), or through the pod-template annotations. Only a pod with no
// labels, no owner and no annotations could be skipped, and such pods are
// too rare to save a call. The handler's fast path answers the others from
// the cache instead (pod_admission.h).
inline constexpr char kPodsWebhookName[] = "pods.webhook.zen-lead.io";
inline constexpr char kLeaderPoliciesWebhookName[] =
    "leaderpolicies.webhook.zen-lead.io";
// The leaderpolicies webhook's matchCondition: called for a CREATE, and for
// an UPDATE that changes the spec (the API server compares the objects
// after the CRD's defaults, as the handler does). CEL's || is true when
// either side is, even if the other side is an error, so a CREATE (no
// oldObject) never evaluates the comparison.
inline constexpr char kSpecChangedCondition[] = "spec-changed";
inline constexpr char kSpecChangedExpression[] =
    "request.operation != 'UPDATE' || !has(object.spec) || "
    "!has(oldObject.spec) || object.spec != oldObject.spec";

// The API server's whole budget for one call, the SPEC's 3 s (the server's
// handler_timeout, 2 s, answers before it).
inline constexpr int32_t kTimeoutSeconds = 3;
// The label the API server puts on every namespace: its name.
inline constexpr char kNamespaceNameLabel[] = "kubernetes.io/metadata.name";
inline constexpr char kKubeSystem[] = "kube-system";

enum class FailurePolicy { kIgnore, kFail };
// "Ignore" or "Fail" (the --webhook-pod-failure-policy flag); anything else
// is InvalidArgument naming both values.
absl::StatusOr<FailurePolicy> ParseFailurePolicy(absl::string_view text);

// Service mode: the API server calls https://<name>.<ns>.svc:<port><path>
// and checks the certificate for that name.
struct ServiceEndpoint {
  std::string ns;
  std::string name;
  int32_t port = 443;
};

struct DesiredOptions {
  std::string name = kDefaultConfigurationName;
  // Exactly one of base_url (URL mode: "https://host:port", the routes'
  // paths are appended) and service.
  std::string base_url;
  std::optional<ServiceEndpoint> service;
  FailurePolicy pod_failure_policy = FailurePolicy::kIgnore;
  // zen-lead's own namespace, excluded from the pods webhook with
  // kube-system.
  std::string zen_lead_namespace;
  // Limits both webhooks to namespaces with these labels. Empty in
  // production (every namespace); e2e tests set their namespace's name
  // (kNamespaceNameLabel) so that the configuration never touches the
  // other tests on the same cluster.
  std::map<std::string, std::string> namespace_match_labels;
};

// InvalidArgument naming the option: an empty name, neither or both of
// base_url and service, a base URL that is not https://host[:port][/path]
// (no query, fragment or user), a service without namespace or name or with
// a port outside 1..65535, an empty zen_lead_namespace.
absl::Status ValidateDesiredOptions(const DesiredOptions& options);

// OK when `ca_bundle_pem` holds PEM certificates; InvalidArgument otherwise.
absl::Status ValidateCaBundle(const std::string& ca_bundle_pem);

// The configuration, with caBundle the base64 of `ca_bundle_pem` (PEM
// certificates that may sign the serving certificate; during a rotation
// both the old and the new CA) and `owner` as its only ownerReference
// (owner.h looks it up). InvalidArgument for bad options, a bundle that is
// not PEM certificates, or an owner without apiVersion, kind, name or uid.
absl::StatusOr<k8s::ValidatingWebhookConfiguration> DesiredConfiguration(
    const DesiredOptions& options, const std::string& ca_bundle_pem,
    const k8s::OwnerReference& owner);

}  // namespace zenlead::webhook::configuration

#endif  // ZEN_LEAD_WEBHOOK_CONFIGURATION_DESIRED_H_
