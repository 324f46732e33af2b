// The AdmissionHandlers the zen-lead process serves on its two routes,
// beyond the Pod fast path (pod_admission.h): LeaderPolicy validation over
// a PolicyLookups, and the answer for a pod that is in a pool (or may be)
// until the Gatekeeper and StateGuard decisions exist.
//
//   CachePolicyLookups lookups(&cache, client);
//   PolicyAdmission policies(&lookups);
//   PooledPodsAllowed pooled;
//   PodAdmission pods(&cache, &pooled);
//   options.routes.push_back({kPodsPath, PodsRoute(), &pods});
//   options.routes.push_back(
//       {kLeaderPoliciesPath, LeaderPoliciesRoute(), &policies});
//
// Compiled in handlers_test.cc.
#ifndef ZEN_LEAD_WEBHOOK_HANDLERS_H_
#define ZEN_LEAD_WEBHOOK_HANDLERS_H_

#include "absl/time/time.h"
#include "api/types/admissionreview.h"
#include "webhook/admission_review.h"
#include "webhook/policy_validation.h"
#include "webhook/server.h"

namespace zenlead::webhook {

// ValidatePolicyRequest as a route's handler.
class PolicyAdmission : public AdmissionHandler {
 public:
  // lookups: not owned, thread-safe, outlives the handler; nullptr skips
  // the cross-object checks.
  explicit PolicyAdmission(const PolicyLookups* lookups) : lookups_(lookups) {}

  Decision Review(const k8s::AdmissionRequest& request,
                  absl::Time deadline) override;

 private:
  const PolicyLookups* const lookups_;
};

// Allows a pod of a pool (reason "InPool"): nothing refuses followers or
// serialises Job pods at admission yet, so a pooled pod is admitted as it
// would be without zen-lead. The Gatekeeper and StateGuard issue replaces
// this handler with their decisions.
class PooledPodsAllowed : public AdmissionHandler {
 public:
  Decision Review(const k8s::AdmissionRequest& request,
                  absl::Time deadline) override;
};

}  // namespace zenlead::webhook

#endif  // ZEN_LEAD_WEBHOOK_HANDLERS_H_
