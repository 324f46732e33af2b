// The operator's in-memory view of every pool's leader, written by the
// TrafficDirector after each leader change and read by the gRPC
// LeaderService (GetLeader, WatchLeader) and the metrics.
//
//   LeaderRegistry registry;
//   registry.Set({.ns = "prod", .pool = "db", .has_leader = true, ...});
//   auto id = registry.Subscribe("prod", "db", [](const PoolLeader& l) {...});
//   registry.Unsubscribe(id);
#ifndef ZEN_LEAD_OPERATOR_LEADERSERVICE_LEADER_REGISTRY_H_
#define ZEN_LEAD_OPERATOR_LEADERSERVICE_LEADER_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace zenlead::op {

struct PoolLeader {
  std::string ns;
  std::string pool;
  bool has_leader = false;
  std::string holder_identity;
  std::string pod_name;
  std::string pod_uid;
  std::string pod_ip;
  // The pool Lease's leaseTransitions.
  int64_t fencing_token = 0;
  absl::Time since = absl::InfinitePast();

  bool operator==(const PoolLeader& o) const {
    return ns == o.ns && pool == o.pool && has_leader == o.has_leader &&
           holder_identity == o.holder_identity && pod_name == o.pod_name &&
           pod_uid == o.pod_uid && pod_ip == o.pod_ip &&
           fencing_token == o.fencing_token && since == o.since;
  }
};

class LeaderRegistry {
 public:
  using Callback = std::function<void(const PoolLeader&)>;

  // Records the pool's leader; subscribers of the pool are called (outside
  // the lock) only when something changed.
  void Set(const PoolLeader& leader) ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets a pool (its LeaderPolicy and sources are gone).
  void Remove(const std::string& ns, const std::string& pool)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<PoolLeader> Get(const std::string& ns,
                                const std::string& pool) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Calls cb on every later change of the pool (a Remove reads as a change to
  // "no leader": PoolLeader{ns, pool} with has_leader false); returns an id
  // for Unsubscribe. Callbacks of all pools run one at a time, in the order
  // of the changes, on the thread that called Set or Remove. cb must not call
  // back into the registry.
  int64_t Subscribe(const std::string& ns, const std::string& pool, Callback cb)
      ABSL_LOCKS_EXCLUDED(mu_);
  // After Unsubscribe returns the callback is not running and never runs
  // again. Not from inside a callback.
  void Unsubscribe(int64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  size_t Size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  using Key = std::pair<std::string, std::string>;
  struct Subscriber {
    Key key;
    Callback cb;
  };
  // Store (under mu_) and notify; shared by Set and Remove.
  void Publish(const Key& key, const std::optional<PoolLeader>& next)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Held by Set/Remove from before the change until its callbacks returned:
  // notifications never overtake each other, and Unsubscribe waits on it for
  // a callback in flight. Taken before mu_, never while holding it.
  absl::Mutex notify_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  std::map<Key, PoolLeader> leaders_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, Subscriber> subscribers_ ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace zenlead::op

#endif  // ZEN_LEAD_OPERATOR_LEADERSERVICE_LEADER_REGISTRY_H_
