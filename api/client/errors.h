// Kubernetes API errors as absl::Status. An HTTP response (code + body, the
// body a metav1.Status object when JSON) becomes a Status with a canonical
// code; the Kubernetes reason ("NotFound", "AlreadyExists", "Conflict",
// "Expired"...), the server's message and the HTTP code ride along as status
// payloads, so callers branch on what the API server said, not on strings.
//
//   absl::StatusOr<nlohmann::json> lease = client.Get(kLeases, ns, name);
//   if (IsNotFound(lease.status())) lease = client.Create(kLeases, ns, fresh);
//   absl::StatusOr<nlohmann::json> put = client.Update(kLeases, ns, renewed);
//   bool reread = IsConflict(put.status());  // stale resourceVersion
//   bool relist = IsGone(watch_status);      // 410: version too old
//   std::string why = absl::StrCat(ReasonOf(put.status()), " ",
//                                  HttpCodeOf(put.status()));
//   // why == "Conflict 409"
//
// Compiled in header_examples_test.cc.
//
// Mapping: 400 InvalidArgument, 401 Unauthenticated, 403 PermissionDenied,
// 404 NotFound, 409 AlreadyExists (reason AlreadyExists) or Aborted (any
// other 409, e.g. reason Conflict), 410 FailedPrecondition, 422
// InvalidArgument, 429 ResourceExhausted, 500/502/503 Unavailable, 504
// DeadlineExceeded, no HTTP response (connection failure) Unavailable.
#ifndef ZEN_LEAD_API_CLIENT_ERRORS_H_
#define ZEN_LEAD_API_CLIENT_ERRORS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace zenlead::client {

// Status payload type URLs.
inline constexpr absl::string_view kReasonPayloadUrl =
    "type.zen-lead.io/kubernetes/reason";
inline constexpr absl::string_view kMessagePayloadUrl =
    "type.zen-lead.io/kubernetes/message";
inline constexpr absl::string_view kHttpCodePayloadUrl =
    "type.zen-lead.io/http/code";

// The canonical code for an HTTP status code and Kubernetes reason.
absl::StatusCode CodeForHttp(int http_code, absl::string_view reason);

// An error from an API server response. body may be a metav1.Status (JSON)
// or anything else (a proxy's HTML page); the message is the Status message
// when there is one, else the start of the body. OkStatus for 2xx.
absl::Status StatusFromResponse(int http_code, absl::string_view body);

// An error from a metav1.Status object, e.g. the object of a watch ERROR
// event; its "code" field is the HTTP code (410 for an expired version).
// A malformed object gives InternalError.
absl::Status StatusFromKubernetesStatus(const nlohmann::json& status);

// A transport failure with no HTTP response (refused, reset, TLS, DNS):
// UnavailableError without an HTTP code.
absl::Status ConnectionError(absl::string_view detail);

// The same status (code and payloads) with "context: " before its message.
absl::Status WithContext(const absl::Status& status, absl::string_view context);

// The Kubernetes reason ("NotFound", "Conflict"...), "" when none.
std::string ReasonOf(const absl::Status& status);
// The Kubernetes Status message, "" when none.
std::string KubernetesMessageOf(const absl::Status& status);
// The HTTP status code, 0 when the error did not come from an HTTP response.
int HttpCodeOf(const absl::Status& status);

namespace errors_internal {
struct IsNotFoundFn {
  bool operator()(const absl::Status& status) const;
};
struct IsConflictFn {
  bool operator()(const absl::Status& status) const;
};
struct IsAlreadyExistsFn {
  bool operator()(const absl::Status& status) const;
};
struct IsGoneFn {
  bool operator()(const absl::Status& status) const;
};
struct IsInvalidFn {
  bool operator()(const absl::Status& status) const;
};
struct IsRetriableFn {
  bool operator()(const absl::Status& status) const;
};
}  // namespace errors_internal

// The predicates are function objects, not functions: abseil has its own
// absl::IsNotFound and absl::IsAlreadyExists (by canonical code), which
// argument-dependent lookup would find for an absl::Status argument and make
// an unqualified IsNotFound(status) ambiguous. Lookup that finds a variable
// skips argument-dependent lookup, so IsNotFound(status) means this one.

// 404.
inline constexpr errors_internal::IsNotFoundFn IsNotFound{};
// 409 other than AlreadyExists: optimistic concurrency (stale
// resourceVersion), failed preconditions, server-side apply field conflicts.
inline constexpr errors_internal::IsConflictFn IsConflict{};
// 409 reason AlreadyExists (create of an existing name).
inline constexpr errors_internal::IsAlreadyExistsFn IsAlreadyExists{};
// 410 Gone / reason Expired or Gone, also from a watch ERROR event: the
// requested resourceVersion is no longer available; relist.
inline constexpr errors_internal::IsGoneFn IsGone{};
// 422 reason Invalid (and 400 with reason Invalid).
inline constexpr errors_internal::IsInvalidFn IsInvalid{};
// Worth retrying the same request later: 429, 500, 502, 503, 504, reasons
// ServerTimeout / Timeout / TooManyRequests, connection failures and
// client-side timeouts.
inline constexpr errors_internal::IsRetriableFn IsRetriable{};

}  // namespace zenlead::client

#endif  // ZEN_LEAD_API_CLIENT_ERRORS_H_
