#include "webhook/policy_validation_cache.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "api/pool/pool_lease.h"
#include "api/pool/work_item.h"
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
  std::vector<PoolDeployment> out;
  for (const pool::Source& s : cache_->SourcesOf(pool::PoolKey{ns, pool})) {
    if (s.kind != pool::Source::Kind::kDeployment) continue;
    runtime::ObjectPtr obj =
        cache_->ByUid(pool::CacheKind::kDeployments, s.ns, s.uid);
    if (obj == nullptr) continue;  // gone since SourcesOf
    std::optional<PoolDeployment> d = PoolDeploymentFromObject(*obj);
    if (!d) {
      return absl::InternalError(absl::StrCat("the cached Deployment ", s.ns,
                                              "/", s.name, " does not parse"));
    }
    out.push_back(*std::move(d));
  }
  return out;
}

}  // namespace zenlead::webhook
