// The Pod CREATE route's handler, first step: the fast path. A pod that
// belongs to no pool (no controller chain, Service or annotation that makes
// it a member) is allowed from the process's cache alone, with no API call
// (SPEC §3.4). Any other pod, and a pod whose owner the cache does not know
// yet (membership unknown, not absent), goes to `pooled`: the Gatekeeper
// and StateGuard decision, the next piece of issue 12.
//
//   const pool::OwnerIndex* index = &cache;  // the process's pool::Cache
//   PodAdmission pods(index, &gatekeeper);   // gatekeeper: AdmissionHandler
//   options.routes.push_back({kPodsPath, PodsRoute(), &pods});
//
// Compiled in pod_admission_test.cc.
#ifndef ZEN_LEAD_WEBHOOK_POD_ADMISSION_H_
#define ZEN_LEAD_WEBHOOK_POD_ADMISSION_H_

#include <optional>

#include "absl/time/time.h"
#include "api/pool/membership.h"
#include "api/types/admissionreview.h"
#include "webhook/admission_review.h"
#include "webhook/server.h"

namespace zenlead::webhook {

class PodAdmission : public AdmissionHandler {
 public:
  // Not owned; both must outlive this handler and be thread-safe.
  PodAdmission(const pool::OwnerIndex* index, AdmissionHandler* pooled)
      : index_(index), pooled_(pooled) {}

  // Allowed with reason "OutsidePool" when the cache shows the pod in no
  // pool (on the server's worker, no hand over); nullopt otherwise.
  std::optional<Decision> Decide(const k8s::AdmissionRequest& request) override;
  // Decide's answer, or `pooled`'s decision.
  Decision Review(const k8s::AdmissionRequest& request,
                  absl::Time deadline) override;
  // `pooled`'s answer for a pod Decide leaves to it; false for a pod
  // outside every pool.
  bool MustDecide(const k8s::AdmissionRequest& request) override;

 private:
  const pool::OwnerIndex* const index_;
  AdmissionHandler* const pooled_;
};

}  // namespace zenlead::webhook

#endif  // ZEN_LEAD_WEBHOOK_POD_ADMISSION_H_
