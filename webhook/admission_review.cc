#include "webhook/admission_review.h"

#include <algorithm>
#include <exception>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/types/meta.h"

namespace zenlead::webhook {
namespace {

using json = nlohmann::json;

// True when `body` nests arrays and objects deeper than `limit` (strings
// skipped, so brackets inside them do not count). Malformed input is left
// to the parser.
bool NestedDeeperThan(absl::string_view body, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > limit) return true;
        break;
      case ']':
      case '}':
        depth = std::max(depth - 1, 0);
        break;
      default:
        break;
    }
  }
  return false;
}

const char* JsonTypeName(const json& j) {
  switch (j.type()) {
    case json::value_t::object:
      return "object";
    case json::value_t::array:
      return "array";
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::null:
      return "null";
    case json::value_t::discarded:
      return "nothing";
    default:
      return "number";
  }
}

// `field` of the top-level object as a string; "" when absent or not one.
std::string StringField(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

// The status.reason Kubernetes uses with each HTTP code.
const char* StatusReasonFor(int32_t code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 409:
      return "Conflict";
    case 429:
      return "TooManyRequests";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return code >= 500 ? "InternalError" : "";
  }
}

k8s::Status StatusOf(int32_t code, const std::string& message) {
  k8s::Status status;
  status.status = "Failure";
  status.code = code;
  if (!message.empty()) status.message = message;
  const std::string reason = StatusReasonFor(code);
  if (!reason.empty()) status.reason = reason;
  return status;
}

std::string GvkString(const k8s::GroupVersionKind& gvk) {
  return absl::StrCat(gvk.group.empty() ? "" : absl::StrCat(gvk.group, "/"),
                      gvk.version, ", Kind=", gvk.kind);
}

std::string ApiVersionOf(const k8s::GroupVersionKind& gvk) {
  return gvk.group.empty() ? gvk.version
                           : absl::StrCat(gvk.group, "/", gvk.version);
}

}  // namespace

Decision Decision::Allow(std::string reason) {
  Decision d;
  d.allowed = true;
  d.reason = std::move(reason);
  return d;
}

Decision Decision::Deny(std::string reason, std::string message, int32_t code) {
  Decision d;
  d.allowed = false;
  d.reason = std::move(reason);
  d.message = std::move(message);
  d.code = code;
  return d;
}

Decision Decision::Error(std::string reason, const absl::Status& status) {
  return Deny(std::move(reason), std::string(status.message()),
              HttpStatusFor(status));
}

int32_t HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kFailedPrecondition:
      return 412;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

absl::StatusOr<k8s::AdmissionReview> DecodeReview(absl::string_view body) {
  constexpr char kExpected[] =
      "expected an AdmissionReview (apiVersion admission.k8s.io/v1) as JSON";
  if (body.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body is empty: ", kExpected));
  }
  if (NestedDeeperThan(body, kMaxJsonDepth)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body nests JSON deeper than ", kMaxJsonDepth,
                     " levels: ", kExpected));
  }
  json parsed;
  try {
    parsed = json::parse(body.begin(), body.end());
  } catch (const std::exception& e) {
    // nlohmann's message says where: "parse error at line 1, column 7: ...".
    return absl::InvalidArgumentError(absl::StrCat(
        "the request body is not valid JSON (", e.what(), "): ", kExpected));
  }
  if (!parsed.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the request body is a JSON ", JsonTypeName(parsed), ": ", kExpected));
  }
  const std::string api_version = StringField(parsed, "apiVersion");
  if (api_version != k8s::AdmissionReview::kApiVersion) {
    return absl::InvalidArgumentError(absl::StrCat(
        "apiVersion: expected \"", k8s::AdmissionReview::kApiVersion,
        "\", got ",
        api_version.empty() ? "none" : absl::StrCat("\"", api_version, "\""),
        " (the webhook configuration must list admissionReviewVersions "
        "[v1])"));
  }
  const std::string kind = StringField(parsed, "kind");
  if (kind != k8s::AdmissionReview::kKind) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kind: expected \"", k8s::AdmissionReview::kKind, "\", got ",
        kind.empty() ? "none" : absl::StrCat("\"", kind, "\"")));
  }
  auto request = parsed.find("request");
  if (request == parsed.end() || request->is_null()) {
    return absl::InvalidArgumentError(
        "request: required field is missing: the API server sends an "
        "AdmissionReview with a request and reads back one with a response");
  }
  // The objects are most of a review and are kept as JSON (RawExtension):
  // moved into the typed review, not copied by its decoder.
  json object;
  json old_object;
  if (request->is_object()) {
    for (auto [field, out] : {std::pair<const char*, json*>{"object", &object},
                              {"oldObject", &old_object}}) {
      auto it = request->find(field);
      if (it == request->end()) continue;
      *out = std::move(*it);
      request->erase(it);
    }
  }
  k8s::AdmissionReview review;
  absl::Status decoded = DecodeJson(parsed, "", review);
  if (!decoded.ok()) return decoded;
  if (!object.is_null()) review.request->object = std::move(object);
  if (!old_object.is_null()) review.request->old_object = std::move(old_object);
  if (review.request->uid.empty()) {
    return absl::InvalidArgumentError(
        "request.uid: must not be empty: the response must echo it");
  }
  absl::Status valid = Validate(review);
  if (!valid.ok()) return valid;
  return review;
}

RouteSpec PodsRoute() {
  RouteSpec route;
  route.webhook = "pods";
  route.kind.group = "";
  route.kind.version = "v1";
  route.kind.kind = "Pod";
  route.operations = {k8s::AdmissionRequest::kOperationCREATE};
  return route;
}

RouteSpec LeaderPoliciesRoute() {
  RouteSpec route;
  route.webhook = "leaderpolicies";
  route.kind.group = "coordination.kube-zen.io";
  route.kind.version = "v1alpha1";
  route.kind.kind = "LeaderPolicy";
  route.operations = {k8s::AdmissionRequest::kOperationCREATE,
                      k8s::AdmissionRequest::kOperationUPDATE};
  return route;
}

absl::Status CheckRoute(const RouteSpec& route,
                        const k8s::AdmissionRequest& request) {
  if (request.kind.group != route.kind.group ||
      request.kind.version != route.kind.version ||
      request.kind.kind != route.kind.kind) {
    return absl::InvalidArgumentError(
        absl::StrCat("request.kind: the ", route.webhook, " webhook reviews ",
                     GvkString(route.kind), ", got ", GvkString(request.kind),
                     ": check the rules of the webhook configuration"));
  }
  if (std::find(route.operations.begin(), route.operations.end(),
                request.operation) == route.operations.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request.operation: the ", route.webhook, " webhook reviews ",
        absl::StrJoin(route.operations, " and "), ", got ", request.operation,
        ": check the rules of the webhook configuration"));
  }
  if (!request.object.has_value() || request.object->is_null()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request.object: required field is missing: a ",
                     request.operation, " carries the object"));
  }
  const json& object = *request.object;
  if (!object.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request.object: expected object, got ", JsonTypeName(object)));
  }
  const std::string want_api_version = ApiVersionOf(route.kind);
  const std::string api_version = StringField(object, "apiVersion");
  if (!api_version.empty() && api_version != want_api_version) {
    return absl::InvalidArgumentError(
        absl::StrCat("request.object.apiVersion: expected \"", want_api_version,
                     "\", got \"", api_version, "\""));
  }
  const std::string kind = StringField(object, "kind");
  if (!kind.empty() && kind != route.kind.kind) {
    return absl::InvalidArgumentError(
        absl::StrCat("request.object.kind: expected \"", route.kind.kind,
                     "\", got \"", kind, "\""));
  }
  return absl::OkStatus();
}

k8s::AdmissionReview ResponseReview(const std::string& uid,
                                    const Decision& decision) {
  k8s::AdmissionReview review;
  review.api_version = k8s::AdmissionReview::kApiVersion;
  review.kind = k8s::AdmissionReview::kKind;
  k8s::AdmissionResponse& response = review.response.emplace();
  response.uid = uid;
  response.allowed = decision.allowed;
  if (!decision.allowed) {
    response.status =
        StatusOf(decision.code != 0 ? decision.code : 403, decision.message);
  } else if (decision.code != 0 || !decision.message.empty()) {
    k8s::Status& status = response.status.emplace();
    status.status = "Success";
    status.code = decision.code != 0 ? decision.code : 200;
    if (!decision.message.empty()) status.message = decision.message;
  }
  if (!decision.warnings.empty()) response.warnings = decision.warnings;
  return review;
}

std::string EncodeResponse(const std::string& uid, const Decision& decision) {
  return DumpJson(ResponseReview(uid, decision).ToJson());
}

std::string ErrorReviewJson(const absl::Status& status) {
  return DumpJson(
      ResponseReview("", Decision::Error("BadRequest", status)).ToJson());
}

std::string DumpJson(const json& j) {
  return j.dump(-1, ' ', /*ensure_ascii=*/false,
                json::error_handler_t::replace);
}

}  // namespace zenlead::webhook
