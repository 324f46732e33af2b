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
#include "api/pool/membership.h"
#include "api/pool/pool_lease.h"
#include "api/pool/service_settings.h"
#include "api/pool/work_item.h"
#include "api/types/deployment.h"
#include "api/types/endpointslice.h"
#include "api/types/leaderpolicy.h"
#include "api/types/lease.h"
#include "api/types/pod.h"
#include "api/types/replicaset.h"
#include "api/types/service.h"
#include "api/types/statefulset.h"
#include "api/validation/names.h"

namespace zenlead::op {
namespace {

namespace k8s = zenlead::k8s;
using client::Resource;
using nlohmann::json;
using runtime::ObjectPtr;

// API paths from the generated clients (one source for each).
const Resource& kPolicies = api::v1alpha1::LeaderPolicyClient::Resource();
const Resource& kDeployments = k8s::DeploymentClient::Resource();
const Resource& kStatefulSets = k8s::StatefulSetClient::Resource();
const Resource& kReplicaSets = k8s::ReplicaSetClient::Resource();
const Resource& kServices = k8s::ServiceClient::Resource();
const Resource& kPods = k8s::PodClient::Resource();
const Resource& kSlices = k8s::EndpointSliceClient::Resource();
const Resource& kLeases = k8s::LeaseClient::Resource();

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

// Whether zen-lead wrote this object for the source with this UID.
bool OwnedBy(const json& obj, const std::string& owner_uid) {
  std::map<std::string, std::string> labels = pool::Labels(obj);
  return labels[pool::kManagedByLabel] == pool::kManagedBy &&
         pool::ControllerOwnerUid(obj) == owner_uid;
}

std::string OwnerText(const json& obj) {
  std::optional<pool::OwnerRef> owner = pool::ControllerOwner(obj);
  if (!owner) return "no owner";
  return absl::StrCat(owner->kind, "/", owner->name, " (uid ", owner->uid, ")");
}

// Whether the cached leader Service already has the ports the body names.
bool ServiceUpToDate(const json& desired, const json& cached) {
  const json& want = desired["spec"]["ports"];
  if (!cached.contains("spec") || !cached["spec"].contains("ports")) {
    return false;
  }
  const json& have = cached["spec"]["ports"];
  if (!have.is_array() || have.size() != want.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    for (const char* k : {"name", "port", "protocol", "appProtocol"}) {
      json a = want[i].contains(k) ? want[i][k] : json();
      json b = have[i].contains(k) ? have[i][k] : json();
      if (a != b) return false;
    }
  }
  return true;
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

// A cached slice's addressType ("IPv4" when it has none).
std::string AddressTypeOfSlice(const json& slice) {
  std::optional<k8s::EndpointSlice> typed = ParseSlice(slice);
  return typed && !typed->address_type.empty() ? typed->address_type : "IPv4";
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

  // Events only say which pool to look at.
  // Sources and Services also wake the pools of their namesakes (sources
  // whose leader Service has the same name): a name collision, or a user's
  // Service in the way, resolves when one of them goes.
  auto pool_of_object = [this](const runtime::IndexFunc& pools,
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
    h.on_update = [this, keys](const ObjectPtr& a, const ObjectPtr& b) {
      std::set<std::string> all;
      for (std::string& k : keys(*a)) all.insert(std::move(k));
      for (std::string& k : keys(*b)) all.insert(std::move(k));
      for (const std::string& k : all) Enqueue(k);
    };
    h.on_delete = [this, keys](const ObjectPtr& o, bool) {
      for (const std::string& k : keys(*o)) Enqueue(k);
    };
    return h;
  };
  auto policy_pool = [](const json& o) -> std::vector<std::string> {
    return {PoolKey(Meta(o, "namespace"), Meta(o, "name"))};
  };
  s.Update(informers->policies->AddEventHandler(pool_of_object(policy_pool)));
  s.Update(informers->deployments->AddEventHandler(
      pool_of_object(pools_of(pool::CacheKind::kDeployments), true)));
  s.Update(informers->statefulsets->AddEventHandler(
      pool_of_object(pools_of(pool::CacheKind::kStatefulSets), true)));
  s.Update(informers->services->AddEventHandler(
      pool_of_object(pools_of(pool::CacheKind::kServices), true)));
  s.Update(informers->slices->AddEventHandler(pool_of_object(managed_pool)));
  runtime::EventHandler leases;
  leases.on_add = [this, managed_pool](const ObjectPtr& o) {
    for (const std::string& k : managed_pool(*o)) {
      Enqueue(k);
      MirrorLease(k);
    }
  };
  leases.on_update = [this, managed_pool](const ObjectPtr& a,
                                          const ObjectPtr& b) {
    // A renewal this operator wrote says nothing new about the pool; at
    // 1,000 pools renewing every few seconds, reconciling on each one would
    // double the routine work.
    if (pool::LeaseOnlyRenewed(*a, *b)) return;
    std::set<std::string> keys;
    for (const std::string& k : managed_pool(*a)) keys.insert(k);
    for (const std::string& k : managed_pool(*b)) keys.insert(k);
    for (const std::string& k : keys) {
      Enqueue(k);
      MirrorLease(k);
    }
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

std::vector<pool::Source> TrafficDirector::SourcesOf(
    const std::string& ns, const std::string& pool) const {
  std::vector<pool::Source> out =
      deps_.cache->SourcesOf(pool::PoolKey{ns, pool});
  out.erase(std::remove_if(out.begin(), out.end(),
                           [](const pool::Source& s) { return !s.Routed(); }),
            out.end());
  return out;
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

absl::Status TrafficDirector::CreateOwned(client::Client* writer,
                                          const Resource& r,
                                          const json& desired,
                                          const std::string& owner_uid) {
  const std::string ns = desired["metadata"]["namespace"];
  const std::string name = desired["metadata"]["name"];
  absl::Status created = writer->Create(r, ns, desired).status();
  if (!client::IsAlreadyExists(created)) return created;
  // There already: ours, not cached yet, or someone else's.
  absl::StatusOr<json> existing = writer->Get(r, ns, name);
  if (!existing.ok()) return existing.status();
  if (!OwnedBy(*existing, owner_uid)) {
    return absl::FailedPreconditionError(absl::StrCat(
        r.resource == "services" ? "Service " : "EndpointSlice ", name,
        " exists and zen-lead did not create it for this source (",
        OwnerText(*existing), "); zen-lead leaves it alone"));
  }
  return PatchIfChanged(writer, r, desired, *existing);
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

std::vector<pool::ContainerPort> TrafficDirector::ContainerPortsOf(
    const std::string& ns, const std::string& pod) const {
  ObjectPtr p = informers_->pods->store().Get(ns, pod);
  if (p == nullptr) return {};
  return pool::PodContainerPorts(*p);
}

absl::Status TrafficDirector::PatchIfChanged(client::Client* writer,
                                             const Resource& r,
                                             const json& desired,
                                             const json& have,
                                             const json& annotations) {
  // A JSON merge patch of what differs, not a server-side apply: every
  // object here was created with a POST (create-only, so a name someone
  // else holds is never taken), and the fields that POST set stay co-owned
  // by its field manager, so an apply could not remove a port or an
  // endpoint; a patch replaces them whole. It also costs the API server less
  // (every millisecond of the slice write is failover latency). Our labels
  // are set, never others removed.
  json patch = json::object();
  std::map<std::string, std::string> labels = pool::Labels(have);
  for (auto it = desired["metadata"]["labels"].begin();
       it != desired["metadata"]["labels"].end(); ++it) {
    if (labels[it.key()] != it->get<std::string>()) {
      patch["metadata"]["labels"][it.key()] = *it;
    }
  }
  auto field = [](const json& obj, std::initializer_list<const char*> path) {
    const json* at = &obj;
    for (const char* k : path) {
      if (!at->is_object() || !at->contains(k)) return json();
      at = &(*at)[k];
    }
    return *at;
  };
  auto compare = [&](std::initializer_list<const char*> path,
                     const json& absent) {
    json want = field(desired, path);
    json got = field(have, path);
    if (want.is_null()) want = absent;
    if (got.is_null()) got = absent;
    if (want == got) return;
    json* at = &patch;
    for (const char* k : path) at = &(*at)[k];
    *at = std::move(want);
  };
  compare({"metadata", "ownerReferences"}, json::array());
  if (&r == &kSlices) {
    compare({"endpoints"}, json::array());
    compare({"ports"}, json::array());
  } else if (!ServiceUpToDate(desired, have)) {
    patch["spec"]["ports"] = field(desired, {"spec", "ports"});
  }
  if (!annotations.empty()) {
    patch["metadata"]["annotations"] = annotations;
  }
  if (patch.empty()) return absl::OkStatus();
  // The UID as read: if the object was replaced by someone else's since,
  // the API server refuses the patch (uid is immutable) instead of zen-lead
  // taking it over.
  patch["metadata"]["uid"] = Meta(have, "uid");
  return writer
      ->Patch(r, Meta(desired, "namespace"), Meta(desired, "name"),
              client::PatchType::kMerge, patch, "")
      .status();
}

absl::Status TrafficDirector::Cleanup(const std::string& ns,
                                      const std::string& pool,
                                      const std::set<std::string>& keep) {
  // Leader Services and slices of sources that left the pool (opt-out).
  const std::string key = PoolKey(ns, pool);
  absl::Status result;
  auto sweep = [&](const runtime::Informer& inf, const Resource& r) {
    absl::StatusOr<std::vector<ObjectPtr>> objs =
        inf.store().ByIndex(kByPool, key);
    if (!objs.ok()) return;
    for (const ObjectPtr& o : *objs) {
      std::map<std::string, std::string> labels = pool::Labels(*o);
      if (labels[pool::kManagedByLabel] != pool::kManagedBy) continue;
      if (keep.count(labels[pool::kSourceLabel])) continue;
      client::DeleteOptions del;
      del.uid = Meta(*o, "uid");
      absl::Status s = deps_.writer->Delete(r, ns, Meta(*o, "name"), del);
      if (!s.ok() && !client::IsNotFound(s)) result.Update(s);
    }
  };
  sweep(*informers_->slices, kSlices);
  sweep(*informers_->services, kServices);
  return result;
}

void TrafficDirector::Emit(const EventInfo& e) const {
  log_.Info("event", {{"reason", e.reason},
                      {"object", absl::StrCat(e.kind, "/", e.ns, "/", e.name)},
                      {"note", e.note}});
  if (deps_.record_event) deps_.record_event(e);
}

absl::Status TrafficDirector::Reconcile(const pool::PoolKey& key) {
  const std::string pool_key = key.String();
  const std::string& ns = key.ns;
  const std::string& pool = key.name;
  const absl::Time now = clock_->Now();

  ObjectPtr policy_obj = informers_->policies->store().Get(ns, pool);
  std::vector<pool::Source> sources = SourcesOf(ns, pool);
  std::set<std::string> source_names;
  for (const pool::Source& s : sources) source_names.insert(s.name);

  PoolState state;
  {
    absl::MutexLock lock(&mu_);
    if (sources.empty() && policy_obj == nullptr) {
      pools_.erase(pool_key);
    } else {
      state = pools_[pool_key];
    }
    if (pools_gauge_) {
      pools_gauge_->WithLabels({})->Set(static_cast<double>(pools_.size()));
    }
  }
  if (sources.empty() && policy_obj == nullptr) {
    deps_.registry->Remove(ns, pool);
    absl::Status cleanup = Cleanup(ns, pool, source_names);
    if (!cleanup.ok()) return cleanup;
    // A pool Lease outlives its pool only when no LeaderPolicy owns it
    // (garbage collection removes the others). It goes after a grace
    // period, so that a pool whose workload is replaced keeps its count.
    if (ObjectPtr lease = informers_->leases->store().Get(ns, pool)) {
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
      client::DeleteOptions del;
      del.uid = Meta(*lease, "uid");
      absl::Status s = deps_.writer->Delete(kLeases, ns, pool, del);
      if (!s.ok() && !client::IsNotFound(s) && !client::IsConflict(s)) {
        return s;
      }
    }
    return absl::OkStatus();
  }
  // 1. The snapshot, read from the cache once: each source with what is
  //    cached under its leader Service's name, and the pods.
  PoolSnapshot snap;
  snap.key = key;
  snap.now = now;
  snap.policy_object = policy_obj.get();
  std::vector<ObjectPtr> cached_svcs, cached_slices;  // by route
  for (pool::Source& s : sources) {
    ObjectPtr svc =
        informers_->services->store().Get(ns, s.LeaderServiceName());
    ObjectPtr slice =
        informers_->slices->store().Get(ns, s.LeaderServiceName());
    RouteView r;
    r.service_cached = svc != nullptr;
    r.slice_cached = slice != nullptr;
    if (slice) r.slice_endpoint_uid = SliceEndpointUid(*slice);
    if (std::optional<std::pair<std::string, std::string>> p =
            ClaimProblem(s, svc, slice)) {
      r.claim_problem = std::move(*p);
    }
    for (ObjectPtr& pod : deps_.cache->PodsOf(s)) {
      r.pod_uids.insert(Meta(*pod, "uid"));
      snap.pods.push_back(std::move(pod));
    }
    r.source = std::move(s);
    snap.routes.push_back(std::move(r));
    cached_svcs.push_back(std::move(svc));
    cached_slices.push_back(std::move(slice));
  }
  ObjectPtr lease_obj = informers_->leases->store().Get(ns, pool);
  if (lease_obj) snap.lease = pool::LeaseReadFromObject(*lease_obj);

  // 2. Decide.
  const RoutingPlan plan = PlanRouting(snap, state);
  const pool::Choice& choice = plan.choice;
  WriteOutcome outcome;
  absl::Status& result = outcome.result;
  auto write_problem = [&](const pool::Source& s, const std::string& reason,
                           const std::string& message) {
    outcome.problems.push_back({reason, message});
    outcome.warnings.push_back({s.ApiVersion(), s.KindName(), s.ns, s.name,
                                s.uid, true, reason, message});
  };

  // 3. EndpointSlices first: this is the failover. Nothing that can wait
  //    (Events, status, the registry) comes before them.
  std::vector<bool> slice_written(snap.routes.size(), false);
  const absl::Time slice_sent = clock_->Now();
  for (size_t i : plan.writable) {
    const pool::Source& s = snap.routes[i].source;
    const std::string leader_name = s.LeaderServiceName();
    if (cached_svcs[i] == nullptr) {
      // First time (or not cached yet): the Service first, so that the
      // slice never serves a Service zen-lead did not create.
      absl::Status created = CreateOwned(deps_.writer, kServices,
                                         pool::LeaderServiceApply(s), s.uid);
      if (absl::IsFailedPrecondition(created)) {
        write_problem(s, "LeaderServiceConflict",
                      std::string(created.message()));
        continue;
      }
      if (!created.ok()) {
        result.Update(created);
        continue;
      }
    }
    std::vector<pool::SlicePort> ports;
    std::optional<pool::Candidate> endpoint = choice.leader;
    if (choice.leader) {
      // A Service's leader is its own by its selector; a workload's when it
      // is one of the workload's pods.
      const bool own_pod =
          s.kind == pool::Source::Kind::kService ||
          snap.routes[i].pod_uids.count(choice.leader->uid) > 0;
      absl::StatusOr<std::vector<pool::SlicePort>> resolved =
          pool::ResolveSlicePorts(
              s.ports, ContainerPortsOf(ns, choice.leader->name), own_pod);
      if (resolved.ok()) {
        ports = std::move(*resolved);
      } else {
        endpoint.reset();  // fail closed
        outcome.port_error = std::string(resolved.status().message());
        outcome.warnings.push_back(
            {s.ApiVersion(), s.KindName(), s.ns, s.name, s.uid, true,
             "PortResolutionFailed",
             absl::StrCat("Service ", leader_name,
                          " has no endpoint: ", outcome.port_error)});
      }
    }
    const ObjectPtr& cached_slice = cached_slices[i];
    const std::string cached_type =
        cached_slice ? AddressTypeOfSlice(*cached_slice) : "IPv4";
    const std::string address_type =
        endpoint ? pool::AddressTypeOf(endpoint->pod_ip) : cached_type;
    json desired = pool::EndpointSliceApply(s, endpoint, ports, address_type);
    absl::Status written;
    switch (SliceWriteFor(cached_slice != nullptr,
                          cached_slice && OwnedBy(*cached_slice, s.uid),
                          cached_type, address_type)) {
      case SliceWrite::kCreate:
        written = CreateOwned(deps_.failover_writer, kSlices, desired, s.uid);
        break;
      case SliceWrite::kReplace: {
        client::DeleteOptions del;
        del.uid = Meta(*cached_slice, "uid");
        written = deps_.failover_writer->Delete(kSlices, ns, leader_name, del);
        if (written.ok() || client::IsNotFound(written)) {
          written = CreateOwned(deps_.failover_writer, kSlices, desired, s.uid);
        }
        break;
      }
      case SliceWrite::kPatch:
        written = PatchIfChanged(deps_.failover_writer, kSlices, desired,
                                 *cached_slice);
        break;
    }
    if (absl::IsFailedPrecondition(written)) {
      write_problem(s, "LeaderServiceConflict", std::string(written.message()));
      continue;
    }
    result.Update(written);
    slice_written[i] = written.ok();
  }
  if (choice.changed && state.loss_observed != absl::InfinitePast() &&
      result.ok()) {
    if (failover_latency_) {
      failover_latency_->WithLabels({})->ObserveDuration(slice_sent -
                                                         state.loss_observed);
    }
  }
  if (choice.changed || choice.leader) {
    state.loss_observed = absl::InfinitePast();
  }
  // The new leader is known at once: a pod event during the writes below
  // (the Lease, the status) sees it, and the loss of that leader is urgent.
  CommitLeader(plan, now, state);
  if (choice.changed) {
    absl::MutexLock lock(&mu_);
    if (auto it = pools_.find(pool_key); it != pools_.end()) {
      it->second.leader_uid = state.leader_uid;
      it->second.leader_since = state.leader_since;
      if (it->second.loss_observed <= now) {
        it->second.loss_observed = absl::InfinitePast();
      }
    }
  }

  // 4. The pool Lease: holder, fencing token, renewals. Every holder change
  //    is written conditioned on the version it was decided from.
  bool lease_unknown = !plan.pool_name_valid;
  std::optional<pool::LeaseRead> lease_read = snap.lease;
  if (plan.pool_name_valid && !lease_read) {
    // Not in our cache (which holds only zen-lead's Leases): just created
    // by us and not seen yet, a foreign Lease, or none. Ask the API server,
    // so the fencing token always counts from the Lease as it is.
    absl::StatusOr<std::optional<pool::LeaseRead>> fresh =
        pool::ReadLease(*deps_.writer, ns, pool);
    if (fresh.ok()) {
      lease_read = std::move(*fresh);
    } else {
      result.Update(fresh.status());
      lease_unknown = true;  // no Lease write, no token this time
    }
  }
  if (!lease_unknown && lease_read && lease_read->foreign) {
    outcome.lease_conflict = true;
  } else if (!lease_unknown) {
    auto decide = [&](const std::optional<pool::LeaseState>& current) {
      return pool::NextLease(current, choice.leader, plan.policy,
                             plan.token_high_water, plan.renew_every, now);
    };
    std::optional<pool::LeaseState> current =
        lease_read ? std::optional<pool::LeaseState>(lease_read->state)
                   : std::nullopt;
    std::optional<pool::LeaseState> want = decide(current);
    if (!want || (!current && !choice.leader)) {
      // Nothing to change, or nothing to record: no Lease is created for a
      // pool that has never had a leader.
      outcome.lease_now = current;
    } else if (current && pool::OnlyRenewal(*current, *want)) {
      absl::Status renewed =
          WriteRenewal(ns, pool, *current, lease_read->resource_version,
                       plan.renew_every, now);
      result.Update(renewed);
      outcome.lease_now = renewed.ok() ? want : current;
    } else {
      absl::StatusOr<pool::LeaseState> written = pool::WriteLeaseChange(
          *deps_.writer, ns, pool, plan.policy, lease_read, decide);
      if (written.ok()) {
        outcome.lease_now = *written;
      } else if (pool::IsLeaseConflict(written.status())) {
        outcome.lease_conflict = true;
      } else {
        result.Update(written.status());
      }
    }
  }

  // 5. The leader Services (created above when they were missing), with
  //    the annotations naming the leader: after the slices, never before.
  //    Skipped when the new leader was lost meanwhile: the next reconcile,
  //    already queued, writes them, and the failover does not wait here.
  const bool preempted = LossPending(pool_key, now);
  for (size_t i : plan.writable) {
    if (preempted) break;
    if (!slice_written[i] || cached_svcs[i] == nullptr) continue;
    const json& have = *cached_svcs[i];
    const std::map<std::string, std::string> have_annotations =
        pool::Annotations(have);
    absl::Time switched = plan.last_switch;
    if (switched == absl::InfinitePast()) {
      // Unknown to this operator (just restarted, no Lease): keep what the
      // Service says.
      auto it = have_annotations.find(pool::kLeaderLastSwitchTimeAnnotation);
      if (it != have_annotations.end()) {
        switched = pool::ParseSwitchTime(it->second).value_or(switched);
      }
    }
    std::optional<pool::LeaderPod> leader;
    if (choice.leader) {
      leader = pool::LeaderPod{choice.leader->name, choice.leader->uid};
    }
    json annotations = pool::LeaderAnnotationsPatch(
        have_annotations, pool::LeaderAnnotations(leader, switched));
    result.Update(PatchIfChanged(
        deps_.writer, kServices,
        pool::LeaderServiceApply(snap.routes[i].source), have,
        annotations.empty() ? json::object()
                            : annotations["metadata"]["annotations"]));
  }

  // 6. Report: Events, the registry, metrics, the LeaderPolicy status.
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
    leader_changes_->WithLabels({ns, pool})->Inc();
  }
  if (candidates_gauge_) {
    candidates_gauge_->WithLabels({ns, pool})->Set(choice.ready_candidates);
  }
  deps_.registry->Set(report.registry);
  if (report.status && !LossPending(pool_key, now)) {
    json desired =
        pool::PolicyStatusApply(ns, pool, *report.status, *policy_obj, now);
    json have = policy_obj->contains("status") ? (*policy_obj)["status"]
                                               : json::object();
    StatusWrite sw = PlanStatusWrite(have, desired["status"], now,
                                     kCandidatesDebounce, state);
    if (sw.due) {
      absl::MutexLock lock(&mu_);
      if (queue_ != nullptr) {
        queue_->AddAfter(pool_key, *sw.due - now, runtime::Priority::kLow);
      }
    }
    if (!sw.patch.empty()) {
      result.Update(deps_.writer
                        ->Patch(kPolicies, ns, pool, client::PatchType::kMerge,
                                {{"status", sw.patch}}, "status")
                        .status());
    }
  }

  // Members that left the pool: their leader Services and slices go, after
  // the failover writes above (a failed delete must not hold routing up).
  result.Update(Cleanup(ns, pool, source_names));

  {
    absl::MutexLock lock(&mu_);
    if (auto it = pools_.find(pool_key); it != pools_.end()) {
      // A leader loss seen by a pod event while this reconcile ran stays
      // recorded (its failover latency is measured by the next reconcile).
      if (it->second.loss_observed > now) {
        state.loss_observed = it->second.loss_observed;
      }
      it->second = state;
    }
    // Scheduled whatever the result (a failed step is retried separately,
    // with backoff; AddAfter keeps the earliest time, so this never piles
    // up): a pool must never drop out of renewals or re-checks because a
    // later write of its reconcile failed.
    if (queue_ != nullptr) {
      // The Lease renewal is upkeep: its own key, in the low lane.
      if (choice.leader && !outcome.lease_conflict) {
        queue_->AddAfter(RenewKey(key), plan.renew_every,
                         runtime::Priority::kLow);
      }
      // A minReadySeconds re-check may elect a leader: high lane when the
      // pool has none.
      if (choice.recheck_after) {
        queue_->AddAfter(pool_key,
                         *choice.recheck_after + absl::Milliseconds(10),
                         choice.leader ? runtime::Priority::kNormal
                                       : runtime::Priority::kHigh);
      }
      if (report.no_candidates_recheck) {
        queue_->AddAfter(
            pool_key,
            *report.no_candidates_recheck - now + absl::Milliseconds(10),
            runtime::Priority::kLow);
      }
    }
  }
  return result;
}

absl::Status TrafficDirector::WriteRenewal(const std::string& ns,
                                           const std::string& pool,
                                           const pool::LeaseState& lease,
                                           const std::string& resource_version,
                                           absl::Duration every,
                                           absl::Time now) {
  if (renewal_lateness_ && lease.renew_time != absl::InfinitePast()) {
    renewal_lateness_->WithLabels({})->ObserveDuration(
        std::max(now - (lease.renew_time + every), absl::ZeroDuration()));
  }
  // The routine write, ~200/s at 1,000 pools: a merge patch of renewTime
  // costs the API server far less than a server-side apply. Conditioned on
  // the version the renewal was decided from: a Lease someone else changed
  // meanwhile (another holder) is never extended; the 409 sends the pool
  // to a full reconcile.
  json patch = {{"metadata", {{"resourceVersion", resource_version}}},
                {"spec", {{"renewTime", pool::RfcMicroTime(now)}}}};
  return deps_.writer
      ->Patch(kLeases, ns, pool, client::PatchType::kMerge, patch, "")
      .status();
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
  absl::Status s =
      WriteRenewal(ns, pool, *lease, read->resource_version, every, now);
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
      s = renewal ? Renew(item->pool) : Reconcile(item->pool);
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
