// PolicyLookups over the process's one cache (api/pool/cache.h): the
// Deployments of a pool from the cache's sources (a Deployment behind a
// Service of the pool through its pods and ReplicaSets, then read: the cache
// keeps only the metadata of a Deployment that joins no pool), the pool
// Lease from the API server. The seam of policy_validation.h, wired for the
// webhook.
//
// The Lease is read from the cache when it has both CacheKind::kLeases
// (zen-lead's, by label) and CacheKind::kOtherLeases (every other Lease but
// the nodes'), as the zen-lead process has it: no API call on a review (a
// GET was most of a review's 1.4 ms). Like every informer-backed admission
// check it can miss a Lease created a moment before the policy; the
// TrafficDirector then finds that Lease foreign and leaves it untouched,
// with the policy's condition saying so. Without those kinds the Lease is
// read from the API server.
//
//   pool::Cache cache(deps, options);
//   for (pool::CacheKind k : {pool::CacheKind::kDeployments,
//                             pool::CacheKind::kReplicaSets,
//                             pool::CacheKind::kServices,
//                             pool::CacheKind::kPods,
//                             pool::CacheKind::kLeases,
//                             pool::CacheKind::kOtherLeases}) {
//     cache.Use(k);  // before Start
//   }
//   ...
//   CachePolicyLookups lookups(&cache, client.get());
//   Decision d = ValidatePolicyRequest(request, &lookups);
//
// Compiled in policy_validation_cache_e2e_test.cc.
#ifndef ZEN_LEAD_WEBHOOK_POLICY_VALIDATION_CACHE_H_
#define ZEN_LEAD_WEBHOOK_POLICY_VALIDATION_CACHE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "api/client/client.h"
#include "api/pool/cache.h"
#include "nlohmann/json.hpp"
#include "webhook/policy_validation.h"

namespace zenlead::webhook {

class CachePolicyLookups : public PolicyLookups {
 public:
  // cache: with CacheKind::kDeployments in use (and kPods, kReplicaSets for
  // pools that Services join; kLeases and kOtherLeases for the pool Lease).
  // client: reads Deployments behind Services, and the pool Lease when the
  // cache has no Leases. Neither is owned; both must outlive this object.
  CachePolicyLookups(const pool::Cache* cache, client::Client* client)
      : cache_(cache), client_(client) {}

  absl::StatusOr<std::optional<PoolLeaseInfo>> PoolLease(
      const std::string& ns, const std::string& pool) const override;
  // Unavailable while the cache has not synced, FailedPrecondition when it
  // does not cache Deployments: "none" is never guessed.
  absl::StatusOr<std::vector<PoolDeployment>> PoolDeployments(
      const std::string& ns, const std::string& pool) const override;

 private:
  const pool::Cache* const cache_;
  client::Client* const client_;
};

// What the rollout check reads of a Deployment object: name, spec.replicas
// (default 1) and spec.strategy (the API server always writes it; absent,
// the API server's defaults apply). nullopt when it does not parse.
std::optional<PoolDeployment> PoolDeploymentFromObject(
    const nlohmann::json& deployment);

}  // namespace zenlead::webhook

#endif  // ZEN_LEAD_WEBHOOK_POLICY_VALIDATION_CACHE_H_
