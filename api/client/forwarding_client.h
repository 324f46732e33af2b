// A Client that forwards every call to another one: the base for clients
// that change a few calls and pass the rest through (runtime's
// LeaderGuardedClient refuses writes, RecordingClient watches them; tests
// block a write, fail a read, count requests). Options go through
// unchanged, cancellation (ListOptions/WatchOptions::cancel) included, so a
// call through the wrapper stays cancellable.
//
//   class BlockWrites : public ForwardingClient {
//    public:
//     using ForwardingClient::ForwardingClient;
//     absl::StatusOr<nlohmann::json> Patch(...) override {
//       gate_.WaitForNotification();
//       return ForwardingClient::Patch(...);
//     }
//   };
#ifndef ZEN_LEAD_API_CLIENT_FORWARDING_CLIENT_H_
#define ZEN_LEAD_API_CLIENT_FORWARDING_CLIENT_H_

#include "api/client/client.h"

namespace zenlead::client {

class ForwardingClient : public Client {
 public:
  // inner: not owned, must outlive this client.
  explicit ForwardingClient(Client* inner) : inner_(inner) {}

  absl::StatusOr<nlohmann::json> Get(const Resource& r, absl::string_view ns,
                                     absl::string_view name) override {
    return inner_->Get(r, ns, name);
  }
  absl::StatusOr<nlohmann::json> List(const Resource& r, absl::string_view ns,
                                      const ListOptions& options) override {
    return inner_->List(r, ns, options);
  }
  absl::StatusOr<nlohmann::json> Create(const Resource& r, absl::string_view ns,
                                        const nlohmann::json& obj) override {
    return inner_->Create(r, ns, obj);
  }
  absl::StatusOr<nlohmann::json> Update(const Resource& r, absl::string_view ns,
                                        const nlohmann::json& obj) override {
    return inner_->Update(r, ns, obj);
  }
  absl::StatusOr<nlohmann::json> UpdateStatus(
      const Resource& r, absl::string_view ns,
      const nlohmann::json& obj) override {
    return inner_->UpdateStatus(r, ns, obj);
  }
  absl::Status Delete(const Resource& r, absl::string_view ns,
                      absl::string_view name,
                      const DeleteOptions& options) override {
    return inner_->Delete(r, ns, name, options);
  }
  absl::StatusOr<nlohmann::json> Patch(const Resource& r, absl::string_view ns,
                                       absl::string_view name, PatchType type,
                                       const nlohmann::json& patch,
                                       absl::string_view subresource) override {
    return inner_->Patch(r, ns, name, type, patch, subresource);
  }
  absl::StatusOr<nlohmann::json> Apply(
      const Resource& r, absl::string_view ns, absl::string_view name,
      const nlohmann::json& obj, const ApplyOptions& options,
      absl::string_view subresource = "") override {
    return inner_->Apply(r, ns, name, obj, options, subresource);
  }
  absl::Status Watch(const Resource& r, absl::string_view ns,
                     const WatchOptions& options,
                     const WatchHandler& handler) override {
    return inner_->Watch(r, ns, options, handler);
  }

 private:
  Client* const inner_;
};

}  // namespace zenlead::client

#endif  // ZEN_LEAD_API_CLIENT_FORWARDING_CLIENT_H_
