#include "operator/trafficdirector/traffic_director.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/client/errors.h"
#include "api/pool/cache.h"
#include "api/pool/election.h"
#include "api/pool/guard_lease.h"
#include "api/pool/membership.h"
#include "api/pool/pool_lease.h"
#include "api/pool/service_settings.h"
#include "api/pool/work_item.h"
#include "api/types/deployment.h"
#include "api/types/endpointslice.h"
#include "api/types/leaderpolicy.h"
#include "api/types/lease.h"
#include "api/types/service.h"
#include "api/types/statefulset.h"
#include "api/validation/names.h"

namespace zenlead::op {
namespace {

namespace k8s = zenlead::k8s;
using nlohmann::json;
using runtime::ObjectPtr;

using pool::kByHolder;
using pool::kByLeaderName;
using pool::kByPool;
using pool::kByUid;
using pool::UidKey;

constexpr size_t kMaxCyclesRemembered = 10000;

std::string PoolKey(const std::string& ns, const std::string& pool) {
  return pool::NameKey(ns, pool);
}

// How long a change of status.candidates alone waits to be written.
constexpr absl::Duration kCandidatesDebounce = absl::Seconds(2);
// The work-queue key of a pool's Lease renewal.
std::string RenewKey(const pool::PoolKey& key) {
  return pool::WorkItem{pool::WorkItem::Kind::kRenew, key}.Encode();
}

std::string Meta(const json& obj, const char* field) {
  return runtime::MetadataString(obj, field);
}

bool PodIdentical(const ObjectPtr& a, const ObjectPtr& b) {
  return a && b && *a == *b;
}

std::optional<k8s::EndpointSlice> ParseSlice(const json& slice) {
  absl::StatusOr<k8s::EndpointSlice> parsed =
      k8s::EndpointSlice::FromJson(slice);
  if (!parsed.ok()) return std::nullopt;
  return std::move(*parsed);
}

// The pod UID of a cached slice's endpoint ("" when none).
std::string SliceEndpointUid(const json& slice) {
  std::optional<k8s::EndpointSlice> typed = ParseSlice(slice);
  if (!typed || !typed->endpoints || typed->endpoints->empty() ||
      !typed->endpoints->front().target_ref) {
    return "";
  }
  return typed->endpoints->front().target_ref->uid.value_or("");
}

}  // namespace

// The informers of the shared cache this controller reads (not owned).
struct TrafficDirector::Informers {
  runtime::Informer* policies = nullptr;
  runtime::Informer* deployments = nullptr;
  runtime::Informer* statefulsets = nullptr;
  runtime::Informer* replicasets = nullptr;
  runtime::Informer* services = nullptr;
  runtime::Informer* pods = nullptr;
  runtime::Informer* slices = nullptr;
  runtime::Informer* leases = nullptr;

  std::vector<runtime::Informer*> All() const {
    return {policies, deployments, statefulsets, replicasets,
            services, pods,        slices,       leases};
  }
};

TrafficDirector::TrafficDirector(TrafficDirectorDeps deps,
                                 TrafficDirectorOptions options)
    : deps_(std::move(deps)),
      options_(std::move(options)),
      recording_writer_(deps_.writer, &own_writes_),
      recording_failover_writer_(deps_.failover_writer != nullptr
                                     ? deps_.failover_writer
                                     : deps_.writer,
                                 &own_writes_),
      writer_(&recording_writer_, &recording_failover_writer_),
      clock_(deps_.clock != nullptr ? deps_.clock : client::RealClock()),
      log_(runtime::DefaultLogger().With({{"controller", "trafficdirector"}})) {
  if (deps_.failover_writer == nullptr) deps_.failover_writer = deps_.writer;
  if (deps_.metrics != nullptr) {
    runtime::Registry& m = *deps_.metrics;
    auto take = [](auto s) { return s.ok() ? *s : nullptr; };
    leader_changes_ =
        take(m.AddCounter("zen_lead_leader_changes_total",
                          "Leader changes per pool.", {"namespace", "pool"}));
    failover_latency_ = take(m.AddHistogram(
        "zen_lead_failover_latency_seconds",
        "From the leader's loss observed (the pod event) to the "
        "EndpointSlice write with the new leader sent: zen-lead's own part "
        "of a failover (the API server's round trip comes on top).",
        // Finer than LatencyBuckets below 5 ms: the target is 2 ms.
        {},
        {0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1,
         0.25, 0.5, 1, 2.5, 5, 10}));
    pools_gauge_ =
        take(m.AddGauge("zen_lead_pools", "Pools the operator manages.", {}));
    candidates_gauge_ =
        take(m.AddGauge("zen_lead_candidates", "Ready candidate pods per pool.",
                        {"namespace", "pool"}));
    reconcile_duration_ = take(m.AddHistogram(
        "zen_lead_reconcile_duration_seconds", "Duration of one reconcile.",
        {"result"}, runtime::LatencyBuckets()));
    reconcile_errors_ = take(m.AddCounter("zen_lead_reconcile_errors_total",
                                          "Reconciles that failed.", {}));
    renewal_lateness_ = take(m.AddHistogram(
        "zen_lead_lease_renewal_lateness_seconds",
        "How long after it was due a pool Lease renewal was written. Above "
        "renewDeadlineSeconds, readers saw the Lease expire: the API server "
        "cannot absorb the renewals of this many pools (raise "
        "leaseDurationSeconds and renewDeadlineSeconds, or give it more "
        "capacity).",
        {}, {0.01, 0.1, 0.5, 1, 2, 5, 10, 20, 30, 60}));
  }
}

TrafficDirector::~TrafficDirector() { Stop(); }

absl::Status TrafficDirector::Start() {
  if (informers_ != nullptr) return absl::OkStatus();
  if (deps_.writer == nullptr || deps_.registry == nullptr ||
      deps_.cache == nullptr) {
    return absl::InvalidArgumentError(
        "TrafficDirector needs a writer client, the shared cache and a "
        "leader registry");
  }
  pool::Cache& cache = *deps_.cache;
  auto informers = std::make_unique<Informers>();
  absl::Status s;
  auto use = [&](pool::CacheKind kind) -> runtime::Informer* {
    absl::StatusOr<runtime::Informer*> i = cache.Use(kind);
    s.Update(i.status());
    return i.ok() ? *i : nullptr;
  };
  informers->policies = use(pool::CacheKind::kPolicies);
  informers->deployments = use(pool::CacheKind::kDeployments);
  informers->statefulsets = use(pool::CacheKind::kStatefulSets);
  informers->replicasets = use(pool::CacheKind::kReplicaSets);
  informers->services = use(pool::CacheKind::kServices);
  informers->pods = use(pool::CacheKind::kPods);
  informers->slices = use(pool::CacheKind::kSlices);
  informers->leases = use(pool::CacheKind::kLeases);
  if (!s.ok()) return s;
  auto pools_of = [](pool::CacheKind kind) -> runtime::IndexFunc {
    return [kind](const json& o) { return pool::PoolsIndexedFor(kind, o); };
  };
  const runtime::IndexFunc managed_pool = pools_of(pool::CacheKind::kLeases);

  // Events only say which pool to look at; the echo of zen-lead's own
  // write says nothing new (the reconcile that wrote it decided from it).
  // Sources, Services and slices also wake the pools of their namesakes
  // (sources whose leader Service has the same name): a name collision, or
  // a user's Service in the way, resolves when one of them goes.
  auto pool_of_object = [this](const client::Resource& resource,
                               const runtime::IndexFunc& pools,
                               bool namesakes = false) {
    auto keys = [this, pools, namesakes](const json& o) {
      std::vector<std::string> out = pools(o);
      if (namesakes) {
        for (std::string& k : PoolsSharingLeaderName(o)) {
          out.push_back(std::move(k));
        }
      }
      return out;
    };
    runtime::EventHandler h;
    h.on_add = [this, keys](const ObjectPtr& o) {
      for (const std::string& k : keys(*o)) Enqueue(k);
    };
    h.on_update = [this, keys, resource](const ObjectPtr& a,
                                         const ObjectPtr& b) {
      own_writes_.OnEvent(resource, *b, [this, keys, a, b] {
        std::set<std::string> all;
        for (std::string& k : keys(*a)) all.insert(std::move(k));
        for (std::string& k : keys(*b)) all.insert(std::move(k));
        for (const std::string& k : all) Enqueue(k);
      });
    };
    h.on_delete = [this, keys](const ObjectPtr& o, bool) {
      for (const std::string& k : keys(*o)) Enqueue(k);
    };
    return h;
  };
  auto policy_pool = [](const json& o) -> std::vector<std::string> {
    return {PoolKey(Meta(o, "namespace"), Meta(o, "name"))};
  };
  s.Update(informers->policies->AddEventHandler(pool_of_object(
      api::v1alpha1::LeaderPolicyClient::Resource(), policy_pool)));
  s.Update(informers->deployments->AddEventHandler(
      pool_of_object(k8s::DeploymentClient::Resource(),
                     pools_of(pool::CacheKind::kDeployments), true)));
  s.Update(informers->statefulsets->AddEventHandler(
      pool_of_object(k8s::StatefulSetClient::Resource(),
                     pools_of(pool::CacheKind::kStatefulSets), true)));
  s.Update(informers->services->AddEventHandler(
      pool_of_object(k8s::ServiceClient::Resource(),
                     pools_of(pool::CacheKind::kServices), true)));
  // A slice frees its name (its leader Service's) only when it goes, which
  // may be after the Service: the namesakes waiting for the name wake then.
  s.Update(informers->slices->AddEventHandler(pool_of_object(
      k8s::EndpointSliceClient::Resource(), managed_pool, true)));
  runtime::EventHandler leases;
  leases.on_add = [this, managed_pool](const ObjectPtr& o) {
    for (const std::string& k : managed_pool(*o)) {
      Enqueue(k);
      MirrorLease(k);
    }
  };
  leases.on_update = [this, managed_pool](const ObjectPtr& a,
                                          const ObjectPtr& b) {
    // A renewal says nothing new about the pool; at 1,000 pools renewing
    // every few seconds, reconciling on each one would double the routine
    // work. A holder change this operator wrote is mirrored, not
    // reconciled.
    const client::Resource& lease = k8s::LeaseClient::Resource();
    if (pool::LeaseOnlyRenewed(*a, *b)) {
      own_writes_.OnEvent(lease, *b, [] {});  // uses the echo up
      return;
    }
    std::set<std::string> keys;
    for (const std::string& k : managed_pool(*a)) keys.insert(k);
    for (const std::string& k : managed_pool(*b)) keys.insert(k);
    for (const std::string& k : keys) MirrorLease(k);
    own_writes_.OnEvent(lease, *b, [this, keys] {
      for (const std::string& k : keys) Enqueue(k);
    });
  };
  leases.on_delete = [this, managed_pool](const ObjectPtr& o, bool) {
    for (const std::string& k : managed_pool(*o)) {
      Enqueue(k);
      MirrorLease(k);
    }
  };
  s.Update(informers->leases->AddEventHandler(leases));
  // A new ReplicaSet of a pool's Deployment brings its pods.
  runtime::EventHandler rs;
  auto rs_pools = [this](const ObjectPtr& o) {
    for (const std::string& k : PoolsOf(*o, "ReplicaSet")) Enqueue(k);
  };
  rs.on_add = rs_pools;
  rs.on_update = [rs_pools](const ObjectPtr& a, const ObjectPtr& b) {
    // Only an owner change moves a ReplicaSet's pods to another pool (its
    // status changes with every pod, its metadata projection rarely).
    auto owners = [](const json& o) {
      return o.contains("metadata") && o["metadata"].is_object()
                 ? o["metadata"].value("ownerReferences", json())
                 : json();
    };
    if (owners(*a) != owners(*b)) {
      rs_pools(a);
      rs_pools(b);
    }
  };
  rs.on_delete = [rs_pools](const ObjectPtr& o, bool) { rs_pools(o); };
  s.Update(informers->replicasets->AddEventHandler(rs));
  runtime::EventHandler pods;
  pods.on_add = [this](const ObjectPtr& o) { OnPodEvent(nullptr, o); };
  pods.on_update = [this](const ObjectPtr& a, const ObjectPtr& b) {
    if (!PodIdentical(a, b)) OnPodEvent(a, b);
  };
  pods.on_delete = [this](const ObjectPtr& o, bool) { OnPodEvent(o, nullptr); };
  s.Update(informers->pods->AddEventHandler(pods));
  if (!s.ok()) return s;

  // Event handlers read informers_: set it before the first event (the
  // manager starts the cache after every controller's Start).
  informers_ = std::move(informers);
  return absl::OkStatus();
}

bool TrafficDirector::HasSynced() const {
  if (informers_ == nullptr) return false;
  for (runtime::Informer* i : informers_->All()) {
    if (!i->HasSynced()) return false;
  }
  return true;
}

void TrafficDirector::Enqueue(const std::string& pool_key,
                              runtime::Priority priority) {
  std::shared_ptr<runtime::WorkQueue> q;
  {
    absl::MutexLock lock(&mu_);
    q = queue_;
  }
  if (q != nullptr) q->Add(pool_key, priority);
}

void TrafficDirector::EnqueueAll() {
  std::set<std::string> keys;
  for (pool::CacheKind kind :
       {pool::CacheKind::kPolicies, pool::CacheKind::kDeployments,
        pool::CacheKind::kStatefulSets, pool::CacheKind::kServices,
        pool::CacheKind::kSlices, pool::CacheKind::kLeases}) {
    for (const ObjectPtr& o : deps_.cache->List(kind)) {
      for (std::string& k : pool::PoolsIndexedFor(kind, *o)) {
        keys.insert(std::move(k));
      }
    }
  }
  for (const std::string& k : keys) Enqueue(k);
}

std::set<std::string> TrafficDirector::PoolsOf(const json& obj,
                                               const std::string& kind) const {
  // The pod's pools through its routed sources (Deployments, StatefulSets,
  // Services); Job and CronJob pools are StateGuard's. Owners the cache
  // lacks end the chain: their own events bring the pods back.
  pool::PodPools found;
  if (kind == "Pod") {
    found = pool::PoolsOfPod(obj, "", *deps_.cache, nullptr);
  } else if (std::optional<pool::OwnerNode> node =
                 pool::OwnerNodeOf(kind, obj)) {
    found = pool::PoolsOfOwner(*node, *deps_.cache, nullptr);
  }
  if (found.cycle_at) ReportCycle(*found.cycle_at, found.cycle_owner);
  std::set<std::string> out;
  for (const pool::PoolKey& k : found.KeysVia({pool::Source::Kind::kDeployment,
                                               pool::Source::Kind::kStatefulSet,
                                               pool::Source::Kind::kService})) {
    out.insert(PoolKey(k.ns, k.name));
  }
  return out;
}

void TrafficDirector::ReportCycle(const pool::OwnerNode& at,
                                  const pool::OwnerRef& owner) const {
  // Reported by the active replica (standbys' Events would repeat it), once
  // per object; the memory of it is bounded.
  {
    absl::MutexLock lock(&mu_);
    if (queue_ == nullptr) return;
    if (cycles_reported_.size() >= kMaxCyclesRemembered) {
      cycles_reported_.clear();
    }
    if (!cycles_reported_.insert(at.uid).second) return;
  }
  log_.Warning("ownerReference cycle; not followed",
               {{"kind", at.kind},
                {"object", absl::StrCat(at.ns, "/", at.name)},
                {"owner", absl::StrCat(owner.kind, "/", owner.name)}});
  EventInfo e;
  e.api_version = at.kind == "Pod" ? "v1" : "apps/v1";
  e.kind = at.kind;
  e.ns = at.ns;
  e.name = at.name;
  e.uid = at.uid;
  e.warning = true;
  e.reason = "OwnerReferenceCycle";
  e.note = absl::StrCat(
      "the controller ownerReference of ", at.kind, " ", e.name,
      " leads back to an object already on its owner chain (", owner.kind, " ",
      owner.name, "); zen-lead does not follow it, so no pool sees these pods");
  Emit(e);
}

void TrafficDirector::OnPodEvent(const ObjectPtr& old_pod,
                                 const ObjectPtr& new_pod) {
  std::set<std::string> keys;
  if (old_pod) keys = PoolsOf(*old_pod, "Pod");
  if (new_pod) {
    for (const std::string& k : PoolsOf(*new_pod, "Pod")) keys.insert(k);
  }
  const json& ref = new_pod ? *new_pod : *old_pod;
  std::string uid = Meta(ref, "uid");
  // A standby learns the holder's pod name and IP (the Lease may have been
  // listed before the pod).
  absl::StatusOr<std::vector<ObjectPtr>> held =
      informers_->leases->store().ByIndex(kByHolder,
                                          UidKey(Meta(ref, "namespace"), uid));
  if (held.ok()) {
    for (const ObjectPtr& lease : *held) {
      for (const std::string& k :
           pool::PoolsIndexedFor(pool::CacheKind::kLeases, *lease)) {
        MirrorLease(k);
      }
    }
  }
  if (keys.empty()) return;
  // The leader losing its ability to lead starts the failover clock.
  bool can_lead =
      new_pod != nullptr && pool::CanLead(pool::CandidateFromPod(*new_pod, ""));
  absl::Time now = clock_->Now();
  // Urgent: the leader lost the ability to lead (failover), or a pod became
  // able to lead a pool that has no leader (recovery). Both jump ahead of
  // routine work such as Lease renewals.
  std::set<std::string> urgent;
  {
    absl::MutexLock lock(&mu_);
    for (const std::string& k : keys) {
      auto it = pools_.find(k);
      if (it == pools_.end()) continue;
      PoolState& pool = it->second;
      if (pool.leader_uid == uid && !can_lead) {
        if (pool.loss_observed == absl::InfinitePast())
          pool.loss_observed = now;
        urgent.insert(k);
      } else if (pool.leader_uid.empty() && can_lead) {
        urgent.insert(k);
      }
    }
  }
  for (const std::string& k : keys) {
    Enqueue(k, urgent.count(k) ? runtime::Priority::kHigh
                               : runtime::Priority::kNormal);
  }
}

void TrafficDirector::MirrorLease(const std::string& pool_key) {
  // Held throughout, so that workers starting meanwhile (StartWorkers takes
  // mu_) never have their registry entries overwritten with older data.
  absl::MutexLock lock(&mu_);
  if (queue_ != nullptr) return;  // the active replica writes the registry
  absl::StatusOr<pool::PoolKey> key = pool::PoolKey::Parse(pool_key);
  if (!key.ok()) return;  // index keys are always "ns/pool"
  ObjectPtr obj = informers_->leases->store().Get(key->ns, key->name);
  std::optional<pool::LeaseState> lease =
      obj ? pool::LeaseFromObject(*obj) : std::nullopt;
  if (!lease) {
    deps_.registry->Remove(key->ns, key->name);
    return;
  }
  PoolLeader pl;
  pl.ns = key->ns;
  pl.pool = key->name;
  pl.fencing_token = lease->transitions;
  pl.has_leader = !lease->holder_uid.empty();
  if (pl.has_leader) {
    pl.holder_identity = lease->holder_identity;
    pl.pod_uid = lease->holder_uid;
    pl.since = lease->acquire_time;
    absl::StatusOr<std::vector<ObjectPtr>> pods =
        informers_->pods->store().ByIndex(kByUid,
                                          UidKey(pl.ns, lease->holder_uid));
    if (pods.ok() && !pods->empty()) {
      pool::Candidate c = pool::CandidateFromPod(*pods->front(), "");
      pl.pod_name = c.name;
      pl.pod_ip = c.pod_ip;
    }
  }
  std::optional<PoolLeader> have = deps_.registry->Get(pl.ns, pl.pool);
  if (!have || !(*have == pl)) deps_.registry->Set(pl);
}

std::vector<pool::Source> TrafficDirector::Routed(
    std::vector<pool::Source> all) {
  all.erase(std::remove_if(all.begin(), all.end(),
                           [](const pool::Source& s) { return !s.Routed(); }),
            all.end());
  return all;
}

std::vector<TrafficDirector::Named> TrafficDirector::ObjectsNamed(
    const std::string& ns, const std::string& leader_name) const {
  std::vector<Named> out;
  const std::string key = PoolKey(ns, leader_name);
  auto add = [&](const runtime::Informer& inf,
                 std::optional<pool::Source::Kind> k) {
    absl::StatusOr<std::vector<ObjectPtr>> objs =
        inf.store().ByIndex(kByLeaderName, key);
    if (!objs.ok()) return;
    for (ObjectPtr& o : *objs) out.push_back({k, std::move(o)});
  };
  add(*informers_->deployments, pool::Source::Kind::kDeployment);
  add(*informers_->statefulsets, pool::Source::Kind::kStatefulSet);
  add(*informers_->services, std::nullopt);
  return out;
}

std::vector<pool::Source> TrafficDirector::SourcesOfNamed(
    const std::vector<Named>& named) {
  std::vector<pool::Source> out;
  for (const Named& n : named) {
    std::optional<pool::Source> s =
        n.kind ? pool::SourceFromWorkload(*n.kind, *n.object)
               : pool::SourceFromService(*n.object);
    if (s) out.push_back(std::move(*s));
  }
  return out;
}

std::vector<std::string> TrafficDirector::PoolsSharingLeaderName(
    const json& obj) const {
  std::vector<std::string> out;
  const std::string ns = Meta(obj, "namespace");
  const std::string name = Meta(obj, "name");
  // The object as a source (its leader Service's name) and as a Service
  // that may be some source's leader Service (its own name).
  for (const std::string& leader : {name + pool::kLeaderSuffix, name}) {
    for (const pool::Source& s : SourcesOfNamed(ObjectsNamed(ns, leader))) {
      out.push_back(PoolKey(s.ns, s.pool));
    }
  }
  return out;
}

std::optional<std::pair<std::string, std::string>>
TrafficDirector::ClaimProblem(const pool::Source& s, const ObjectPtr& svc,
                              const ObjectPtr& slice) const {
  const std::string leader = s.LeaderServiceName();
  if (!s.problem.empty()) return std::make_pair(s.problem_reason, s.problem);
  if (absl::Status v =
          validation::ValidateDns1035Label("leader Service name", leader);
      !v.ok()) {
    return std::make_pair(
        std::string("InvalidLeaderServiceName"),
        absl::StrCat(s.KindName(), " ", s.name,
                     " cannot have a leader "
                     "Service: ",
                     v.message(), "; rename it (at most ",
                     63 - std::string(pool::kLeaderSuffix).size(),
                     " characters, starting with a letter)"));
  }
  // Two sources that would write one leader Service: the one that already
  // owns it keeps it; otherwise the oldest (then Deployment, StatefulSet,
  // Service; then UID). The rule reads the same from every pool involved.
  // Namesakes that cannot write anything (no selector, a pool name that
  // cannot be used) take no part.
  // (Parsed only when there is more than the source itself: the usual case
  // costs this check nothing on the failover path.)
  std::vector<pool::Source> namesakes;
  if (std::vector<Named> named = ObjectsNamed(s.ns, leader); named.size() > 1) {
    for (pool::Source& n : SourcesOfNamed(named)) {
      if (n.problem.empty() && pool::ValidatePoolName(n.pool).ok()) {
        namesakes.push_back(std::move(n));
      }
    }
  }
  if (namesakes.size() > 1) {
    const std::string owner =
        svc && pool::Labels(*svc)[pool::kManagedByLabel] == pool::kManagedBy
            ? pool::ControllerOwnerUid(*svc)
            : "";
    const pool::Source* winner = nullptr;
    for (const pool::Source& n : namesakes) {
      if (!owner.empty() && n.uid == owner) winner = &n;
    }
    if (winner == nullptr) {
      for (const pool::Source& n : namesakes) {
        if (winner == nullptr ||
            std::make_tuple(n.created, static_cast<int>(n.kind), n.uid) <
                std::make_tuple(winner->created, static_cast<int>(winner->kind),
                                winner->uid)) {
          winner = &n;
        }
      }
    }
    if (winner->uid != s.uid) {
      return std::make_pair(
          std::string("LeaderServiceConflict"),
          absl::StrCat("Service ", leader,
                       " would be the leader Service of "
                       "both ",
                       s.KindName(), " ", s.name, " (pool ", s.pool, ") and ",
                       winner->KindName(), " ", winner->name, " (pool ",
                       winner->pool, "); it stays with ", winner->KindName(),
                       " ", winner->name,
                       owner.empty() ? " (the older)" : " (which has it)",
                       ". Rename one of them"));
    }
  }
  // Objects zen-lead did not write for this source are never adopted.
  if (svc && !OwnedBy(*svc, s.uid)) {
    const bool ours =
        pool::Labels(*svc)[pool::kManagedByLabel] == pool::kManagedBy;
    return std::make_pair(
        std::string("LeaderServiceConflict"),
        ours ? absl::StrCat("Service ", leader, " belongs to ", OwnerText(*svc),
                            ", not to this ", s.KindName(),
                            "; it is left alone until garbage collection "
                            "removes it")
             : absl::StrCat("Service ", leader,
                            " exists and is not managed by zen-lead; "
                            "zen-lead leaves it alone. Rename or delete it, "
                            "or rename ",
                            s.KindName(), " ", s.name));
  }
  // A slice a losing namesake wrote (when both used to write the name) is
  // replaced by the winner; any other is left to garbage collection.
  bool namesakes_slice = false;
  if (slice) {
    const std::string owner = pool::ControllerOwnerUid(*slice);
    for (const pool::Source& n : namesakes) namesakes_slice |= n.uid == owner;
  }
  if (slice && !OwnedBy(*slice, s.uid) && !namesakes_slice) {
    return std::make_pair(
        std::string("LeaderServiceConflict"),
        absl::StrCat("EndpointSlice ", leader, " belongs to ",
                     OwnerText(*slice), ", not to this ", s.KindName(),
                     "; it is left alone until garbage collection removes it"));
  }
  return std::nullopt;
}

bool TrafficDirector::LossPending(const std::string& pool_key,
                                  absl::Time since) const {
  absl::MutexLock lock(&mu_);
  auto it = pools_.find(pool_key);
  return it != pools_.end() &&
         it->second.loss_observed != absl::InfinitePast() &&
         it->second.loss_observed > since;
}

void TrafficDirector::WarnOnce(PoolState& state, const EventInfo& e) {
  std::string& have = state.reported[absl::StrCat(e.uid, "/", e.reason)];
  if (have == e.note) return;
  have = e.note;
  Emit(e);
}

void TrafficDirector::Emit(const EventInfo& e) const {
  log_.Info("event", {{"reason", e.reason},
                      {"object", absl::StrCat(e.kind, "/", e.ns, "/", e.name)},
                      {"note", e.note}});
  if (deps_.record_event) deps_.record_event(e);
}

PoolSnapshot TrafficDirector::Snapshot(
    const pool::PoolKey& key, absl::Time now, const ObjectPtr& policy,
    std::vector<pool::Source> sources) const {
  // Read from the cache once: each source with what is cached under its
  // leader Service's name, its pods, and the pool Lease.
  PoolSnapshot snap;
  snap.key = key;
  snap.now = now;
  snap.policy_object = policy.get();
  for (pool::Source& s : sources) {
    RouteView r;
    r.service =
        informers_->services->store().Get(key.ns, s.LeaderServiceName());
    r.slice = informers_->slices->store().Get(key.ns, s.LeaderServiceName());
    r.service_cached = r.service != nullptr;
    r.slice_cached = r.slice != nullptr;
    if (r.slice) r.slice_endpoint_uid = SliceEndpointUid(*r.slice);
    if (std::optional<std::pair<std::string, std::string>> p =
            ClaimProblem(s, r.service, r.slice)) {
      r.claim_problem = std::move(*p);
    }
    for (ObjectPtr& pod : deps_.cache->PodsOf(s)) {
      r.pod_uids.insert(Meta(*pod, "uid"));
      snap.pods.push_back(std::move(pod));
    }
    r.source = std::move(s);
    snap.routes.push_back(std::move(r));
  }
  if (ObjectPtr lease = informers_->leases->store().Get(key.ns, key.name)) {
    snap.lease = pool::LeaseReadFromObject(*lease);
  }
  return snap;
}

absl::Status TrafficDirector::Forget(const pool::PoolKey& key, absl::Time now) {
  const std::string pool_key = key.String();
  {
    absl::MutexLock lock(&mu_);
    pools_.erase(pool_key);
    if (pools_gauge_) {
      pools_gauge_->WithLabels({})->Set(static_cast<double>(pools_.size()));
    }
  }
  deps_.registry->Remove(key.ns, key.name);
  if (absl::Status cleanup = Cleanup(key, {}); !cleanup.ok()) return cleanup;
  // A pool Lease outlives its pool only when no LeaderPolicy owns it
  // (garbage collection removes the others). It goes after a grace period,
  // so that a pool whose workload is replaced keeps its count.
  ObjectPtr lease = informers_->leases->store().Get(key.ns, key.name);
  if (lease == nullptr) return absl::OkStatus();
  std::optional<pool::LeaseRead> read = pool::LeaseReadFromObject(*lease);
  const absl::Time last =
      read ? std::max(read->state.renew_time, read->state.acquire_time)
           : absl::InfinitePast();
  if (last != absl::InfinitePast() &&
      now - last < options_.orphan_lease_grace) {
    absl::MutexLock lock(&mu_);
    if (queue_ != nullptr) {
      queue_->AddAfter(
          pool_key,
          last + options_.orphan_lease_grace - now + absl::Milliseconds(10),
          runtime::Priority::kLow);
    }
    return absl::OkStatus();
  }
  return writer_.DeleteLease(key, Meta(*lease, "uid"));
}

absl::Status TrafficDirector::Reconcile(const pool::PoolKey& key) {
  const std::string pool_key = key.String();
  const absl::Time now = clock_->Now();
  ObjectPtr policy = informers_->policies->store().Get(key.ns, key.name);
  std::vector<pool::Source> all = deps_.cache->SourcesOf(key);
  if (std::any_of(all.begin(), all.end(), pool::StateGuarded)) {
    // A Job or CronJob among the sources (the cache holds them when
    // StateGuard runs in the process): StateGuard's (operator/stateguard),
    // its Lease, status and Events; nothing is routed, and what this
    // controller wrote for it goes.
    {
      absl::MutexLock lock(&mu_);
      pools_.erase(pool_key);
    }
    return Cleanup(key, {});
  }
  std::vector<pool::Source> sources = Routed(std::move(all));
  if (sources.empty() && policy == nullptr) return Forget(key, now);
  PoolState state;
  {
    absl::MutexLock lock(&mu_);
    state = pools_[pool_key];
    if (pools_gauge_) {
      pools_gauge_->WithLabels({})->Set(static_cast<double>(pools_.size()));
    }
  }
  // Decide, then write the slices: this is the failover. Nothing that can
  // wait (the Lease, Events, status, the registry) comes before them: the
  // publish does it, as its own work item.
  const PoolSnapshot snap = Snapshot(key, now, policy, std::move(sources));
  const RoutingPlan plan = PlanRouting(snap, state);
  const pool::Choice& choice = plan.choice;
  const absl::Time slice_sent = clock_->Now();
  RouteOutcome routed = writer_.WriteRoutes(snap, plan);
  absl::Status result = routed.result;
  if (choice.changed && state.loss_observed != absl::InfinitePast() &&
      result.ok() && failover_latency_) {
    failover_latency_->WithLabels({})->ObserveDuration(slice_sent -
                                                       state.loss_observed);
  }
  if (choice.changed || choice.leader) {
    state.loss_observed = absl::InfinitePast();
  }
  CommitLeader(plan, snap, state);

  absl::MutexLock lock(&mu_);
  if (auto it = pools_.find(pool_key); it != pools_.end()) {
    PoolState& memory = it->second;
    MergeRouted(state, memory);
    // A leader loss seen by a pod event while this route ran stays
    // recorded (its failover latency is measured by the next route).
    if (memory.loss_observed <= now) memory.loss_observed = state.loss_observed;
    RecordRoute(plan, std::move(routed), memory);
  }
  if (queue_ != nullptr) {
    const pool::WorkItem publish{pool::WorkItem::Kind::kPublish, key};
    queue_->Add(publish.Encode(), choice.changed ? runtime::Priority::kHigh
                                                 : runtime::Priority::kNormal);
    // A minReadySeconds re-check may elect a leader: high lane when the
    // pool has none.
    if (choice.recheck_after) {
      queue_->AddAfter(pool_key, *choice.recheck_after + absl::Milliseconds(10),
                       choice.leader ? runtime::Priority::kNormal
                                     : runtime::Priority::kHigh);
    }
  }
  return result;
}

void TrafficDirector::GiveBack(const std::string& pool_key,
                               const RouteOutcome& taken,
                               const PoolState& state) {
  absl::MutexLock lock(&mu_);
  auto it = pools_.find(pool_key);
  if (it == pools_.end()) return;
  ReturnRouteChange(taken, it->second);
  it->second.token_high_water =
      std::max(it->second.token_high_water, state.token_high_water);
}

absl::Status TrafficDirector::Publish(const pool::PoolKey& key) {
  const std::string pool_key = key.String();
  const absl::Time now = clock_->Now();
  PoolState state;
  RouteOutcome route;
  {
    absl::MutexLock lock(&mu_);
    auto it = pools_.find(pool_key);
    if (it == pools_.end()) return absl::OkStatus();  // forgotten
    route = TakeRouteChange(it->second);
    state = it->second;
  }
  ObjectPtr policy = informers_->policies->store().Get(key.ns, key.name);
  std::vector<pool::Source> sources = Routed(deps_.cache->SourcesOf(key));
  std::set<std::string> source_names;
  for (const pool::Source& s : sources) source_names.insert(s.name);
  const PoolSnapshot snap = Snapshot(key, now, policy, std::move(sources));
  RoutingPlan plan = PlanRouting(snap, state);
  const std::string committed = state.leader_uid;
  auto bounce = [&] {
    // The leader moves again (or the pool went): the route goes first and
    // queues this publish again; the change taken waits for it.
    GiveBack(pool_key, route, state);
    Enqueue(pool_key, runtime::Priority::kHigh);
    return absl::OkStatus();
  };
  if (snap.routes.empty() && policy == nullptr) return bounce();
  const bool moving =
      (plan.choice.leader ? plan.choice.leader->uid : "") != committed;
  // (A plan that only "changes" to the committed leader, e.g. from a Lease
  // that still names the leader lost before, is what the routes decided:
  // the Lease write below settles it.)
  if (moving && route.leaders.empty()) return bounce();
  WriteOutcome outcome;
  ApplyRoute(route, plan, outcome);

  // The pool Lease: holder, fencing token, renewals. First for every leader
  // the routes routed to since the last publish, in order, so that each
  // holder the slices routed to takes its token (also one lost meanwhile:
  // the Lease follows the slices, never runs ahead of them).
  auto write_lease = [&](const RoutingPlan& p, bool cached_lease) {
    LeaseOutcome lease = writer_.WriteLease(snap, p, cached_lease);
    if (lease.renewed_from && lease.result.ok()) {
      ObserveRenewal(*lease.renewed_from, p.renew_every, now);
    } else if (lease.renewed_from && client::IsConflict(lease.result)) {
      // Renewed meanwhile (the renewal work item, a moment before the cache
      // saw it): nothing to retry; the renewal keeps its own schedule.
      lease.result = absl::OkStatus();
    }
    if (lease.lease_now) {
      state.token_high_water =
          std::max(state.token_high_water, lease.lease_now->transitions);
    }
    return lease;
  };
  LeaseOutcome lease;
  absl::Status own;
  if (route.leaders.empty()) {
    lease = write_lease(plan, true);
    own.Update(lease.result);
  }
  for (size_t i = 0; i < route.leaders.size(); ++i) {
    RoutingPlan routed = plan;
    routed.choice.leader = route.leaders[i];
    lease = write_lease(routed, i == 0);  // later ones read what it wrote
    own.Update(lease.result);
  }
  outcome.lease_now = lease.lease_now;
  outcome.lease_conflict = lease.lease_conflict;
  outcome.guard_violation = lease.guard_violation;
  outcome.guard_active = lease.guard_active;
  // The leader Services with the annotations naming the leader, and the
  // report: only for the leader the slices route to. When it was lost
  // meanwhile, the route already queued writes them for the next one.
  if (moving) return bounce();
  if (LossPending(pool_key, now)) return bounce();
  own.Update(writer_.WriteLeaderServices(snap, plan, route.routed));
  outcome.result.Update(own);

  // The report: Events, the registry, metrics, the LeaderPolicy status.
  ReportOptions report_options;
  report_options.no_candidates_grace = options_.no_candidates_grace;
  const ReportPlan report =
      PlanReport(snap, plan, outcome, report_options, state);
  std::set<std::string> warned;  // keys of state.reported still current
  auto warn = [&](EventInfo e) {
    if (e.name.empty()) return;
    e.warning = true;
    warned.insert(absl::StrCat(e.uid, "/", e.reason));
    WarnOnce(state, e);
  };
  for (const EventInfo& e : plan.warnings) warn(e);
  for (const EventInfo& e : report.warnings) warn(e);
  for (const EventInfo& e : plan.events) Emit(e);
  for (const EventInfo& e : report.events) Emit(e);
  // Warnings that no longer apply may be recorded again if they return.
  for (auto it = state.reported.begin(); it != state.reported.end();) {
    it = warned.count(it->first) ? std::next(it) : state.reported.erase(it);
  }
  if (report.leader_changed && leader_changes_) {
    leader_changes_->WithLabels({key.ns, key.name})->Inc();
  }
  if (candidates_gauge_) {
    candidates_gauge_->WithLabels({key.ns, key.name})
        ->Set(plan.choice.ready_candidates);
  }
  deps_.registry->Set(report.registry);
  std::optional<absl::Time> status_due;
  if (report.status && !LossPending(pool_key, now)) {
    json desired =
        pool::PolicyStatusApply(key.ns, key.name, *report.status, *policy, now);
    json have =
        policy->contains("status") ? (*policy)["status"] : json::object();
    StatusWrite sw = PlanStatusWrite(have, desired["status"], now,
                                     kCandidatesDebounce, state);
    status_due = sw.due;
    if (!sw.patch.empty()) own.Update(writer_.PatchStatus(key, sw.patch));
  }

  // Members that left the pool: their leader Services and slices go, after
  // the writes above (a failed delete must not hold the pool up).
  own.Update(Cleanup(key, source_names));

  absl::MutexLock lock(&mu_);
  if (auto it = pools_.find(pool_key); it != pools_.end()) {
    MergePublished(state, it->second);
  }
  // Scheduled whatever the result (a failed step is retried separately,
  // with backoff; AddAfter keeps the earliest time, so this never piles
  // up): a pool must never drop out of renewals or re-checks because a
  // write of its publish failed.
  if (queue_ != nullptr) {
    const std::string publish =
        pool::WorkItem{pool::WorkItem::Kind::kPublish, key}.Encode();
    // The Lease renewal is upkeep: its own key, in the low lane.
    if (plan.choice.leader && !outcome.lease_conflict) {
      queue_->AddAfter(RenewKey(key), plan.renew_every,
                       runtime::Priority::kLow);
    }
    if (status_due) {
      queue_->AddAfter(publish, *status_due - now, runtime::Priority::kLow);
    }
    if (report.no_candidates_recheck) {
      queue_->AddAfter(
          publish, *report.no_candidates_recheck - now + absl::Milliseconds(10),
          runtime::Priority::kLow);
    }
  }
  return own;
}

void TrafficDirector::ObserveRenewal(const pool::LeaseState& lease,
                                     absl::Duration every, absl::Time now) {
  if (renewal_lateness_ && lease.renew_time != absl::InfinitePast()) {
    renewal_lateness_->WithLabels({})->ObserveDuration(
        std::max(now - (lease.renew_time + every), absl::ZeroDuration()));
  }
}

absl::Status TrafficDirector::Cleanup(const pool::PoolKey& key,
                                      const std::set<std::string>& keep) {
  // Leader Services and slices of sources that left the pool (opt-out).
  auto stale = [&](const runtime::Informer& inf) {
    std::vector<ObjectPtr> out;
    absl::StatusOr<std::vector<ObjectPtr>> objs =
        inf.store().ByIndex(kByPool, key.String());
    if (!objs.ok()) return out;
    for (const ObjectPtr& o : *objs) {
      std::map<std::string, std::string> labels = pool::Labels(*o);
      if (labels[pool::kManagedByLabel] != pool::kManagedBy) continue;
      if (keep.count(labels[pool::kSourceLabel])) continue;
      out.push_back(o);
    }
    return out;
  };
  return writer_.DeleteStale(stale(*informers_->slices),
                             stale(*informers_->services));
}
absl::Status TrafficDirector::Renew(const pool::PoolKey& key) {
  const std::string pool_key = key.String();
  const std::string& ns = key.ns;
  const std::string& pool = key.name;
  ObjectPtr lease_obj = informers_->leases->store().Get(ns, pool);
  std::optional<pool::LeaseRead> read =
      lease_obj ? pool::LeaseReadFromObject(*lease_obj) : std::nullopt;
  if (!read || read->foreign || read->state.holder_uid.empty()) {
    return absl::OkStatus();
  }
  const pool::LeaseState* lease = &read->state;
  absl::Duration every;
  {
    // Only the leader this operator elected, and only while no reconcile
    // of the pool has moved it (that reconcile schedules its own renewal).
    absl::MutexLock lock(&mu_);
    auto it = pools_.find(pool_key);
    if (it == pools_.end() || it->second.leader_uid != lease->holder_uid ||
        it->second.renew_every <= absl::ZeroDuration()) {
      return absl::OkStatus();
    }
    // As the reconcile decided it (from the last valid settings while the
    // stored policy is invalid).
    every = it->second.renew_every;
  }
  // A leader that can no longer lead is not renewed: its failover is
  // already queued (high lane) and will write the Lease.
  absl::StatusOr<std::vector<ObjectPtr>> pods =
      informers_->pods->store().ByIndex(kByUid, UidKey(ns, lease->holder_uid));
  if (!pods.ok() || pods->empty() ||
      !pool::CanLead(pool::CandidateFromPod(*pods->front(), ""))) {
    return absl::OkStatus();
  }
  const absl::Time now = clock_->Now();
  const absl::Time due = lease->renew_time + every;
  if (now < due - absl::Milliseconds(50)) {
    // Renewed meanwhile (by a reconcile): come back when due.
    absl::MutexLock lock(&mu_);
    if (queue_ != nullptr) {
      queue_->AddAfter(RenewKey(key), due - now, runtime::Priority::kLow);
    }
    return absl::OkStatus();
  }
  absl::Status s = writer_.WriteRenewal(key, read->resource_version, now);
  if (s.ok()) ObserveRenewal(*lease, every, now);
  if (client::IsConflict(s)) {
    // Changed since the cache saw it: decide again from the Lease as it is.
    Enqueue(pool_key, runtime::Priority::kNormal);
    return absl::OkStatus();
  }
  if (!s.ok()) return s;
  absl::MutexLock lock(&mu_);
  if (queue_ != nullptr) {
    queue_->AddAfter(RenewKey(key), every, runtime::Priority::kLow);
  }
  return absl::OkStatus();
}

absl::Status TrafficDirector::Healthy() const {
  if (informers_ != nullptr) {
    for (runtime::Informer* i : informers_->All()) {
      if (absl::Status s = i->Healthy(options_.wedged_after); !s.ok()) return s;
    }
  }
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  for (size_t i = 0; i < progress_.size(); ++i) {
    const WorkerProgress& p = progress_[i];
    if (p.since != absl::InfinitePast() &&
        now - p.since > options_.wedged_after) {
      return absl::UnavailableError(absl::StrCat(
          "trafficdirector worker ", i, " has been on ", p.key, " for ",
          absl::FormatDuration(absl::Trunc(now - p.since, absl::Seconds(1))),
          " (wedged)"));
    }
  }
  return absl::OkStatus();
}

void TrafficDirector::RunWorker(runtime::WorkQueue* queue, size_t index) {
  while (std::optional<std::string> key = queue->Get()) {
    if (queue->ShuttingDown()) {
      // Lost leadership or stopping: no more writes.
      queue->Done(*key);
      continue;
    }
    absl::Time start = clock_->Now();
    {
      absl::MutexLock lock(&mu_);
      if (index < progress_.size()) progress_[index] = {*key, start};
    }
    absl::StatusOr<pool::WorkItem> item = pool::WorkItem::Decode(*key);
    if (!item.ok()) {
      // Only this controller queues keys, so this is a bug: said once,
      // never retried.
      log_.Error("malformed work-queue key; dropped",
                 {{"key", *key}, {"error", item.status().ToString()}});
      queue->Forget(*key);
      queue->Done(*key);
      continue;
    }
    const bool renewal = item->kind == pool::WorkItem::Kind::kRenew;
    absl::Status s;
    try {
      switch (item->kind) {
        case pool::WorkItem::Kind::kRenew:
          s = Renew(item->pool);
          break;
        case pool::WorkItem::Kind::kPublish:
          s = Publish(item->pool);
          break;
        case pool::WorkItem::Kind::kReconcile:
          s = Reconcile(item->pool);
          break;
      }
    } catch (const std::exception& e) {
      // A bug, not bad input (objects are parsed into typed structs); the
      // key is retried with backoff and the operator keeps serving.
      s = absl::InternalError(absl::StrCat("exception: ", e.what()));
      log_.Error("reconcile threw", {{"pool", *key}, {"error", e.what()}});
    }
    {
      absl::MutexLock lock(&mu_);
      if (index < progress_.size()) progress_[index] = {};
    }
    if (reconcile_duration_ && !renewal) {
      reconcile_duration_->WithLabels({s.ok() ? "ok" : "error"})
          ->ObserveDuration(clock_->Now() - start);
    }
    if (s.ok()) {
      if (renewal) {
        renew_backoff_.Forget(*key);
      } else {
        queue->Forget(*key);
      }
    } else if (renewal) {
      // Retried on its own backoff, capped at the default renewal interval,
      // so a Lease is renewed within one interval of the API server's
      // return (the queue's shared retry budget would spread 1,000 pools'
      // retries over minutes).
      log_.Warning("lease renewal failed",
                   {{"pool", *key}, {"error", s.ToString()}});
      queue->AddAfter(*key, renew_backoff_.When(*key), runtime::Priority::kLow);
    } else {
      if (reconcile_errors_) reconcile_errors_->WithLabels({})->Inc();
      log_.Warning("reconcile failed", {{"pool", *key},
                                        {"error", s.ToString()},
                                        {"retries", queue->NumRequeues(*key)}});
      queue->AddRateLimited(*key);
    }
    queue->Done(*key);
  }
}

void TrafficDirector::StartWorkers() {
  {
    absl::MutexLock lock(&mu_);
    if (queue_ != nullptr) return;
    runtime::WorkQueueOptions o;
    o.name = "trafficdirector";
    o.clock = deps_.clock;
    // Per-pool backoff, 5 ms doubling up to 30 s (client-go's default caps
    // at 1000 s and adds a shared 10 qps bucket whose reservations pile up:
    // after an outage, 1,000 failing pools would wait minutes). At most
    // 1,000 / 30 s retries per second while every write fails.
    o.rate_limiter = std::make_unique<runtime::ExponentialFailureRateLimiter>(
        absl::Milliseconds(5), absl::Seconds(30));
    if (deps_.queue_metrics != nullptr && queue_metrics_ == nullptr) {
      queue_metrics_ = deps_.queue_metrics->ForQueue("trafficdirector");
    }
    o.metrics = queue_metrics_.get();
    queue_ = std::make_shared<runtime::WorkQueue>(std::move(o));
    // A new term: what this replica remembers from an earlier one may be
    // stale (another replica led meanwhile); every pool is recovered from
    // the cluster (slices, Leases, status) by its first route.
    pools_.clear();
    progress_.assign(std::max(1, options_.workers), WorkerProgress{});
    for (int i = 0; i < std::max(1, options_.workers); ++i) {
      workers_.emplace_back([this, q = queue_.get(), i] {
        RunWorker(q, static_cast<size_t>(i));
      });
    }
  }
  log_.Info("workers started", {{"workers", options_.workers}});
  EnqueueAll();
}

void TrafficDirector::StopWorkers() {
  std::shared_ptr<runtime::WorkQueue> q;
  std::vector<std::thread> workers;
  {
    absl::MutexLock lock(&mu_);
    q = std::move(queue_);
    queue_ = nullptr;
    workers = std::move(workers_);
    workers_.clear();
  }
  if (q == nullptr) return;
  q->ShutDown();
  for (std::thread& t : workers) t.join();
  log_.Info("workers stopped");
  // A standby again: the registry follows the pool Leases.
  if (informers_ != nullptr) {
    for (const ObjectPtr& o : informers_->leases->store().List()) {
      for (const std::string& k :
           pool::PoolsIndexedFor(pool::CacheKind::kLeases, *o)) {
        MirrorLease(k);
      }
    }
  }
}

void TrafficDirector::Stop() {
  // The informers are the shared cache's: its owner stops them.
  StopWorkers();
}

}  // namespace zenlead::op
