#include "api/runtime/leader_guarded_client.h"

#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "api/runtime/meta.h"

namespace zenlead::runtime {
namespace {

// Marks the refusal, so IsNotLeader does not depend on the message text.
constexpr absl::string_view kNotLeaderPayloadUrl =
    "type.zen-lead.io/leader-guard/not-leader";

std::string NameOf(const nlohmann::json& obj) {
  return MetadataString(obj, "name");
}

}  // namespace

LeaderGuardedClient::LeaderGuardedClient(client::Client* inner,
                                         std::function<bool()> is_leader)
    : ForwardingClient(inner), is_leader_(std::move(is_leader)) {}

absl::Status LeaderGuardedClient::CheckLeading(absl::string_view verb,
                                               const client::Resource& r,
                                               absl::string_view ns,
                                               absl::string_view name) const {
  if (is_leader_()) return absl::OkStatus();
  absl::Status refused = absl::UnavailableError(absl::StrCat(
      verb, " ", r.resource, " ", ns.empty() ? "" : absl::StrCat(ns, "/"), name,
      " refused: this replica is not the leader (it lost or never held the "
      "operator Lease, or its last renewal is older than the renew "
      "deadline); the leader writes instead"));
  refused.SetPayload(kNotLeaderPayloadUrl, absl::Cord("true"));
  return refused;
}

bool IsNotLeader(const absl::Status& status) {
  return status.GetPayload(kNotLeaderPayloadUrl).has_value();
}

absl::StatusOr<nlohmann::json> LeaderGuardedClient::Create(
    const client::Resource& r, absl::string_view ns,
    const nlohmann::json& obj) {
  if (absl::Status s = CheckLeading("create", r, ns, NameOf(obj)); !s.ok()) {
    return s;
  }
  return ForwardingClient::Create(r, ns, obj);
}

absl::StatusOr<nlohmann::json> LeaderGuardedClient::Update(
    const client::Resource& r, absl::string_view ns,
    const nlohmann::json& obj) {
  if (absl::Status s = CheckLeading("update", r, ns, NameOf(obj)); !s.ok()) {
    return s;
  }
  return ForwardingClient::Update(r, ns, obj);
}

absl::StatusOr<nlohmann::json> LeaderGuardedClient::UpdateStatus(
    const client::Resource& r, absl::string_view ns,
    const nlohmann::json& obj) {
  if (absl::Status s = CheckLeading("update status of", r, ns, NameOf(obj));
      !s.ok()) {
    return s;
  }
  return ForwardingClient::UpdateStatus(r, ns, obj);
}

absl::Status LeaderGuardedClient::Delete(const client::Resource& r,
                                         absl::string_view ns,
                                         absl::string_view name,
                                         const client::DeleteOptions& options) {
  if (absl::Status s = CheckLeading("delete", r, ns, name); !s.ok()) return s;
  return ForwardingClient::Delete(r, ns, name, options);
}

absl::StatusOr<nlohmann::json> LeaderGuardedClient::Patch(
    const client::Resource& r, absl::string_view ns, absl::string_view name,
    client::PatchType type, const nlohmann::json& patch,
    absl::string_view subresource) {
  if (absl::Status s = CheckLeading("patch", r, ns, name); !s.ok()) return s;
  return ForwardingClient::Patch(r, ns, name, type, patch, subresource);
}

absl::StatusOr<nlohmann::json> LeaderGuardedClient::Apply(
    const client::Resource& r, absl::string_view ns, absl::string_view name,
    const nlohmann::json& obj, const client::ApplyOptions& options,
    absl::string_view subresource) {
  if (absl::Status s = CheckLeading("apply", r, ns, name); !s.ok()) return s;
  return ForwardingClient::Apply(r, ns, name, obj, options, subresource);
}

}  // namespace zenlead::runtime
