// What the typed clients that codegen generates (e.g. LeaderPolicyClient in
// api/types/leaderpolicy.h) share: decoding the API server's JSON answers
// into generated types, filling in apiVersion/kind, and typed watches. Only
// generated code should need this header.
//
//   absl::StatusOr<Pod> pod = openapi::DecodeAnswer<Pod>(
//       client.Get(resource, "ns", "web-0"));
//   nlohmann::json body = openapi::WithTypeMeta(pod->ToJson(), "v1", "Pod");
#ifndef ZEN_LEAD_CODEGEN_RUNTIME_TYPED_CLIENT_H_
#define ZEN_LEAD_CODEGEN_RUNTIME_TYPED_CLIENT_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "api/client/client.h"
#include "api/client/errors.h"
#include "codegen/runtime/openapi.h"
#include "nlohmann/json.hpp"

namespace zenlead::openapi {

// An error from the API server passes through unchanged (so IsNotFound and
// friends still work); an answer that does not decode into T is an
// InternalError naming the field: "decoding the API server's LeaderPolicy:
// spec.leaseDurationSeconds: expected integer, got string".
template <typename T>
absl::StatusOr<T> DecodeAnswer(const absl::StatusOr<nlohmann::json>& answer,
                               absl::string_view type_name) {
  if (!answer.ok()) return answer.status();
  T value{};
  absl::Status status = DecodeJson(*answer, "", value);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("decoding the API server's ",
                                            type_name, ": ", status.message()));
  }
  return value;
}

// `object` with apiVersion and kind set, as create, update and apply need.
nlohmann::json WithTypeMeta(nlohmann::json object,
                            absl::string_view api_version,
                            absl::string_view kind);

// metadata.name of `object`; InvalidArgumentError "<verb> <kind>: ..." when
// it has none.
absl::StatusOr<std::string> NameOf(const nlohmann::json& object,
                                   absl::string_view verb,
                                   absl::string_view kind);

// Client::Watch with each event's object decoded into Event::object (Event
// has `type` and `object`). An ERROR event ends the watch with its status
// (client::IsGone: relist); an object that does not decode ends it with an
// InternalError; otherwise as Client::Watch.
template <typename Event>
absl::Status TypedWatch(client::Client& client, const client::Resource& r,
                        absl::string_view ns,
                        const client::WatchOptions& options,
                        absl::string_view type_name,
                        const std::function<bool(const Event&)>& handler) {
  absl::Status stopped;
  absl::Status status =
      client.Watch(r, ns, options, [&](const client::WatchEvent& event) {
        if (event.type == client::WatchEvent::Type::kError) {
          stopped = client::StatusFromKubernetesStatus(event.object);
          return false;
        }
        Event typed;
        typed.type = event.type;
        absl::Status decoded = DecodeJson(event.object, "", typed.object);
        if (!decoded.ok()) {
          stopped = absl::InternalError(absl::StrCat(
              "decoding a watched ", type_name, ": ", decoded.message()));
          return false;
        }
        return handler(typed);
      });
  if (!status.ok()) return status;
  return stopped;
}

}  // namespace zenlead::openapi

#endif  // ZEN_LEAD_CODEGEN_RUNTIME_TYPED_CLIENT_H_
