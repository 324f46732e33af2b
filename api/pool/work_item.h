// Typed keys for the work of a pool: which pool (PoolKey) and what to do
// with it (WorkItem). A work queue holds strings; Encode and Decode are the
// one place that turns one into the other, so no controller parses a key by
// hand, and a key that does not decode gets one answer everywhere.
//
//   WorkItem renew{WorkItem::Kind::kRenew, PoolKey{"shop", "db"}};
//   queue.AddAfter(renew.Encode(), absl::Seconds(5));   // "renew:shop/db"
//   absl::StatusOr<WorkItem> item = WorkItem::Decode(*queue.Get());
//   if (!item.ok()) { /* log, forget the key */ }
//   if (item->kind == WorkItem::Kind::kRenew) Renew(item->pool);
#ifndef ZEN_LEAD_API_POOL_WORK_ITEM_H_
#define ZEN_LEAD_API_POOL_WORK_ITEM_H_

#include <string>
#include <tuple>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace zenlead::pool {

// A pool: the namespace and name of its LeaderPolicy (also when the policy
// does not exist and the pool runs on the defaults).
struct PoolKey {
  std::string ns;
  std::string name;

  // "ns/name", the form logs and informer indexes use.
  std::string String() const;
  // The inverse of String(). A namespace holds no '/', so the first '/'
  // separates; the name may hold anything (a pool named by a Service
  // annotation is checked later, where it is used).
  static absl::StatusOr<PoolKey> Parse(absl::string_view text);

  friend bool operator==(const PoolKey& a, const PoolKey& b) {
    return a.ns == b.ns && a.name == b.name;
  }
  friend bool operator<(const PoolKey& a, const PoolKey& b) {
    return std::tie(a.ns, a.name) < std::tie(b.ns, b.name);
  }
};

// One unit of a controller's work on a pool.
struct WorkItem {
  enum class Kind {
    // Route the pool: elect its leader and write its EndpointSlices (the
    // failover), then queue kPublish.
    kReconcile,
    // Publish the leader the slices route to: the pool Lease (fencing
    // token), the leader Services' annotations, Events, the registry, the
    // status. Its own key, so a failover never waits behind these writes.
    kPublish,
    kRenew,  // only renew the pool Lease of a leader that can still lead
  };
  Kind kind = Kind::kReconcile;
  PoolKey pool;

  // The work-queue key: "ns/name" for a reconcile, "publish:ns/name" and
  // "renew:ns/name" for the others (':' cannot appear in a namespace, so
  // they never collide).
  std::string Encode() const;
  static absl::StatusOr<WorkItem> Decode(absl::string_view key);

  friend bool operator==(const WorkItem& a, const WorkItem& b) {
    return a.kind == b.kind && a.pool == b.pool;
  }
};

}  // namespace zenlead::pool

#endif  // ZEN_LEAD_API_POOL_WORK_ITEM_H_
