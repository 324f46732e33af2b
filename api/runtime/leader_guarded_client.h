// A Client that writes only while this replica leads: every write asks
// `is_leader` right before it goes out and is refused when the answer is
// no, so a worker that is still finishing a reconcile after the replica lost
// its Lease cannot write over the new leader. Reads and watches pass
// through (standbys keep their caches warm).
//
// Refused writes return UnavailableError (retrying may succeed once this
// replica leads again) whose message names the verb, the object and why;
// IsNotLeader tells them apart from API errors.
//
//   LeaderGuardedClient writer(client.get(),
//                              [&] { return elector->IsLeader(); });
//   absl::StatusOr<nlohmann::json> applied =
//       writer.Apply(kServices, "ns", "db-leader", service, apply);
//   if (IsNotLeader(applied.status())) return;  // the new leader takes over
//
// Compiled in header_examples_test.cc.
#ifndef ZEN_LEAD_API_RUNTIME_LEADER_GUARDED_CLIENT_H_
#define ZEN_LEAD_API_RUNTIME_LEADER_GUARDED_CLIENT_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/client/client.h"
#include "api/client/forwarding_client.h"
#include "nlohmann/json.hpp"

namespace zenlead::runtime {

class LeaderGuardedClient : public client::ForwardingClient {
 public:
  // inner must outlive this client; is_leader must be thread-safe and quick
  // (LeaderElector::IsLeader is: one lock, time-bounded).
  LeaderGuardedClient(client::Client* inner, std::function<bool()> is_leader);

  // Reads and watches are ForwardingClient's: they pass through.
  absl::StatusOr<nlohmann::json> Create(const client::Resource& r,
                                        absl::string_view ns,
                                        const nlohmann::json& obj) override;
  absl::StatusOr<nlohmann::json> Update(const client::Resource& r,
                                        absl::string_view ns,
                                        const nlohmann::json& obj) override;
  absl::StatusOr<nlohmann::json> UpdateStatus(
      const client::Resource& r, absl::string_view ns,
      const nlohmann::json& obj) override;
  absl::Status Delete(const client::Resource& r, absl::string_view ns,
                      absl::string_view name,
                      const client::DeleteOptions& options) override;
  absl::StatusOr<nlohmann::json> Patch(const client::Resource& r,
                                       absl::string_view ns,
                                       absl::string_view name,
                                       client::PatchType type,
                                       const nlohmann::json& patch,
                                       absl::string_view subresource) override;
  absl::StatusOr<nlohmann::json> Apply(
      const client::Resource& r, absl::string_view ns, absl::string_view name,
      const nlohmann::json& obj, const client::ApplyOptions& options,
      absl::string_view subresource = "") override;

 private:
  // OkStatus while leading, else the refusal for `verb` on the object.
  absl::Status CheckLeading(absl::string_view verb, const client::Resource& r,
                            absl::string_view ns, absl::string_view name) const;

  const std::function<bool()> is_leader_;
};

// A write LeaderGuardedClient refused because this replica does not lead.
bool IsNotLeader(const absl::Status& status);

}  // namespace zenlead::runtime

#endif  // ZEN_LEAD_API_RUNTIME_LEADER_GUARDED_CLIENT_H_
