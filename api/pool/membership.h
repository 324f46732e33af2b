// Membership: which pools a pod (or a ReplicaSet or Job on a pod's owner
// chain) belongs to, the one answer every component shares (SPEC §2). A pod
// joins a pool
//   - through its owner chain, followed by UID: Pod -> ReplicaSet ->
//     Deployment, Pod -> StatefulSet, Pod -> Job (-> CronJob), when a
//     workload on it carries the pool label (or its pod template the
//     `zen-lead/pool` + `zen-lead/join: "true"` annotations);
//   - through its own `zen-lead/pool` + `zen-lead/join: "true"` annotations
//     (the pod-template form: no owner lookup at all);
//   - through an enabled Service whose selector matches its labels.
// It needs neither a name nor a UID (a pod at admission has neither yet).
// Owners come from an OwnerIndex (the process's cache); one the cache does
// not have yet (a ReplicaSet created a millisecond before its first pod) is
// read from the API server through an OwnerReader, bounded and cached
// briefly, and never taken as absent.
//
//   OwnerReader reader(client, clock);  // optional; nullptr: cache only
//   PodPools p = PoolsOfPod(pod, "shop", cache, &reader);
//   if (!p.unresolved.ok()) { /* membership unknown: retry, never "none" */ }
//   for (const Membership& m : p.pools) Enqueue(m.pool);
//
// Compiled in membership_test.cc.
#ifndef ZEN_LEAD_API_POOL_MEMBERSHIP_H_
#define ZEN_LEAD_API_POOL_MEMBERSHIP_H_

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/client/client.h"
#include "api/client/clock.h"
#include "api/pool/objects.h"
#include "api/pool/work_item.h"
#include "nlohmann/json.hpp"

namespace zenlead::pool {

// Owner chains are short (Pod -> ReplicaSet -> Deployment, Pod -> Job ->
// CronJob): a longer one is not followed further.
inline constexpr int kMaxOwnerDepth = 4;

// One object on an owner chain, as membership needs it.
struct OwnerNode {
  std::string kind;  // "ReplicaSet", "Deployment", "StatefulSet", "Job", ...
  std::string ns;
  std::string name;
  std::string uid;
  // Its own controller ownerReference, if any: the next link.
  std::optional<OwnerRef> controller;
  // The source it forms (a workload that joins a pool), if any.
  std::optional<Source> source;
};
// The kinds an owner chain is followed through, as ownerReferences[].kind
// names them: where an owner of the kind is read (and watched), and the
// source a workload of the kind forms. The one table of these facts: the
// owner walk, OwnerReader and OwnerNodeOf read it here, and the Cache reads
// it for the informers of these kinds (cache.cc).
struct OwnerKind {
  const char* name;                    // "ReplicaSet", "Deployment", ...
  const client::Resource* resource;    // the generated XClient::Resource()
  std::optional<Source::Kind> source;  // nullopt: a ReplicaSet forms none
};
// The row of `kind`, or nullptr for a kind no owner chain follows.
const OwnerKind* FollowedOwnerKind(absl::string_view kind);

// The node of an object of `kind` (nullopt when it does not parse).
std::optional<OwnerNode> OwnerNodeOf(const std::string& kind,
                                     const nlohmann::json& obj);

// Where owners and Services are looked up: the process's cache.
class OwnerIndex {
 public:
  virtual ~OwnerIndex() = default;
  // The object `ref` names, by kind and UID in `ns`; nullopt when this
  // index does not know it (not cached, or not cached yet).
  virtual std::optional<OwnerNode> Owner(const std::string& ns,
                                         const OwnerRef& ref) const = 0;
  // The enabled Services of `ns` whose selector matches `labels`.
  virtual std::vector<Source> ServicesSelecting(
      const std::string& ns,
      const std::map<std::string, std::string>& labels) const = 0;
};

// Reads owners the cache does not have from the API server: a GET by name
// whose UID must match the reference, remembered for `ttl` (found or not
// found; errors are not remembered), at most `max_entries` remembered.
// Thread-safe.
class OwnerReader {
 public:
  struct Options {
    absl::Duration ttl = absl::Seconds(5);
    size_t max_entries = 4096;
  };
  // client, clock: not owned; clock nullptr: RealClock().
  OwnerReader(client::Client* client, client::Clock* clock, Options options);
  OwnerReader(client::Client* client, client::Clock* clock)
      : OwnerReader(client, clock, Options()) {}

  // The owner, nullopt when it does not exist (or has another UID: the
  // name was reused), or an error (the API server could not say).
  absl::StatusOr<std::optional<OwnerNode>> Read(const std::string& ns,
                                                const OwnerRef& ref);
  // API reads made so far (cache misses).
  int64_t reads() const;

 private:
  struct Entry {
    std::optional<OwnerNode> node;
    absl::Time expires;
  };
  client::Client* const client_;
  client::Clock* const clock_;
  const Options options_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  int64_t reads_ ABSL_GUARDED_BY(mu_) = 0;
};

// One way an object belongs to a pool: the pool and the source that makes
// it a member (a Deployment, StatefulSet, Job, CronJob or Service).
struct Membership {
  PoolKey pool;
  Source source;
};

struct PodPools {
  // Sorted by pool, then source kind and UID; no duplicates.
  std::vector<Membership> pools;
  // Set when the owner chain leads back to an object already on it: the
  // object whose controller reference closes the loop, and that reference.
  // The chain is not followed past it.
  std::optional<OwnerNode> cycle_at;
  OwnerRef cycle_owner;
  // Not OK when an owner could not be looked up (not cached, and the
  // OwnerReader failed or there is none with `require_owners`): membership
  // through that owner is unknown, not absent.
  absl::Status unresolved;

  // The distinct pools, in order.
  std::vector<PoolKey> Keys() const;
  // The distinct pools reached through a source of these kinds only.
  std::vector<PoolKey> KeysVia(std::initializer_list<Source::Kind> kinds) const;
};

struct MembershipOptions {
  // An owner neither the index nor a reader knows: true reports it in
  // `unresolved` (admission must not guess); false takes the chain as ending
  // there (a controller, whose owner's own event brings the pods back).
  bool require_owners = false;
};

// The pools of a pod. ns: the pod's namespace (an admission request carries
// it beside the object; "" reads metadata.namespace). reader: optional.
PodPools PoolsOfPod(const nlohmann::json& pod, const std::string& ns,
                    const OwnerIndex& index, OwnerReader* reader,
                    const MembershipOptions& options = {});
// The pools an owner (a ReplicaSet, Job, ...) brings its pods into: its own
// source, and those up its owner chain.
PodPools PoolsOfOwner(const OwnerNode& start, const OwnerIndex& index,
                      OwnerReader* reader,
                      const MembershipOptions& options = {});

}  // namespace zenlead::pool

#endif  // ZEN_LEAD_API_POOL_MEMBERSHIP_H_
