// The watch events of a controller's own writes ("echoes"), told apart from
// news. A write's response carries the object's new resourceVersion, and
// the watch event of that write carries the same one: OwnWrites remembers
// the versions its RecordingClient wrote, and OnEvent runs the event's
// reaction (queue a reconcile) only when the event's object is not exactly
// what this process wrote. A controller that decided the write has nothing
// to learn from its echo: on a failover, the echoes of the slice, Lease,
// leader Service and status writes would otherwise keep the pool's key busy
// when the next loss arrives.
//
//   OwnWrites own;
//   RecordingClient writer(client, &own);
//   absl::StatusOr<nlohmann::json> written =
//       writer.Patch(kSlices, "ns", "db-leader", PatchType::kMerge, patch, "");
//   // in the informer's on_update, with the event's new object:
//   own.OnEvent(kSlices, updated, [&] { queue.Add("ns/db"); });
//
// The watch often delivers the echo before the write's response has been
// read. While a write of that object is in flight, OnEvent therefore holds
// the reaction, and the write's end decides: the version it wrote drops it,
// any other version (someone else's change) runs it then, as does a failed
// write. Held reactions run on the writer's thread, at most one round trip
// late.
//
// Only versions are compared, never content: an event whose object someone
// else changed after (or instead of) this write has another version and is
// news. Memory is one entry per object written whose echo has not come yet
// (a write that changed nothing produces no event and leaves its entry until
// the object's next write); above `capacity` entries the oldest idle half
// goes (a forgotten echo costs one reconcile, never a missed change).
//
// Compiled in header_examples_test.cc.
#ifndef ZEN_LEAD_API_RUNTIME_OWN_WRITES_H_
#define ZEN_LEAD_API_RUNTIME_OWN_WRITES_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "api/client/client.h"
#include "api/client/forwarding_client.h"
#include "nlohmann/json.hpp"

namespace zenlead::runtime {

class OwnWrites {
 public:
  explicit OwnWrites(size_t capacity = 1024);

  // A write of object ns/name of `r` starts (ns is ignored for
  // cluster-scoped resources; a write with no name is not tracked). Every
  // BeginWrite is followed by one EndWrite with the same arguments.
  void BeginWrite(const client::Resource& r, absl::string_view ns,
                  absl::string_view name);
  // The write ended: `written` is its response (the object), or its error.
  // Runs the reactions held for this object that are not its echo.
  void EndWrite(const client::Resource& r, absl::string_view ns,
                absl::string_view name,
                const absl::StatusOr<nlohmann::json>& written);
  // Runs `news` unless `obj` (from a watch event) is the echo of a write
  // through this OwnWrites: now, or when the write in flight for it ends.
  // An echo is used up, so a later event of the same version (a relist) is
  // news again.
  void OnEvent(const client::Resource& r, const nlohmann::json& obj,
               std::function<void()> news);
  // Objects with writes in flight, unseen echoes or held reactions.
  size_t size() const;

 private:
  struct Entry {
    int in_flight = 0;
    // Versions written whose echo has not come (a few at most).
    std::vector<std::string> versions;
    // Reactions held while a write is in flight, by the event's version.
    std::vector<std::pair<std::string, std::function<void()>>> held;
    uint64_t seq = 0;  // last touched
  };
  // Remembers `version` for `key`; mu_ held.
  void AddVersion(const std::string& key, std::string version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Trim() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t capacity_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
};

// A Client that tells `own` about every update, patch and apply: its start
// and its response. Creates, reads, watches and deletes pass through (an
// informer delivers a create as an add: a controller reacts to it).
// inner and own must outlive it.
class RecordingClient : public client::ForwardingClient {
 public:
  RecordingClient(client::Client* inner, OwnWrites* own);

  absl::StatusOr<nlohmann::json> Update(const client::Resource& r,
                                        absl::string_view ns,
                                        const nlohmann::json& obj) override;
  absl::StatusOr<nlohmann::json> UpdateStatus(
      const client::Resource& r, absl::string_view ns,
      const nlohmann::json& obj) override;
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
  // Runs `write` between BeginWrite and EndWrite of ns/name.
  absl::StatusOr<nlohmann::json> Tracked(
      const client::Resource& r, absl::string_view ns, absl::string_view name,
      const std::function<absl::StatusOr<nlohmann::json>()>& write);

  OwnWrites* const own_;
};

}  // namespace zenlead::runtime

#endif  // ZEN_LEAD_API_RUNTIME_OWN_WRITES_H_
