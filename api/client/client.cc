#include "api/client/client.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/client/status_macros.h"

namespace zenlead::client {

void Cancellation::Cancel() {
  absl::MutexLock lock(&mu_);
  if (cancelled_.exchange(true, std::memory_order_acq_rel)) return;
  // Under the lock: RemoveCallback waits for this, so a transport never
  // frees what a callback is still waking.
  for (auto& [id, callback] : callbacks_) callback();
  callbacks_.clear();
}

Cancellation::CallbackId Cancellation::AddCallback(
    std::function<void()> callback) {
  {
    absl::MutexLock lock(&mu_);
    if (!cancelled()) {
      const CallbackId id = next_id_++;
      callbacks_.emplace_back(id, std::move(callback));
      return id;
    }
  }
  callback();
  return 0;
}

void Cancellation::RemoveCallback(CallbackId id) {
  absl::MutexLock lock(&mu_);
  auto it = std::find_if(callbacks_.begin(), callbacks_.end(),
                         [id](const auto& entry) { return entry.first == id; });
  if (it != callbacks_.end()) callbacks_.erase(it);
}

absl::StatusOr<nlohmann::json> ListPages(
    Client& client, const Resource& r, absl::string_view ns,
    ListOptions options,
    const std::function<absl::Status(nlohmann::json& page)>& on_page) {
  for (;;) {
    if (CancelRequested(options.cancel.get())) {
      return absl::CancelledError(
          absl::StrCat("list ", r.resource, ": cancelled"));
    }
    ASSIGN_OR_RETURN(nlohmann::json page, client.List(r, ns, options));
    if (!page.is_object()) {
      return absl::InternalError(
          absl::StrCat("list ", r.resource, ": the response is not an object"));
    }
    RETURN_IF_ERROR(on_page(page));
    std::string next;
    auto metadata = page.find("metadata");
    if (metadata != page.end() && metadata->is_object()) {
      auto token = metadata->find("continue");
      if (token != metadata->end() && token->is_string()) {
        next = token->get<std::string>();
      }
    }
    if (next.empty() || options.limit <= 0) return page;
    if (next == options.continue_token) {
      return absl::InternalError(absl::StrCat(
          "list ", r.resource,
          ": the API server returned the same continue token twice"));
    }
    options.continue_token = std::move(next);
    // The continue token pins the version; the API server rejects both.
    options.resource_version.clear();
  }
}

absl::StatusOr<nlohmann::json> ListAll(Client& client, const Resource& r,
                                       absl::string_view ns,
                                       ListOptions options) {
  nlohmann::json items = nlohmann::json::array();
  ASSIGN_OR_RETURN(
      nlohmann::json last,
      ListPages(client, r, ns, std::move(options),
                [&items](nlohmann::json& page) {
                  auto page_items = page.find("items");
                  if (page_items != page.end() && page_items->is_array()) {
                    for (nlohmann::json& item : *page_items) {
                      items.push_back(std::move(item));
                    }
                  }
                  return absl::OkStatus();
                }));
  last["items"] = std::move(items);
  return last;
}

}  // namespace zenlead::client
