#include "webhook/handlers.h"

namespace zenlead::webhook {

Decision PolicyAdmission::Review(const k8s::AdmissionRequest& request,
                                 absl::Time /*deadline*/) {
  return ValidatePolicyRequest(request, lookups_);
}

}  // namespace zenlead::webhook
