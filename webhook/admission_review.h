// The AdmissionReview (admission.k8s.io/v1) envelope of the webhook: an HTTP
// body decoded into the generated zenlead::k8s::AdmissionReview and checked
// (apiVersion, kind, request, request.uid), the request checked against the
// route it arrived on (kind, operation, object), and the answer encoded with
// the request's uid. Pure functions: no I/O, no clock, no exceptions out.
//
//   absl::StatusOr<k8s::AdmissionReview> review = DecodeReview(body);
//   if (!review.ok()) {
//     // HTTP 400, the message names the field: "request.uid: required ..."
//     return ErrorReviewJson(review.status());
//   }
//   const k8s::AdmissionRequest& request = *review->request;
//   absl::Status fits = CheckRoute(PodsRoute(), request);
//   Decision decision = fits.ok() ? Decision::Allow("OutsidePool")
//                                 : Decision::Error("WrongObject", fits);
//   std::string answer = EncodeResponse(request.uid, decision);
//
// Compiled in admission_review_test.cc.
#ifndef ZEN_LEAD_WEBHOOK_ADMISSION_REVIEW_H_
#define ZEN_LEAD_WEBHOOK_ADMISSION_REVIEW_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/types/admissionreview.h"
#include "nlohmann/json.hpp"

namespace zenlead::webhook {

// JSON nested deeper than this is refused before parsing: Kubernetes objects
// are a few levels deep, and a body of nothing but brackets would otherwise
// build a tree whose recursive copy could exhaust a worker's stack.
inline constexpr int kMaxJsonDepth = 200;

// What a webhook says about one request.
struct Decision {
  bool allowed = false;
  // A metric label (zen_lead_webhook_requests_total{reason}): an
  // UpperCamelCase word from the small fixed set each webhook documents
  // ("OutsidePool", "InvalidPolicy", ...), never free text.
  std::string reason;
  // status.message: for a denial, what the user reads in kubectl's error.
  std::string message;
  // status.code: 0 writes none for an allowed request and 403 for a denial.
  int32_t code = 0;
  // response.warnings: shown by kubectl, also when allowed.
  std::vector<std::string> warnings;

  static Decision Allow(std::string reason);
  static Decision Deny(std::string reason, std::string message,
                       int32_t code = 403);
  // A denial because the request could not be decided: code from the
  // status (HttpStatusFor), message from its message.
  static Decision Error(std::string reason, const absl::Status& status);
};

// The HTTP status that stands for a canonical code: InvalidArgument 400,
// PermissionDenied 403, NotFound 404, AlreadyExists/Aborted 409,
// FailedPrecondition 412, ResourceExhausted 429, Unavailable 503,
// DeadlineExceeded 504, anything else 500.
int32_t HttpStatusFor(const absl::Status& status);

// Decodes an HTTP body into an AdmissionReview: JSON (at most kMaxJsonDepth
// deep), apiVersion admission.k8s.io/v1, kind AdmissionReview, a request
// with a non-empty uid that the generated decoder and Validate accept.
// Errors are InvalidArgument, naming the field ("request.uid: required
// field is missing") and what the webhook expects.
absl::StatusOr<k8s::AdmissionReview> DecodeReview(absl::string_view body);

// What a route accepts: the resource it is registered for and its
// operations (the ValidatingWebhookConfiguration's rules, checked again so
// that a wrong rule is a clear error, not a wrongly decoded object).
struct RouteSpec {
  // Name in metrics and messages: "pods", "leaderpolicies".
  std::string webhook;
  // request.kind must be this group/version/kind.
  k8s::GroupVersionKind kind;
  std::vector<std::string> operations;
};

// Pod CREATE (core/v1).
RouteSpec PodsRoute();
// LeaderPolicy CREATE and UPDATE (coordination.kube-zen.io/v1alpha1).
RouteSpec LeaderPoliciesRoute();

// OK when `request` is one `route` accepts: its kind, one of its operations,
// and an object (a JSON object whose apiVersion and kind, when present,
// agree with request.kind). Errors are InvalidArgument naming the field.
absl::Status CheckRoute(const RouteSpec& route,
                        const k8s::AdmissionRequest& request);

// The typed request.object, e.g. DecodeObject<k8s::Pod>(request); errors
// are InvalidArgument with the path under request.object.
template <typename T>
absl::StatusOr<T> DecodeObject(const k8s::AdmissionRequest& request) {
  if (!request.object.has_value()) {
    return absl::InvalidArgumentError(
        "request.object: required field is missing");
  }
  T out;
  absl::Status status = DecodeJson(*request.object, "request.object", out);
  if (!status.ok()) return status;
  return out;
}

// The response review for a request whose uid is known.
k8s::AdmissionReview ResponseReview(const std::string& uid,
                                    const Decision& decision);
// ResponseReview as the JSON body to send.
std::string EncodeResponse(const std::string& uid, const Decision& decision);

// The body for a review that could not be decoded (no uid to echo): an
// AdmissionReview whose response has an empty uid, allowed false, and
// status code and message from `status`. The API server treats it as a
// failed call either way; a person with curl reads why.
std::string ErrorReviewJson(const absl::Status& status);

// Serialises JSON for the wire; invalid UTF-8 (only possible in messages
// that quote input) is replaced, never thrown about.
std::string DumpJson(const nlohmann::json& json);

}  // namespace zenlead::webhook

#endif  // ZEN_LEAD_WEBHOOK_ADMISSION_REVIEW_H_
