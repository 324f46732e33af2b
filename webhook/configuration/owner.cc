#include "webhook/configuration/owner.h"

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "api/client/errors.h"
#include "api/types/clusterrole.h"
#include "api/types/customresourcedefinition.h"
#include "api/types/leaderpolicy.h"

namespace zenlead::webhook::configuration {
namespace {

constexpr char kClusterRolePrefix[] = "clusterrole";
constexpr char kCrdPrefix[] = "customresourcedefinition";

const char* Prefix(OwnerKind kind) {
  return kind == OwnerKind::kClusterRole ? kClusterRolePrefix : kCrdPrefix;
}

template <typename T>
k8s::OwnerReference ReferenceTo(const k8s::ObjectMeta& meta) {
  k8s::OwnerReference ref;
  ref.api_version = T::kApiVersion;
  ref.kind = T::kKind;
  ref.name = meta.name.value_or("");
  ref.uid = meta.uid.value_or("");
  return ref;
}

// The owner's metadata as a reference, or why it cannot own.
template <typename T, typename TypedClient>
absl::StatusOr<k8s::OwnerReference> Read(client::Client& client,
                                         const OwnerName& owner) {
  absl::StatusOr<T> object = TypedClient(client).Get(owner.name);
  const std::string flag = owner.ToString();
  if (client::IsNotFound(object.status())) {
    // WithContext keeps the API server's 404 (client::IsNotFound).
    return client::WithContext(
        object.status(),
        absl::StrCat("the webhook configuration's owner ", flag,
                     " does not exist: install it (config/rbac for the "
                     "ClusterRole, config/crd for the CRD) or name another "
                     "with --webhook-owner"));
  }
  if (!object.ok()) {
    return client::WithContext(
        object.status(),
        absl::StrCat("reading the webhook configuration's owner ", flag));
  }
  const k8s::ObjectMeta meta = object->metadata.value_or(k8s::ObjectMeta());
  if (meta.deletion_timestamp.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the webhook configuration's owner ", flag, " is being deleted (",
        *meta.deletion_timestamp,
        "): zen-lead is being uninstalled, so it does not write the "
        "configuration"));
  }
  if (!meta.uid.has_value() || meta.uid->empty()) {
    return absl::InternalError(
        absl::StrCat("the API server returned ", flag, " without a uid"));
  }
  return ReferenceTo<T>(meta);
}

}  // namespace

std::string OwnerName::ToString() const {
  return absl::StrCat(Prefix(kind), "/", name);
}

OwnerName LeaderPolicyCrdOwner() {
  const client::Resource& policies =
      api::v1alpha1::LeaderPolicyClient::Resource();
  return OwnerName{OwnerKind::kCustomResourceDefinition,
                   absl::StrCat(policies.resource, ".", policies.group)};
}

absl::StatusOr<OwnerName> ParseOwner(absl::string_view flag) {
  const size_t slash = flag.find('/');
  const absl::string_view kind = flag.substr(0, slash);
  const absl::string_view name =
      slash == absl::string_view::npos ? "" : flag.substr(slash + 1);
  std::optional<OwnerKind> parsed;
  if (kind == kClusterRolePrefix) parsed = OwnerKind::kClusterRole;
  if (kind == kCrdPrefix) parsed = OwnerKind::kCustomResourceDefinition;
  if (!parsed.has_value() || name.empty() ||
      name.find('/') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--webhook-owner=\"", flag, "\": expected ", kClusterRolePrefix,
        "/<name> (in the cluster, e.g. ", kDefaultOwner, ") or ", kCrdPrefix,
        "/<name> (outside it, e.g. ", LeaderPolicyCrdOwner().ToString(), ")"));
  }
  return OwnerName{*parsed, std::string(name)};
}

absl::StatusOr<k8s::OwnerReference> LookUpOwner(client::Client& client,
                                                const OwnerName& owner) {
  if (owner.kind == OwnerKind::kClusterRole) {
    return Read<k8s::ClusterRole, k8s::ClusterRoleClient>(client, owner);
  }
  return Read<k8s::CustomResourceDefinition,
              k8s::CustomResourceDefinitionClient>(client, owner);
}

}  // namespace zenlead::webhook::configuration
