#include "webhook/pod_admission.h"

#include <optional>
#include <string>
#include <utility>

namespace zenlead::webhook {

std::optional<Decision> PodAdmission::Decide(
    const k8s::AdmissionRequest& request) {
  // CheckRoute has made sure the object is there and is a JSON object.
  pool::MembershipOptions options;
  // An owner the cache does not know yet may bring the pod into a pool:
  // that is not "outside", it is for `pooled` to decide.
  options.require_owners = true;
  const pool::PodPools pools =
      pool::PoolsOfPod(*request.object, request.namespace_field.value_or(""),
                       *index_, /*reader=*/nullptr, options);
  if (pools.pools.empty() && pools.unresolved.ok()) {
    return Decision::Allow("OutsidePool");
  }
  return std::nullopt;
}

Decision PodAdmission::Review(const k8s::AdmissionRequest& request,
                              absl::Time deadline) {
  std::optional<Decision> decided = Decide(request);
  if (decided.has_value()) return std::move(*decided);
  return pooled_->Review(request, deadline);
}

bool PodAdmission::MustDecide(const k8s::AdmissionRequest& request) {
  return !Decide(request).has_value() && pooled_->MustDecide(request);
}

}  // namespace zenlead::webhook
