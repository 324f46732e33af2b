// LeaderPolicy validation over a PolicyLookups as a route's handler. The
// Pod route's handlers are pod_admission.h (the fast path) and
// gatekeeper.h (a pod of a pool).
//
//   CachePolicyLookups lookups(&cache, client);
//   PolicyAdmission policies(&lookups);
//   PodAdmission pods(&cache, &guarded);  // guarded: GuardedPods
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

}  // namespace zenlead::webhook

#endif  // ZEN_LEAD_WEBHOOK_HANDLERS_H_
