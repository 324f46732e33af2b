#include "api/client/errors.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"

namespace zenlead::client {
namespace {

// How much of a non-Status body goes into a message.
constexpr size_t kMaxBodyInMessage = 256;

std::string Payload(const absl::Status& status, absl::string_view url) {
  absl::optional<absl::Cord> cord = status.GetPayload(url);
  return cord.has_value() ? std::string(*cord) : std::string();
}

absl::Status MakeStatus(int http_code, absl::string_view reason,
                        absl::string_view message) {
  std::string text = absl::StrCat(message.empty() ? "(no message)" : message,
                                  " (HTTP ", http_code);
  if (!reason.empty()) absl::StrAppend(&text, " ", reason);
  text += ")";
  absl::Status status(CodeForHttp(http_code, reason), text);
  status.SetPayload(kHttpCodePayloadUrl, absl::Cord(absl::StrCat(http_code)));
  if (!reason.empty()) status.SetPayload(kReasonPayloadUrl, absl::Cord(reason));
  if (!message.empty()) {
    status.SetPayload(kMessagePayloadUrl, absl::Cord(message));
  }
  return status;
}

// The reason Kubernetes uses for a code when a response carries none.
absl::string_view DefaultReason(int http_code) {
  switch (http_code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "";
  }
}

std::string StringField(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

}  // namespace

absl::StatusCode CodeForHttp(int http_code, absl::string_view reason) {
  if (http_code >= 200 && http_code < 300) return absl::StatusCode::kOk;
  switch (http_code) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 405:
    case 501:
      return absl::StatusCode::kUnimplemented;
    case 409:
      return reason == "AlreadyExists" ? absl::StatusCode::kAlreadyExists
                                       : absl::StatusCode::kAborted;
    case 410:
      return absl::StatusCode::kFailedPrecondition;
    case 413:
    case 415:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 500:
    case 502:
    case 503:
      return absl::StatusCode::kUnavailable;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      break;
  }
  if (http_code >= 400 && http_code < 500) {
    return absl::StatusCode::kFailedPrecondition;
  }
  if (http_code >= 500 && http_code < 600) return absl::StatusCode::kInternal;
  return absl::StatusCode::kUnknown;  // 1xx/3xx: not expected from the API.
}

absl::Status StatusFromResponse(int http_code, absl::string_view body) {
  if (http_code >= 200 && http_code < 300) return absl::OkStatus();
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr,
                                                /*allow_exceptions=*/false);
  if (parsed.is_object() && StringField(parsed, "kind") == "Status") {
    std::string reason = StringField(parsed, "reason");
    if (reason.empty()) reason = std::string(DefaultReason(http_code));
    return MakeStatus(http_code, reason, StringField(parsed, "message"));
  }
  std::string excerpt(body.substr(0, kMaxBodyInMessage));
  if (body.size() > kMaxBodyInMessage) excerpt += "...";
  return MakeStatus(http_code, DefaultReason(http_code), excerpt);
}

absl::Status StatusFromKubernetesStatus(const nlohmann::json& status) {
  if (!status.is_object()) {
    return absl::InternalError(absl::StrCat(
        "expected a Kubernetes Status object, got: ",
        status.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
            .substr(0, kMaxBodyInMessage)));
  }
  int code = 0;
  auto it = status.find("code");
  if (it != status.end() && it->is_number_integer()) {
    code = it->get<int>();
  }
  std::string reason = StringField(status, "reason");
  if (code == 0) {
    // A Status without a code (rare): infer it from well-known reasons so
    // that IsGone and friends still work.
    if (reason == "Expired" || reason == "Gone") code = 410;
    if (reason == "NotFound") code = 404;
    if (reason == "Conflict" || reason == "AlreadyExists") code = 409;
    if (code == 0) code = 500;
  }
  if (reason.empty()) reason = std::string(DefaultReason(code));
  return MakeStatus(code, reason, StringField(status, "message"));
}

absl::Status ConnectionError(absl::string_view detail) {
  return absl::UnavailableError(
      absl::StrCat("cannot reach the API server: ", detail));
}

absl::Status WithContext(const absl::Status& status,
                         absl::string_view context) {
  if (status.ok()) return status;
  absl::Status out(status.code(),
                   absl::StrCat(context, ": ", status.message()));
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) {
        out.SetPayload(url, payload);
      });
  return out;
}

std::string ReasonOf(const absl::Status& status) {
  return Payload(status, kReasonPayloadUrl);
}

std::string KubernetesMessageOf(const absl::Status& status) {
  return Payload(status, kMessagePayloadUrl);
}

int HttpCodeOf(const absl::Status& status) {
  int code = 0;
  std::string text = Payload(status, kHttpCodePayloadUrl);
  if (text.empty() || !absl::SimpleAtoi(text, &code)) return 0;
  return code;
}

bool errors_internal::IsNotFoundFn::operator()(
    const absl::Status& status) const {
  return HttpCodeOf(status) == 404;
}

bool errors_internal::IsConflictFn::operator()(
    const absl::Status& status) const {
  return HttpCodeOf(status) == 409 && ReasonOf(status) != "AlreadyExists";
}

bool errors_internal::IsAlreadyExistsFn::operator()(
    const absl::Status& status) const {
  return HttpCodeOf(status) == 409 && ReasonOf(status) == "AlreadyExists";
}

bool errors_internal::IsGoneFn::operator()(const absl::Status& status) const {
  if (status.ok()) return false;
  std::string reason = ReasonOf(status);
  return HttpCodeOf(status) == 410 || reason == "Expired" || reason == "Gone";
}

bool errors_internal::IsInvalidFn::operator()(
    const absl::Status& status) const {
  int code = HttpCodeOf(status);
  return code == 422 || (code == 400 && ReasonOf(status) == "Invalid");
}

bool errors_internal::IsRetriableFn::operator()(
    const absl::Status& status) const {
  if (status.ok()) return false;
  int code = HttpCodeOf(status);
  if (code == 0) {
    // No HTTP response: a transport failure or a client-side timeout.
    return status.code() == absl::StatusCode::kUnavailable ||
           status.code() == absl::StatusCode::kDeadlineExceeded;
  }
  if (code == 429 || code == 500 || code == 502 || code == 503 || code == 504) {
    return true;
  }
  std::string reason = ReasonOf(status);
  return reason == "ServerTimeout" || reason == "Timeout" ||
         reason == "TooManyRequests";
}

}  // namespace zenlead::client
