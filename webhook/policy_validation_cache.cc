#include "webhook/policy_validation_cache.h"

#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "api/client/errors.h"
#include "api/pool/membership.h"
#include "api/pool/pool_lease.h"
#include "api/pool/work_item.h"
#include "api/runtime/meta.h"
#include "api/types/deployment.h"
#include "codegen/runtime/openapi.h"

namespace zenlead::webhook {
namespace {

// A rollingUpdate parameter, or nullopt when absent or not an int-or-string.
std::optional<openapi::IntOrString> Param(const nlohmann::json& rolling,
                                          const char* key) {
  if (!rolling.is_object()) return std::nullopt;
  auto it = rolling.find(key);
  if (it == rolling.end()) return std::nullopt;
  openapi::IntOrString value;
  if (!openapi::DecodeJson(*it, key, value).ok()) return std::nullopt;
  return value;
}

}  // namespace

std::optional<PoolDeployment> PoolDeploymentFromObject(
    const nlohmann::json& deployment) {
  absl::StatusOr<k8s::Deployment> parsed =
      k8s::Deployment::FromJson(deployment);
  if (!parsed.ok() || !parsed->metadata) return std::nullopt;
  PoolDeployment out;
  out.name = parsed->metadata->name.value_or("");
  if (!parsed->spec) return out;
  k8s::DeploymentSpec spec = *parsed->spec;
  k8s::ApplyDefaults(spec);
  out.replicas = spec.replicas.value_or(out.replicas);
  // The schema subset (api/schemas/deployment.yaml) does not model
  // spec.strategy; the generated type keeps it among the unknown fields.
  auto strategy = spec.unknown_fields.find("strategy");
  if (strategy == spec.unknown_fields.end() || !strategy->is_object()) {
    return out;
  }
  if (auto type = strategy->find("type");
      type != strategy->end() && type->is_string()) {
    out.strategy_type = type->get<std::string>();
  }
  if (auto rolling = strategy->find("rollingUpdate");
      rolling != strategy->end()) {
    out.max_unavailable = Param(*rolling, "maxUnavailable");
    out.max_surge = Param(*rolling, "maxSurge");
  }
  return out;
}

absl::StatusOr<std::optional<PoolLeaseInfo>> CachePolicyLookups::PoolLease(
    const std::string& ns, const std::string& pool) const {
  if (cache_->Get(pool::CacheKind::kLeases) != nullptr &&
      cache_->Get(pool::CacheKind::kOtherLeases) != nullptr) {
    // The two partition every Lease the check can meet.
    runtime::ObjectPtr lease = cache_->LeaseNamed(ns, pool);
    if (lease == nullptr) return std::optional<PoolLeaseInfo>();
    std::optional<pool::LeaseRead> read = pool::LeaseReadFromObject(*lease);
    return std::optional<PoolLeaseInfo>(
        PoolLeaseInfo{read.has_value() && !read->foreign});
  }
  absl::StatusOr<std::optional<pool::LeaseRead>> read =
      pool::ReadLease(*client_, ns, pool);
  if (!read.ok()) return read.status();
  if (!read->has_value()) return std::optional<PoolLeaseInfo>();
  return std::optional<PoolLeaseInfo>(PoolLeaseInfo{!(*read)->foreign});
}

absl::StatusOr<std::vector<PoolDeployment>> CachePolicyLookups::PoolDeployments(
    const std::string& ns, const std::string& pool) const {
  if (cache_->Get(pool::CacheKind::kDeployments) == nullptr) {
    return absl::FailedPreconditionError(
        "the webhook's cache does not watch Deployments");
  }
  if (!cache_->HasSynced()) {
    return absl::UnavailableError("the webhook's cache has not synced yet");
  }
  const std::vector<pool::Source> sources =
      cache_->SourcesOf(pool::PoolKey{ns, pool});
  std::vector<PoolDeployment> out;
  std::set<std::string> seen;  // Deployment UIDs
  for (const pool::Source& s : sources) {
    if (s.kind != pool::Source::Kind::kDeployment) continue;
    runtime::ObjectPtr obj =
        cache_->ByUid(pool::CacheKind::kDeployments, s.ns, s.uid);
    if (obj == nullptr) continue;  // gone since SourcesOf
    std::optional<PoolDeployment> d = PoolDeploymentFromObject(*obj);
    if (!d) {
      return absl::InternalError(absl::StrCat("the cached Deployment ", s.ns,
                                              "/", s.name, " does not parse"));
    }
    seen.insert(s.uid);
    out.push_back(*std::move(d));
  }
  // The Deployments whose pods a Service of the pool selects: pod ->
  // ReplicaSet -> Deployment through the cache. Such a Deployment joins no
  // pool itself, so the cache holds only its metadata: it is read.
  for (const pool::Source& s : sources) {
    if (s.kind != pool::Source::Kind::kService) continue;
    if (cache_->Get(pool::CacheKind::kPods) == nullptr ||
        cache_->Get(pool::CacheKind::kReplicaSets) == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "Service ", s.ns, "/", s.name,
          " joins the pool, and the webhook's cache does not watch pods and "
          "ReplicaSets, which lead to the Deployments behind it"));
    }
    for (const runtime::ObjectPtr& pod : cache_->PodsOf(s)) {
      std::optional<pool::OwnerRef> rs = pool::ControllerOwner(*pod);
      if (!rs || rs->kind != "ReplicaSet") continue;
      std::optional<pool::OwnerNode> node = cache_->Owner(s.ns, *rs);
      if (!node) {
        return absl::UnavailableError(absl::StrCat(
            "ReplicaSet ", s.ns, "/", rs->name, " of a pod Service ", s.name,
            " selects is not in the cache yet"));
      }
      if (!node->controller || node->controller->kind != "Deployment") {
        continue;
      }
      const pool::OwnerRef& owner = *node->controller;
      if (!seen.insert(owner.uid).second) continue;
      absl::StatusOr<nlohmann::json> obj =
          client_->Get(k8s::DeploymentClient::Resource(), s.ns, owner.name);
      if (client::IsNotFound(obj.status())) continue;
      if (!obj.ok()) return obj.status();
      // Another Deployment of the same name: the one the pod had is gone.
      if (runtime::MetadataString(*obj, "uid") != owner.uid) continue;
      std::optional<PoolDeployment> d = PoolDeploymentFromObject(*obj);
      if (!d) {
        return absl::InternalError(absl::StrCat("Deployment ", s.ns, "/",
                                                owner.name, " does not parse"));
      }
      out.push_back(*std::move(d));
    }
  }
  return out;
}

}  // namespace zenlead::webhook
