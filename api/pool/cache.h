// The process's one cache of what the pool model reads (controller-runtime's
// cluster cache): each resource is listed and watched once, with its
// indexes, and shared by every controller and the webhook. Informers are
// made on first use, before Start, so a process caches only what its
// components read (the TrafficDirector never asks for Jobs). The cache
// reaches a component only through the handlers it registers; index names
// and keys live here, not in a controller.
//
// Objects are cached as projections (only the fields zen-lead reads) in
// serialized form (a fifth of the memory of parsed objects, for a decode of
// a few microseconds per read: docs/operator.md, At scale), and read as
// typed views: Sources, Candidates and OwnerNodes (objects.h,
// membership.h), parsed through the generated types.
//
//   Cache cache(CacheDeps{.watch_client = client.get()}, CacheOptions{});
//   ASSIGN_OR_RETURN(runtime::Informer* pods, cache.Use(CacheKind::kPods));
//   pods->AddEventHandler(handler);       // before Start
//   RETURN_IF_ERROR(cache.Start());       // lists and watches
//   ... cache.HasSynced() ...
//   PodPools p = PoolsOfPod(pod, "", cache, nullptr);
//   std::vector<Source> sources = cache.SourcesOf(PoolKey{"shop", "db"});
//   cache.Stop();
//
// Compiled in cache_e2e_test.cc.
#ifndef ZEN_LEAD_API_POOL_CACHE_H_
#define ZEN_LEAD_API_POOL_CACHE_H_

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/client/client.h"
#include "api/client/clock.h"
#include "api/pool/membership.h"
#include "api/pool/objects.h"
#include "api/pool/work_item.h"
#include "api/runtime/informer.h"
#include "api/runtime/store.h"

namespace zenlead::pool {

enum class CacheKind {
  kPolicies,
  kDeployments,
  kStatefulSets,
  kReplicaSets,
  kJobs,
  kCronJobs,
  kServices,
  kPods,
  // zen-lead's own EndpointSlices and pool Leases (by their labels).
  kSlices,
  kLeases,
  // Every other Lease (not labelled as zen-lead's), outside
  // kube-node-lease (a node's heartbeat is never a pool's name): what the
  // webhook checks a new pool's name against without an API call. Only
  // the webhook uses it.
  kOtherLeases,
};
inline constexpr int kCacheKinds = 11;

// Index names, and the keys they map an object to. UIDs are indexed with
// the namespace ("ns/uid"): ownerReferences and annotations are written by
// users too, and an object must never be matched to a UID of another
// namespace.
//   kByPool: "ns/pool" of a source, of a leader Service, slice or Lease.
//   kByOwner: "ns/uid" of the controller owner (ReplicaSets, Jobs, pods).
//   kByUid: "ns/uid" of metadata.uid (workloads, ReplicaSets, Jobs, pods).
//   kByHolder: "ns/uid" of a pool Lease's holder pod.
//   kByLabel: "ns/key=value" of each pod label.
//   kBySelector: "ns/key=value" of each pair of an enabled Service's
//     selector. Label selectors cannot be indexed in general, but equality
//     selectors can be narrowed: matching a pod to its Services (or a
//     Service to its pods) looks at the few objects that share a pair, not
//     at every object of the namespace (at 1,000 pools, the difference
//     between microseconds and seconds per event).
//   kByLeaderName: "ns/name" of a source's leader Service: sources that
//     would write the same one.
inline constexpr char kByPool[] = "pool";
inline constexpr char kByOwner[] = "owner";
inline constexpr char kByUid[] = "uid";
inline constexpr char kByHolder[] = "holder";
inline constexpr char kByLabel[] = "label";
inline constexpr char kBySelector[] = "selector";
inline constexpr char kByLeaderName[] = "leader";

std::string UidKey(const std::string& ns, const std::string& uid);
std::string LabelKey(const std::string& ns, const std::string& key,
                     const std::string& value);
std::string NameKey(const std::string& ns, const std::string& name);

// The pool keys an object of `kind` is indexed under (kByPool): what a
// change to it wakes.
std::vector<std::string> PoolsIndexedFor(CacheKind kind,
                                         const nlohmann::json& obj);

struct CacheDeps {
  // Lists and watches; shared by every informer (each cancels its own
  // calls). Not owned.
  client::Client* watch_client = nullptr;
  // nullptr: RealClock().
  client::Clock* clock = nullptr;
  // nullptr: DefaultLogger().
  const runtime::Logger* logger = nullptr;
};

struct CacheOptions {
  // "" caches every namespace.
  std::string ns;
  // Small pages: the informers list in parallel, and each page is held
  // whole (unprojected) while it is parsed; at 500 objects a page the
  // start-up peak, which the allocator keeps afterwards, was the largest
  // part of the operator's memory at 1,000 pools.
  int64_t page_size = 100;
};

class Cache : public OwnerIndex {
 public:
  Cache(CacheDeps deps, CacheOptions options);
  ~Cache() override;

  // The informer of `kind`, made with its indexes on first use. Before
  // Start only (FailedPrecondition after, unless already in use).
  absl::StatusOr<runtime::Informer*> Use(CacheKind kind);
  // The informer of `kind`, or nullptr when nothing uses it.
  runtime::Informer* Get(CacheKind kind) const;

  // Starts the informers in use. Idempotent.
  absl::Status Start();
  // True once every informer in use delivered its initial list.
  bool HasSynced() const;
  // For /healthz: every informer in use delivers events (see
  // Informer::Healthy).
  absl::Status Healthy(absl::Duration wedged_after) const;
  void Stop();

  // Reads (nullptr / empty when the kind is not in use).
  runtime::ObjectPtr Object(CacheKind kind, const std::string& ns,
                            const std::string& name) const;
  runtime::ObjectPtr ByUid(CacheKind kind, const std::string& ns,
                           const std::string& uid) const;
  // The Lease `name` of `ns` whoever manages it: zen-lead's (kLeases), else
  // any other (kOtherLeases); nullptr when neither kind in use holds it.
  runtime::ObjectPtr LeaseNamed(const std::string& ns,
                                const std::string& name) const;
  std::vector<runtime::ObjectPtr> ByIndex(CacheKind kind,
                                          const std::string& index,
                                          const std::string& key) const;
  std::vector<runtime::ObjectPtr> List(CacheKind kind) const;

  // The sources of a pool (Deployments, StatefulSets, Services, and Jobs
  // and CronJobs when cached), sorted by name and UID.
  std::vector<Source> SourcesOf(const PoolKey& pool) const;
  // The pods of a source, through the inverse owner index (no scan):
  // a Deployment's ReplicaSets' pods, a StatefulSet's, a Job's, a
  // CronJob's Jobs' pods, or the pods a Service's selector matches.
  std::vector<runtime::ObjectPtr> PodsOf(const Source& source) const;

  // OwnerIndex.
  std::optional<OwnerNode> Owner(const std::string& ns,
                                 const OwnerRef& ref) const override;
  std::vector<Source> ServicesSelecting(
      const std::string& ns,
      const std::map<std::string, std::string>& labels) const override;

 private:
  CacheDeps deps_;
  const CacheOptions options_;
  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  // Written only before Start (under mu_), read without it after.
  std::array<std::unique_ptr<runtime::Informer>, kCacheKinds> informers_;
};

}  // namespace zenlead::pool

#endif  // ZEN_LEAD_API_POOL_CACHE_H_
