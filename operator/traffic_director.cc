#include "operator/traffic_director.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/client/errors.h"
#include "operator/election.h"

namespace zenlead::op {
namespace {

using client::ObjectPtr;
using client::Resource;
using nlohmann::json;

const Resource kPolicies{"coordination.kube-zen.io", "v1alpha1",
                         "leaderpolicies", true};
const Resource kDeployments{"apps", "v1", "deployments", true};
const Resource kStatefulSets{"apps", "v1", "statefulsets", true};
const Resource kReplicaSets{"apps", "v1", "replicasets", true};
const Resource kServices{"", "v1", "services", true};
const Resource kPods{"", "v1", "pods", true};
const Resource kSlices{"discovery.k8s.io", "v1", "endpointslices", true};
const Resource kLeases{"coordination.k8s.io", "v1", "leases", true};

// Index names.
constexpr char kByPool[] = "pool";            // "ns/pool" of a source/object
constexpr char kByOwner[] = "owner";          // controller owner UID
constexpr char kByUid[] = "uid";              // metadata.uid
constexpr char kByHolder[] = "holder";        // a pool Lease's holder pod UID
constexpr char kByLabel[] = "label";          // "ns/key=value" of a pod label
constexpr char kBySelector[] = "selector";    // "ns/key=value" of an enabled
                                              // Service's selector

std::string LabelKey(const std::string& ns, const std::string& k,
                     const std::string& v) {
  return absl::StrCat(ns, "/", k, "=", v);
}

// Label selectors cannot be indexed in general, but equality selectors can
// be narrowed: pods are indexed by each of their labels, and enabled
// Services by each pair of their selector, so matching a pod to its pools
// (or a pool to its pods) looks at the few objects that share a pair instead
// of every object of the namespace (at 1,000 pools, the difference between
// microseconds and seconds per event).
std::vector<std::string> PodLabelPairs(const json& pod) {
  std::vector<std::string> out;
  const std::string ns = client::MetadataString(pod, "namespace");
  for (const auto& [k, v] : Labels(pod)) out.push_back(LabelKey(ns, k, v));
  return out;
}

std::vector<std::string> ServiceSelectorPairs(const json& svc) {
  std::vector<std::string> out;
  std::optional<Source> s = SourceFromService(svc);
  if (!s) return out;
  for (const auto& [k, v] : s->selector) out.push_back(LabelKey(s->ns, k, v));
  return out;
}

std::string PoolKey(const std::string& ns, const std::string& pool) {
  return absl::StrCat(ns, "/", pool);
}

// Work-queue key of a pool's Lease renewal ("renew:ns/pool"; ':' cannot
// appear in a namespace, so it never collides with a pool key).
constexpr char kRenewPrefix[] = "renew:";

// How long a change of status.candidates alone waits to be written.
constexpr absl::Duration kCandidatesDebounce = absl::Seconds(2);
std::string RenewKey(const std::string& pool_key) {
  return absl::StrCat(kRenewPrefix, pool_key);
}

std::string Meta(const json& obj, const char* field) {
  return client::MetadataString(obj, field);
}

// "ns/pool" of a workload carrying the pool label.
client::IndexFunc IndexWorkloadPool(Source::Kind kind) {
  return [kind](const json& obj) -> std::vector<std::string> {
    std::optional<Source> s = SourceFromWorkload(kind, obj);
    if (!s) return {};
    return {PoolKey(s->ns, s->pool)};
  };
}

// "ns/pool" of an enabled Service, and of a leader Service zen-lead manages.
std::vector<std::string> ServicePools(const json& svc) {
  std::vector<std::string> out;
  if (std::optional<Source> s = SourceFromService(svc)) {
    out.push_back(PoolKey(s->ns, s->pool));
  }
  std::map<std::string, std::string> labels = Labels(svc);
  if (labels[kManagedByLabel] == kManagedBy && !labels[kPoolLabel].empty()) {
    out.push_back(PoolKey(Meta(svc, "namespace"), labels[kPoolLabel]));
  }
  return out;
}

// "ns/pool" of an object labelled by zen-lead (slices, leases).
std::vector<std::string> ManagedPool(const json& obj) {
  std::map<std::string, std::string> labels = Labels(obj);
  auto it = labels.find(kPoolLabel);
  if (it == labels.end()) return {};
  return {PoolKey(Meta(obj, "namespace"), it->second)};
}

std::vector<std::string> ControllerOwner(const json& obj) {
  std::string uid = ControllerOwnerUid(obj);
  if (uid.empty()) return {};
  return {uid};
}

// How often a pool Lease is renewed: leaseDuration - renewDeadline (5 s with
// the defaults), at least one second.
absl::Duration RenewInterval(const PolicySettings& policy) {
  int32_t seconds =
      policy.lease_duration_seconds - policy.renew_deadline_seconds;
  return absl::Seconds(std::max<int32_t>(1, seconds));
}

// {"metadata": {the listed metadata fields of obj}}.
json KeepMetadata(const json& obj, std::initializer_list<const char*> keys) {
  json meta = json::object();
  if (auto m = obj.find("metadata"); m != obj.end() && m->is_object()) {
    for (const char* k : keys) {
      if (auto v = m->find(k); v != m->end()) meta[k] = *v;
    }
  }
  return {{"metadata", std::move(meta)}};
}

// Keeps the identifying metadata and the listed top-level fields: what the
// reconcile reads of zen-lead's own EndpointSlices and Leases.
json ProjectOwn(const json& obj, std::initializer_list<const char*> fields) {
  json out = KeepMetadata(obj, {"name", "namespace", "uid", "resourceVersion",
                                "labels", "annotations"});
  for (const char* k : fields) {
    if (auto v = obj.find(k); v != obj.end()) out[k] = *v;
  }
  return out;
}

json ProjectOwnSlice(const json& slice) {
  return ProjectOwn(slice, {"endpoints", "ports"});
}

json ProjectOwnLease(const json& lease) {
  return ProjectOwn(lease, {"spec"});
}

json ProjectMetaOnly(const json& obj) {
  return KeepMetadata(obj, {"name", "namespace", "uid", "resourceVersion",
                            "ownerReferences", "labels"});
}

json ProjectService(const json& svc) {
  json out = ProjectMetaOnly(svc);
  const json& m = svc.contains("metadata") ? svc["metadata"] : json();
  if (m.is_object() && m.contains("annotations") &&
      m["annotations"].is_object()) {
    json annotations = json::object();
    for (const char* k : {kEnabledAnnotation, kPoolLabel}) {
      if (m["annotations"].contains(k)) annotations[k] = m["annotations"][k];
    }
    if (!annotations.empty()) out["metadata"]["annotations"] = annotations;
  }
  if (svc.contains("spec") && svc["spec"].is_object()) {
    json spec = json::object();
    for (const char* k : {"selector", "ports"}) {
      if (svc["spec"].contains(k)) spec[k] = svc["spec"][k];
    }
    out["spec"] = std::move(spec);
  }
  return out;
}

// Whether the cached object already says what the apply body says.
bool SliceUpToDate(const json& desired, const json& cached) {
  auto get = [](const json& j, const char* k) {
    return j.contains(k) ? j[k] : json::array();
  };
  return get(desired, "endpoints") == get(cached, "endpoints") &&
         get(desired, "ports") == get(cached, "ports");
}

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

// Pool events go to the LeaderPolicy, or to the first source without one.
EventInfo PoolEventTarget(bool has_policy, const PolicySettings& policy,
                          const std::vector<Source>& sources,
                          const std::string& ns, const std::string& pool) {
  EventInfo e;
  e.ns = ns;
  if (has_policy) {
    e.api_version = "coordination.kube-zen.io/v1alpha1";
    e.kind = "LeaderPolicy";
    e.name = pool;
    e.uid = policy.uid;
  } else if (!sources.empty()) {
    e.api_version = sources[0].ApiVersion();
    e.kind = sources[0].KindName();
    e.name = sources[0].name;
    e.uid = sources[0].uid;
  }
  return e;
}

bool PodIdentical(const ObjectPtr& a, const ObjectPtr& b) {
  return a && b && *a == *b;
}


}  // namespace

struct TrafficDirector::Informers {
  std::vector<std::unique_ptr<client::RestClient>> clients;
  std::unique_ptr<client::Informer> policies, deployments, statefulsets,
      replicasets, services, pods, slices, leases;

  std::vector<client::Informer*> All() const {
    return {policies.get(),    deployments.get(), statefulsets.get(),
            replicasets.get(), services.get(),    pods.get(),
            slices.get(),      leases.get()};
  }
};

TrafficDirector::TrafficDirector(TrafficDirectorDeps deps,
                                 TrafficDirectorOptions options)
    : deps_(std::move(deps)),
      options_(std::move(options)),
      clock_(deps_.clock != nullptr ? deps_.clock : client::RealClock()),
      log_(client::DefaultLogger().With({{"controller", "trafficdirector"}})) {
  if (deps_.failover_writer == nullptr) deps_.failover_writer = deps_.writer;
  if (deps_.metrics != nullptr) {
    client::Registry& m = *deps_.metrics;
    auto take = [](auto s) { return s.ok() ? *s : nullptr; };
    leader_changes_ =
        take(m.AddCounter("zen_lead_leader_changes_total",
                          "Leader changes per pool.", {"namespace", "pool"}));
    failover_latency_ = take(m.AddHistogram(
        "zen_lead_failover_latency_seconds",
        "From the leader's loss observed (pod event) to the EndpointSlice "
        "written with the new leader.",
        {}, client::LatencyBuckets()));
    pools_gauge_ =
        take(m.AddGauge("zen_lead_pools", "Pools the operator manages.", {}));
    candidates_gauge_ =
        take(m.AddGauge("zen_lead_candidates", "Ready candidate pods per pool.",
                        {"namespace", "pool"}));
    reconcile_duration_ = take(m.AddHistogram(
        "zen_lead_reconcile_duration_seconds", "Duration of one reconcile.",
        {"result"}, client::LatencyBuckets()));
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
      !deps_.new_watch_client) {
    return absl::InvalidArgumentError(
        "TrafficDirector needs a writer client, a watch client factory and a "
        "leader registry");
  }
  auto informers = std::make_unique<Informers>();
  auto make = [&](const Resource& r, std::string label_selector,
                  client::Projection projection)
      -> absl::StatusOr<std::unique_ptr<client::Informer>> {
    absl::StatusOr<std::unique_ptr<client::RestClient>> c =
        deps_.new_watch_client();
    if (!c.ok()) return c.status();
    client::RestClient* raw = c->get();
    informers->clients.push_back(std::move(*c));
    client::InformerOptions o;
    o.resource = r;
    o.ns = options_.ns;
    o.label_selector = std::move(label_selector);
    o.projection = std::move(projection);
    o.interrupt = [raw] { raw->Stop(); };
    // Small pages: the informers list in parallel, and each page is held
    // whole (unprojected) while it is parsed; at 500 objects a page the
    // start-up peak, which the allocator keeps afterwards, was the largest
    // part of the operator's memory at 1,000 pools.
    o.page_size = 100;
    // Serialized caches: a fifth of the memory of parsed objects, for a
    // decode of a few microseconds per read (docs/operator.md, At scale).
    o.compact_cache = true;
    o.clock = deps_.clock;
    return std::make_unique<client::Informer>(raw, std::move(o));
  };
#define ZL_ASSIGN_INFORMER(field, ...)    \
  do {                                    \
    auto made = make(__VA_ARGS__);        \
    if (!made.ok()) return made.status(); \
    informers->field = std::move(*made);  \
  } while (false)
  ZL_ASSIGN_INFORMER(policies, kPolicies, "", WithoutBookkeeping);
  ZL_ASSIGN_INFORMER(deployments, kDeployments, kPoolLabel,
                     WithoutBookkeeping);
  ZL_ASSIGN_INFORMER(statefulsets, kStatefulSets, kPoolLabel,
                     WithoutBookkeeping);
  ZL_ASSIGN_INFORMER(replicasets, kReplicaSets, "", ProjectMetaOnly);
  ZL_ASSIGN_INFORMER(services, kServices, "", ProjectService);
  ZL_ASSIGN_INFORMER(pods, kPods, "", ProjectPod);
  ZL_ASSIGN_INFORMER(slices, kSlices,
                     absl::StrCat(kSliceManagedByLabel, "=", kSliceManagedBy),
                     ProjectOwnSlice);
  ZL_ASSIGN_INFORMER(leases, kLeases,
                     absl::StrCat(kManagedByLabel, "=", kManagedBy),
                     ProjectOwnLease);
#undef ZL_ASSIGN_INFORMER

  absl::Status s;
  s.Update(informers->deployments->AddIndexer(
      kByPool, IndexWorkloadPool(Source::Kind::kDeployment)));
  s.Update(informers->statefulsets->AddIndexer(
      kByPool, IndexWorkloadPool(Source::Kind::kStatefulSet)));
  s.Update(informers->services->AddIndexer(kByPool, ServicePools));
  s.Update(informers->services->AddIndexer(kBySelector, ServiceSelectorPairs));
  s.Update(informers->replicasets->AddIndexer(kByOwner, ControllerOwner));
  s.Update(informers->pods->AddIndexer(kByOwner, ControllerOwner));
  s.Update(informers->pods->AddIndexer(kByLabel, PodLabelPairs));
  s.Update(informers->pods->AddIndexer(
      kByUid, [](const json& o) -> std::vector<std::string> {
        std::string uid = Meta(o, "uid");
        if (uid.empty()) return {};
        return {uid};
      }));
  s.Update(informers->slices->AddIndexer(kByPool, ManagedPool));
  s.Update(informers->leases->AddIndexer(
      kByHolder, [](const json& o) -> std::vector<std::string> {
        std::optional<LeaseState> lease = LeaseFromObject(o);
        if (!lease || lease->holder_uid.empty()) return {};
        return {lease->holder_uid};
      }));
  if (!s.ok()) return s;

  // Events only say which pool to look at.
  auto pool_of_object = [this](client::IndexFunc pools) {
    client::EventHandler h;
    h.on_add = [this, pools](const ObjectPtr& o) {
      for (const std::string& k : pools(*o)) Enqueue(k);
    };
    h.on_update = [this, pools](const ObjectPtr& a, const ObjectPtr& b) {
      for (const std::string& k : pools(*a)) Enqueue(k);
      for (const std::string& k : pools(*b)) Enqueue(k);
    };
    h.on_delete = [this, pools](const ObjectPtr& o, bool) {
      for (const std::string& k : pools(*o)) Enqueue(k);
    };
    return h;
  };
  auto policy_pool = [](const json& o) -> std::vector<std::string> {
    return {PoolKey(Meta(o, "namespace"), Meta(o, "name"))};
  };
  s.Update(informers->policies->AddEventHandler(pool_of_object(policy_pool)));
  s.Update(informers->deployments->AddEventHandler(
      pool_of_object(IndexWorkloadPool(Source::Kind::kDeployment))));
  s.Update(informers->statefulsets->AddEventHandler(
      pool_of_object(IndexWorkloadPool(Source::Kind::kStatefulSet))));
  s.Update(informers->services->AddEventHandler(pool_of_object(ServicePools)));
  s.Update(informers->slices->AddEventHandler(pool_of_object(ManagedPool)));
  client::EventHandler leases;
  leases.on_add = [this](const ObjectPtr& o) {
    for (const std::string& k : ManagedPool(*o)) {
      Enqueue(k);
      MirrorLease(k);
    }
  };
  leases.on_update = [this](const ObjectPtr& a, const ObjectPtr& b) {
    // A renewal this operator wrote says nothing new about the pool; at
    // 1,000 pools renewing every few seconds, reconciling on each one would
    // double the routine work.
    if (LeaseOnlyRenewed(*a, *b)) return;
    std::set<std::string> keys;
    for (const std::string& k : ManagedPool(*a)) keys.insert(k);
    for (const std::string& k : ManagedPool(*b)) keys.insert(k);
    for (const std::string& k : keys) {
      Enqueue(k);
      MirrorLease(k);
    }
  };
  leases.on_delete = [this](const ObjectPtr& o, bool) {
    for (const std::string& k : ManagedPool(*o)) {
      Enqueue(k);
      MirrorLease(k);
    }
  };
  s.Update(informers->leases->AddEventHandler(leases));
  // A new ReplicaSet of a pool's Deployment brings its pods.
  client::EventHandler rs;
  rs.on_add = [this](const ObjectPtr& o) {
    OnPodEvent(nullptr, o);  // ReplicaSet -> Deployment, same owner walk
  };
  rs.on_delete = [this](const ObjectPtr& o, bool) { OnPodEvent(nullptr, o); };
  s.Update(informers->replicasets->AddEventHandler(rs));
  client::EventHandler pods;
  pods.on_add = [this](const ObjectPtr& o) { OnPodEvent(nullptr, o); };
  pods.on_update = [this](const ObjectPtr& a, const ObjectPtr& b) {
    if (!PodIdentical(a, b)) OnPodEvent(a, b);
  };
  pods.on_delete = [this](const ObjectPtr& o, bool) { OnPodEvent(o, nullptr); };
  s.Update(informers->pods->AddEventHandler(pods));
  if (!s.ok()) return s;

  // Event handlers read informers_: set it before the first event.
  informers_ = std::move(informers);
  for (client::Informer* i : informers_->All()) {
    absl::Status started = i->Start();
    if (!started.ok()) return started;
  }
  return absl::OkStatus();
}

bool TrafficDirector::HasSynced() const {
  if (informers_ == nullptr) return false;
  for (client::Informer* i : informers_->All()) {
    if (!i->HasSynced()) return false;
  }
  return true;
}

void TrafficDirector::Enqueue(const std::string& pool_key,
                              client::Priority priority) {
  std::shared_ptr<client::WorkQueue> q;
  {
    absl::MutexLock lock(&mu_);
    q = queue_;
  }
  if (q != nullptr) q->Add(pool_key, priority);
}

void TrafficDirector::EnqueueAll() {
  std::set<std::string> keys;
  for (const ObjectPtr& p : informers_->policies->store().List()) {
    keys.insert(PoolKey(Meta(*p, "namespace"), Meta(*p, "name")));
  }
  for (const ObjectPtr& d : informers_->deployments->store().List()) {
    for (auto& k : IndexWorkloadPool(Source::Kind::kDeployment)(*d)) {
      keys.insert(k);
    }
  }
  for (const ObjectPtr& d : informers_->statefulsets->store().List()) {
    for (auto& k : IndexWorkloadPool(Source::Kind::kStatefulSet)(*d)) {
      keys.insert(k);
    }
  }
  for (const ObjectPtr& o : informers_->services->store().List()) {
    for (auto& k : ServicePools(*o)) keys.insert(k);
  }
  for (const ObjectPtr& o : informers_->slices->store().List()) {
    for (auto& k : ManagedPool(*o)) keys.insert(k);
  }
  for (const ObjectPtr& o : informers_->leases->store().List()) {
    for (auto& k : ManagedPool(*o)) keys.insert(k);
  }
  for (const std::string& k : keys) Enqueue(k);
}

std::set<std::string> TrafficDirector::PoolsOfPod(const json& obj) const {
  std::set<std::string> out;
  const std::string ns = Meta(obj, "namespace");
  const json& refs = obj["metadata"].contains("ownerReferences")
                         ? obj["metadata"]["ownerReferences"]
                         : json::array();
  for (const json& ref : refs) {
    if (!ref.is_object() || !ref.value("controller", false)) continue;
    std::string kind = ref.value("kind", "");
    std::string name = ref.value("name", "");
    if (kind == "ReplicaSet") {
      ObjectPtr rs = informers_->replicasets->store().Get(ns, name);
      if (rs == nullptr) continue;
      for (const std::string& k : PoolsOfPod(*rs)) out.insert(k);
    } else if (kind == "Deployment" || kind == "StatefulSet") {
      const client::Informer* inf = kind == "Deployment"
                                        ? informers_->deployments.get()
                                        : informers_->statefulsets.get();
      ObjectPtr w = inf->store().Get(ns, name);
      if (w == nullptr) continue;
      Source::Kind k = kind == "Deployment" ? Source::Kind::kDeployment
                                            : Source::Kind::kStatefulSet;
      if (std::optional<Source> s = SourceFromWorkload(k, *w)) {
        out.insert(PoolKey(s->ns, s->pool));
      }
    }
  }
  // Services select pods by label (only pods carry the labels): only the
  // Services whose selector shares a pair with the pod's labels can match.
  if (obj.contains("status") || obj.contains("spec")) {
    std::map<std::string, std::string> labels = Labels(obj);
    std::set<std::string> checked;
    for (const auto& [k, v] : labels) {
      absl::StatusOr<std::vector<ObjectPtr>> services =
          informers_->services->store().ByIndex(kBySelector,
                                                LabelKey(ns, k, v));
      if (!services.ok()) continue;
      for (const ObjectPtr& svc : *services) {
        if (!checked.insert(Meta(*svc, "uid")).second) continue;
        std::optional<Source> s = SourceFromService(*svc);
        if (s && SelectorMatches(s->selector, labels)) {
          out.insert(PoolKey(s->ns, s->pool));
        }
      }
    }
  }
  return out;
}

void TrafficDirector::OnPodEvent(const ObjectPtr& old_pod,
                                 const ObjectPtr& new_pod) {
  std::set<std::string> keys;
  if (old_pod) keys = PoolsOfPod(*old_pod);
  if (new_pod) {
    for (const std::string& k : PoolsOfPod(*new_pod)) keys.insert(k);
  }
  const json& ref = new_pod ? *new_pod : *old_pod;
  std::string uid = Meta(ref, "uid");
  // A standby learns the holder's pod name and IP (the Lease may have been
  // listed before the pod).
  absl::StatusOr<std::vector<ObjectPtr>> held =
      informers_->leases->store().ByIndex(kByHolder, uid);
  if (held.ok()) {
    for (const ObjectPtr& lease : *held) {
      for (const std::string& k : ManagedPool(*lease)) MirrorLease(k);
    }
  }
  if (keys.empty()) return;
  // The leader losing its ability to lead starts the failover clock.
  bool can_lead = new_pod != nullptr && CanLead(CandidateFromPod(*new_pod, ""));
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
        if (pool.loss_observed == absl::InfinitePast()) pool.loss_observed = now;
        urgent.insert(k);
      } else if (pool.leader_uid.empty() && can_lead) {
        urgent.insert(k);
      }
    }
  }
  for (const std::string& k : keys) {
    Enqueue(k, urgent.count(k) ? client::Priority::kHigh
                               : client::Priority::kNormal);
  }
}

void TrafficDirector::MirrorLease(const std::string& pool_key) {
  // Held throughout, so that workers starting meanwhile (StartWorkers takes
  // mu_) never have their registry entries overwritten with older data.
  absl::MutexLock lock(&mu_);
  if (queue_ != nullptr) return;  // the active replica writes the registry
  std::vector<std::string> parts =
      absl::StrSplit(pool_key, absl::MaxSplits('/', 1));
  if (parts.size() != 2) return;
  ObjectPtr obj = informers_->leases->store().Get(parts[0], parts[1]);
  std::optional<LeaseState> lease =
      obj ? LeaseFromObject(*obj) : std::nullopt;
  if (!lease) {
    deps_.registry->Remove(parts[0], parts[1]);
    return;
  }
  PoolLeader pl;
  pl.ns = parts[0];
  pl.pool = parts[1];
  pl.fencing_token = lease->transitions;
  pl.has_leader = !lease->holder_uid.empty();
  if (pl.has_leader) {
    pl.holder_identity = lease->holder_identity;
    pl.pod_uid = lease->holder_uid;
    pl.since = lease->acquire_time;
    absl::StatusOr<std::vector<ObjectPtr>> pods =
        informers_->pods->store().ByIndex(kByUid, lease->holder_uid);
    if (pods.ok() && !pods->empty()) {
      Candidate c = CandidateFromPod(*pods->front(), "");
      pl.pod_name = c.name;
      pl.pod_ip = c.pod_ip;
    }
  }
  std::optional<PoolLeader> have = deps_.registry->Get(pl.ns, pl.pool);
  if (!have || !(*have == pl)) deps_.registry->Set(pl);
}

std::vector<Source> TrafficDirector::SourcesOf(const std::string& ns,
                                               const std::string& pool) const {
  std::vector<Source> out;
  const std::string key = PoolKey(ns, pool);
  auto add = [&](const client::Informer& inf, auto to_source) {
    absl::StatusOr<std::vector<ObjectPtr>> objs =
        inf.store().ByIndex(kByPool, key);
    if (!objs.ok()) return;
    for (const ObjectPtr& o : *objs) {
      if (std::optional<Source> s = to_source(*o); s && s->pool == pool) {
        out.push_back(std::move(*s));
      }
    }
  };
  add(*informers_->deployments, [](const json& o) {
    return SourceFromWorkload(Source::Kind::kDeployment, o);
  });
  add(*informers_->statefulsets, [](const json& o) {
    return SourceFromWorkload(Source::Kind::kStatefulSet, o);
  });
  add(*informers_->services,
      [](const json& o) { return SourceFromService(o); });
  std::sort(out.begin(), out.end(), [](const Source& a, const Source& b) {
    return std::tie(a.name, a.uid) < std::tie(b.name, b.uid);
  });
  return out;
}

std::vector<Candidate> TrafficDirector::CandidatesOf(
    const std::vector<Source>& sources, const PolicySettings& policy) const {
  std::map<std::string, Candidate> by_uid;
  auto add_pods_owned_by = [&](const std::string& owner_uid) {
    absl::StatusOr<std::vector<ObjectPtr>> pods =
        informers_->pods->store().ByIndex(kByOwner, owner_uid);
    if (!pods.ok()) return;
    for (const ObjectPtr& p : *pods) {
      Candidate c = CandidateFromPod(*p, policy.identity_strategy);
      by_uid.emplace(c.uid, std::move(c));
    }
  };
  for (const Source& s : sources) {
    switch (s.kind) {
      case Source::Kind::kDeployment: {
        absl::StatusOr<std::vector<ObjectPtr>> sets =
            informers_->replicasets->store().ByIndex(kByOwner, s.uid);
        if (!sets.ok()) break;
        for (const ObjectPtr& rs : *sets) add_pods_owned_by(Meta(*rs, "uid"));
        break;
      }
      case Source::Kind::kStatefulSet:
        add_pods_owned_by(s.uid);
        break;
      case Source::Kind::kService: {
        if (s.selector.empty()) break;  // selects nothing
        // Every match carries the selector's first pair.
        const auto& [k, v] = *s.selector.begin();
        absl::StatusOr<std::vector<ObjectPtr>> pods =
            informers_->pods->store().ByIndex(kByLabel, LabelKey(s.ns, k, v));
        if (!pods.ok()) break;
        for (const ObjectPtr& p : *pods) {
          if (!SelectorMatches(s.selector, Labels(*p))) continue;
          Candidate c = CandidateFromPod(*p, policy.identity_strategy);
          by_uid.emplace(c.uid, std::move(c));
        }
        break;
      }
    }
  }
  std::vector<Candidate> out;
  out.reserve(by_uid.size());
  for (auto& [uid, c] : by_uid) out.push_back(std::move(c));
  return out;
}

std::vector<ContainerPort> TrafficDirector::ContainerPortsOf(
    const std::string& ns, const std::string& pod) const {
  ObjectPtr p = informers_->pods->store().Get(ns, pod);
  if (p == nullptr) return {};
  return PodContainerPorts(*p);
}

absl::Status TrafficDirector::ApplyIfChanged(
    client::Client* writer, const Resource& r, const json& desired,
    const ObjectPtr& cached, bool (*up_to_date)(const json&, const json&)) {
  if (cached != nullptr && up_to_date(desired, *cached)) {
    std::map<std::string, std::string> have = Labels(*cached);
    bool labels_ok = true;
    for (auto it = desired["metadata"]["labels"].begin();
         it != desired["metadata"]["labels"].end(); ++it) {
      if (have[it.key()] != it->get<std::string>()) labels_ok = false;
    }
    if (labels_ok) return absl::OkStatus();
  }
  const std::string ns = desired["metadata"]["namespace"];
  const std::string name = desired["metadata"]["name"];
  if (cached != nullptr && &r == &kSlices) {
    // An EndpointSlice that exists (the failover write): a merge patch of
    // what changed costs the API server less than a server-side apply, and
    // every millisecond of it is failover latency. Our labels are set, never
    // others removed; endpoints and ports are replaced whole.
    json patch = json::object();
    std::map<std::string, std::string> have = Labels(*cached);
    for (auto it = desired["metadata"]["labels"].begin();
         it != desired["metadata"]["labels"].end(); ++it) {
      if (have[it.key()] != it->get<std::string>()) {
        patch["metadata"]["labels"][it.key()] = *it;
      }
    }
    for (const char* field : {"endpoints", "ports"}) {
      json want = desired.contains(field) ? desired[field] : json::array();
      json got = cached->contains(field) ? (*cached)[field] : json::array();
      if (want != got) patch[field] = want;
    }
    if (patch.empty()) return absl::OkStatus();
    return writer->Patch(r, ns, name, client::PatchType::kMerge, patch, "")
        .status();
  }
  client::ApplyOptions apply;
  apply.field_manager = "zen-lead";
  apply.force = true;  // zen-lead owns these objects
  return writer->Apply(r, ns, name, desired, apply).status();
}

absl::Status TrafficDirector::Cleanup(const std::string& ns,
                                      const std::string& pool,
                                      const std::set<std::string>& keep) {
  // Leader Services and slices of sources that left the pool (opt-out).
  const std::string key = PoolKey(ns, pool);
  absl::Status result;
  auto sweep = [&](const client::Informer& inf, const Resource& r) {
    absl::StatusOr<std::vector<ObjectPtr>> objs =
        inf.store().ByIndex(kByPool, key);
    if (!objs.ok()) return;
    for (const ObjectPtr& o : *objs) {
      std::map<std::string, std::string> labels = Labels(*o);
      if (labels[kManagedByLabel] != kManagedBy) continue;
      if (keep.count(labels[kSourceLabel])) continue;
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

void TrafficDirector::Emit(const EventInfo& e) {
  log_.Info("event", {{"reason", e.reason},
                      {"object", absl::StrCat(e.kind, "/", e.ns, "/", e.name)},
                      {"note", e.note}});
  if (deps_.record_event) deps_.record_event(e);
}

absl::Status TrafficDirector::Reconcile(const std::string& pool_key) {
  std::vector<std::string> parts =
      absl::StrSplit(pool_key, absl::MaxSplits('/', 1));
  if (parts.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("pool key \"", pool_key, "\" is not namespace/pool"));
  }
  const std::string& ns = parts[0];
  const std::string& pool = parts[1];
  const absl::Time now = clock_->Now();

  ObjectPtr policy_obj = informers_->policies->store().Get(ns, pool);
  PolicySettings policy =
      policy_obj ? PolicyFromObject(*policy_obj) : PolicySettings{};
  std::vector<Source> sources = SourcesOf(ns, pool);
  std::set<std::string> source_names;
  for (const Source& s : sources) source_names.insert(s.name);
  absl::Status cleanup = Cleanup(ns, pool, source_names);
  if (!cleanup.ok()) return cleanup;

  PoolState state;
  {
    absl::MutexLock lock(&mu_);
    if (sources.empty() && policy_obj == nullptr) {
      pools_.erase(pool_key);
      if (pools_gauge_) pools_gauge_->WithLabels({})->Set(pools_.size());
    } else {
      state = pools_[pool_key];
      if (pools_gauge_) pools_gauge_->WithLabels({})->Set(pools_.size());
    }
  }
  if (sources.empty() && policy_obj == nullptr) {
    deps_.registry->Remove(ns, pool);
    return absl::OkStatus();
  }

  // PolicyNotFound: once per pool until the policy appears.
  bool named = false;
  for (const Source& s : sources) named |= s.pool_named;
  if (!policy.found && named && !state.policy_missing_reported) {
    for (const Source& s : sources) {
      if (!s.pool_named) continue;
      Emit({s.ApiVersion(), s.KindName(), s.ns, s.name, s.uid, true,
            "PolicyNotFound",
            absl::StrCat("LeaderPolicy ", ns, "/", pool,
                         " does not exist; using the default settings")});
    }
    state.policy_missing_reported = true;
  }
  if (policy.found) state.policy_missing_reported = false;

  // Recover the current leader: memory, then the Lease, then the slices.
  ObjectPtr lease_obj = informers_->leases->store().Get(ns, pool);
  std::optional<LeaseState> lease =
      lease_obj ? LeaseFromObject(*lease_obj) : std::nullopt;
  std::string current_uid = state.leader_uid;
  if (current_uid.empty() && lease) current_uid = lease->holder_uid;
  if (current_uid.empty()) {
    for (const Source& s : sources) {
      ObjectPtr slice =
          informers_->slices->store().Get(ns, s.LeaderServiceName());
      if (slice && slice->contains("endpoints") &&
          (*slice)["endpoints"].is_array() && !(*slice)["endpoints"].empty()) {
        const json& ep = (*slice)["endpoints"][0];
        if (ep.contains("targetRef")) {
          current_uid = ep["targetRef"].value("uid", "");
          break;
        }
      }
    }
  }

  std::vector<Candidate> candidates = CandidatesOf(sources, policy);
  Choice choice = ChooseLeader(candidates, current_uid,
                               absl::Seconds(policy.min_ready_seconds), now);

  // 1. EndpointSlices first: this is the failover.
  absl::Status result;
  std::string port_error;
  for (const Source& s : sources) {
    std::vector<SlicePort> ports;
    std::optional<Candidate> endpoint = choice.leader;
    if (choice.leader) {
      absl::StatusOr<std::vector<SlicePort>> resolved =
          ResolveSlicePorts(s.ports, ContainerPortsOf(ns, choice.leader->name));
      if (resolved.ok()) {
        ports = std::move(*resolved);
      } else {
        endpoint.reset();  // fail closed
        port_error = std::string(resolved.status().message());
        if (state.port_error_reported != port_error) {
          Emit({s.ApiVersion(), s.KindName(), s.ns, s.name, s.uid, true,
                "PortResolutionFailed",
                absl::StrCat("Service ", s.LeaderServiceName(),
                             " has no endpoint: ", port_error)});
        }
      }
    }
    result.Update(ApplyIfChanged(
        deps_.failover_writer, kSlices, EndpointSliceApply(s, endpoint, ports),
        informers_->slices->store().Get(ns, s.LeaderServiceName()),
        SliceUpToDate));
  }
  state.port_error_reported = port_error;
  if (choice.changed && state.loss_observed != absl::InfinitePast() &&
      result.ok()) {
    if (failover_latency_) {
      failover_latency_->WithLabels({})->ObserveDuration(now -
                                                         state.loss_observed);
    }
  }
  if (choice.changed || choice.leader)
    state.loss_observed = absl::InfinitePast();

  // 2. The leader Services.
  for (const Source& s : sources) {
    result.Update(ApplyIfChanged(
        deps_.writer, kServices, LeaderServiceApply(s),
        informers_->services->store().Get(ns, s.LeaderServiceName()),
        ServiceUpToDate));
  }

  // 3. The pool Lease: holder, fencing token, renewals.
  bool lease_conflict = false;
  bool lease_exists = lease_obj != nullptr;
  bool lease_unknown = false;
  if (lease_obj == nullptr) {
    // Not in our cache (which holds only zen-lead's Leases): just created
    // by us and not seen yet, a foreign Lease, or none. Ask the API server,
    // so the fencing token always counts from the Lease as it is.
    absl::StatusOr<json> existing = deps_.writer->Get(kLeases, ns, pool);
    if (existing.ok()) {
      lease_exists = true;
      lease = LeaseFromObject(*existing);
      if (!lease) lease_conflict = true;
    } else if (!client::IsNotFound(existing.status())) {
      // Unknown: no Lease write this time; the reconcile is retried.
      result.Update(existing.status());
      lease_unknown = true;
    }
  } else if (!lease) {
    lease_conflict = true;
  }
  LeaseState next = lease.value_or(LeaseState{});
  std::string new_uid = choice.leader ? choice.leader->uid : "";
  bool holder_changed = next.holder_uid != new_uid;
  if (holder_changed) {
    next.holder_uid = new_uid;
    next.holder_identity = choice.leader ? choice.leader->identity : "";
    if (choice.leader) {
      next.transitions += 1;
      next.acquire_time = now;
    }
  }
  if (choice.leader) {
    next.holder_identity = choice.leader->identity;
  }
  next.lease_duration_seconds = policy.lease_duration_seconds;
  // Renewed when no more than renewDeadlineSeconds of validity remain: a
  // renewal that completes within the deadline keeps the Lease unexpired for
  // readers (IsLeader), and no more often, because at 1,000 pools every
  // renewal is an API write.
  const absl::Duration renew_every = RenewInterval(policy);
  bool renew = choice.leader && (now - next.renew_time >= renew_every);
  if (holder_changed || renew) next.renew_time = now;
  bool lease_differs =
      !lease || holder_changed || renew ||
      lease->holder_identity != next.holder_identity ||
      lease->lease_duration_seconds != next.lease_duration_seconds;
  const bool only_renew =
      lease && !holder_changed &&
      lease->holder_identity == next.holder_identity &&
      lease->lease_duration_seconds == next.lease_duration_seconds;
  if (lease_unknown) {
    // Nothing written (see above).
  } else if (!lease_conflict && lease_differs && only_renew) {
    result.Update(WriteRenewal(ns, pool, *lease, renew_every, now));
  } else if (!lease_conflict && lease_differs && !lease_exists) {
    // Not in the cache: create it; AlreadyExists means a Lease of that name
    // appeared meanwhile (ours, lagging in the cache, or a foreign one):
    // the next reconcile tells them apart from the cache.
    absl::Status created =
        deps_.writer->Create(kLeases, ns, LeaseApply(ns, pool, policy, pool, next))
            .status();
    if (client::IsAlreadyExists(created)) {
      absl::StatusOr<json> existing = deps_.writer->Get(kLeases, ns, pool);
      if (existing.ok() && !LeaseFromObject(*existing)) {
        lease_conflict = true;  // never touched; reported in the status
      } else {
        result.Update(created);  // ours, not cached yet: retried
      }
    } else {
      result.Update(created);
    }
  } else if (!lease_conflict && lease_differs) {
    client::ApplyOptions apply;
    apply.force = true;
    absl::StatusOr<json> applied = deps_.writer->Apply(
        kLeases, ns, pool, LeaseApply(ns, pool, policy, pool, next), apply);
    result.Update(applied.status());
  }

  // 4. Leader bookkeeping, events, registry.
  if (choice.changed) {
    std::string previous = state.leader_uid;
    state.leader_uid = new_uid;
    state.leader_since = choice.leader ? now : absl::InfinitePast();
    if (choice.leader) {
      if (leader_changes_) leader_changes_->WithLabels({ns, pool})->Inc();
      EventInfo e =
          PoolEventTarget(policy_obj != nullptr, policy, sources, ns, pool);
      e.reason = previous.empty() && current_uid.empty() ? "LeaderElected"
                                                         : "LeaderChanged";
      e.note = absl::StrCat("pod ", choice.leader->name, " (",
                            choice.leader->pod_ip, ") leads pool ", pool,
                            "; fencing token ", next.transitions);
      if (!e.name.empty()) Emit(e);
      state.no_candidates_reported = false;
    }
  } else if (choice.leader && state.leader_since == absl::InfinitePast()) {
    // Sticky across restarts: the leader was recovered from the cluster.
    state.leader_uid = new_uid;
    state.leader_since =
        lease && lease->holder_uid == new_uid ? lease->acquire_time : now;
  }
  if (!choice.leader && !state.no_candidates_reported && !sources.empty()) {
    EventInfo e =
        PoolEventTarget(policy_obj != nullptr, policy, sources, ns, pool);
    e.warning = true;
    e.reason = "NoReadyCandidates";
    e.note = absl::StrCat("pool ", pool,
                          " has no Ready pod; the leader Service has no "
                          "endpoint");
    Emit(e);
    state.no_candidates_reported = true;
  }
  if (candidates_gauge_) {
    candidates_gauge_->WithLabels({ns, pool})->Set(choice.ready_candidates);
  }
  PoolLeader pl;
  pl.ns = ns;
  pl.pool = pool;
  pl.has_leader = choice.leader.has_value();
  if (choice.leader) {
    pl.holder_identity = choice.leader->identity;
    pl.pod_name = choice.leader->name;
    pl.pod_uid = choice.leader->uid;
    pl.pod_ip = choice.leader->pod_ip;
    pl.since = state.leader_since;
  }
  pl.fencing_token = next.transitions;
  deps_.registry->Set(pl);

  // 5. LeaderPolicy status.
  if (policy_obj) {
    bool single = !sources.empty();
    for (const Source& s : sources) {
      if (s.replicas > 1 ||
          (s.replicas < 0 && static_cast<int>(candidates.size()) > 1)) {
        single = false;
      }
    }
    PoolStatus st;
    st.observed_generation = policy.generation;
    st.candidates = choice.ready_candidates;
    st.transitions = next.transitions;
    st.last_transition = next.acquire_time;
    st.holder = choice.leader;
    st.holder_since = state.leader_since;
    if (lease_conflict) {
      st.phase = choice.leader ? "Stable" : "NoCandidates";
      st.ready = {"False", "LeaseConflict",
                  absl::StrCat("a Lease named ", pool,
                               " exists and is not managed by zen-lead; "
                               "rename the pool or remove that Lease")};
    } else if (!port_error.empty()) {
      st.phase = "NoCandidates";
      st.ready = {"False", "PortResolutionFailed", port_error};
    } else {
      st.ready = {"True", "Reconciled", "the pool is reconciled"};
    }
    if (choice.leader) {
      if (st.phase.empty()) st.phase = single ? "SingleReplica" : "Stable";
      st.leader_elected = {
          "True", "LeaderElected",
          absl::StrCat("pod ", choice.leader->name, " leads the pool")};
    } else {
      st.phase = sources.empty()        ? "NoCandidates"
                 : choice.recheck_after ? "Electing"
                                        : "NoCandidates";
      st.holder_since = absl::InfinitePast();
      st.leader_elected =
          sources.empty()
              ? PoolStatus::Cond{"False", "NoMembers",
                                 "no workload or Service names this pool"}
              : PoolStatus::Cond{"False", "NoReadyCandidates",
                                 "no pod of the pool is Ready"};
    }
    json desired = PolicyStatusApply(ns, pool, st, *policy_obj, now);
    json have = policy_obj->contains("status") ? (*policy_obj)["status"]
                                               : json::object();
    // zen-lead is the status' only writer: a merge patch of the fields that
    // changed (candidates, mostly, under churn) is the cheapest write.
    json patch = MergePatchFor(have, desired["status"]);
    const bool only_candidates = patch.size() == 1 && patch.contains("candidates");
    if (only_candidates && state.candidates_due == absl::InfinitePast()) {
      // Informational only (routing and conditions are unchanged): written
      // after kCandidatesDebounce with whatever the count is then.
      state.candidates_due = now + kCandidatesDebounce;
    }
    if (only_candidates && now < state.candidates_due) {
      // (Re)scheduled every time: an earlier wake-up of the pool, which
      // absorbs a later AddAfter, must not leave the count unwritten.
      absl::MutexLock lock(&mu_);
      if (queue_ != nullptr) {
        queue_->AddAfter(pool_key, state.candidates_due - now,
                         client::Priority::kLow);
      }
    } else {
      state.candidates_due = absl::InfinitePast();
      if (!patch.empty()) {
        result.Update(deps_.writer
                          ->Patch(kPolicies, ns, pool,
                                  client::PatchType::kMerge,
                                  {{"status", patch}}, "status")
                          .status());
      }
    }
  }

  {
    absl::MutexLock lock(&mu_);
    if (pools_.count(pool_key)) pools_[pool_key] = state;
    // Scheduled whatever the result (a failed step is retried separately,
    // with backoff; AddAfter keeps the earliest time, so this never piles
    // up): a pool must never drop out of renewals or re-checks because a
    // later write of its reconcile failed.
    if (queue_ != nullptr) {
      // The Lease renewal is upkeep: its own key, in the low lane.
      if (choice.leader) {
        queue_->AddAfter(RenewKey(pool_key), renew_every,
                         client::Priority::kLow);
      }
      // A minReadySeconds re-check may elect a leader: high lane when the
      // pool has none.
      if (choice.recheck_after) {
        queue_->AddAfter(pool_key,
                         *choice.recheck_after + absl::Milliseconds(10),
                         choice.leader ? client::Priority::kNormal
                                       : client::Priority::kHigh);
      }
    }
  }
  return result;
}

absl::Status TrafficDirector::WriteRenewal(const std::string& ns,
                                           const std::string& pool,
                                           const LeaseState& lease,
                                           absl::Duration every,
                                           absl::Time now) {
  if (renewal_lateness_ && lease.renew_time != absl::InfinitePast()) {
    renewal_lateness_->WithLabels({})->ObserveDuration(
        std::max(now - (lease.renew_time + every), absl::ZeroDuration()));
  }
  // The routine write, ~200/s at 1,000 pools: a merge patch of renewTime
  // costs the API server far less than a server-side apply.
  json patch = {{"spec", {{"renewTime", RfcMicroTime(now)}}}};
  return deps_.writer
      ->Patch(kLeases, ns, pool, client::PatchType::kMerge, patch, "")
      .status();
}

absl::Status TrafficDirector::Renew(const std::string& pool_key) {
  std::vector<std::string> parts =
      absl::StrSplit(pool_key, absl::MaxSplits('/', 1));
  if (parts.size() != 2) return absl::OkStatus();
  const std::string& ns = parts[0];
  const std::string& pool = parts[1];
  ObjectPtr lease_obj = informers_->leases->store().Get(ns, pool);
  std::optional<LeaseState> lease =
      lease_obj ? LeaseFromObject(*lease_obj) : std::nullopt;
  if (!lease || lease->holder_uid.empty()) return absl::OkStatus();
  {
    // Only the leader this operator elected, and only while no reconcile
    // of the pool has moved it (that reconcile schedules its own renewal).
    absl::MutexLock lock(&mu_);
    auto it = pools_.find(pool_key);
    if (it == pools_.end() || it->second.leader_uid != lease->holder_uid) {
      return absl::OkStatus();
    }
  }
  // A leader that can no longer lead is not renewed: its failover is
  // already queued (high lane) and will write the Lease.
  absl::StatusOr<std::vector<ObjectPtr>> pods =
      informers_->pods->store().ByIndex(kByUid, lease->holder_uid);
  if (!pods.ok() || pods->empty() ||
      !CanLead(CandidateFromPod(*pods->front(), ""))) {
    return absl::OkStatus();
  }
  ObjectPtr policy_obj = informers_->policies->store().Get(ns, pool);
  const absl::Duration every = RenewInterval(
      policy_obj ? PolicyFromObject(*policy_obj) : PolicySettings{});
  const absl::Time now = clock_->Now();
  const absl::Time due = lease->renew_time + every;
  if (now < due - absl::Milliseconds(50)) {
    // Renewed meanwhile (by a reconcile): come back when due.
    absl::MutexLock lock(&mu_);
    if (queue_ != nullptr) {
      queue_->AddAfter(RenewKey(pool_key), due - now, client::Priority::kLow);
    }
    return absl::OkStatus();
  }
  absl::Status s = WriteRenewal(ns, pool, *lease, every, now);
  if (!s.ok()) return s;
  absl::MutexLock lock(&mu_);
  if (queue_ != nullptr) {
    queue_->AddAfter(RenewKey(pool_key), every, client::Priority::kLow);
  }
  return absl::OkStatus();
}

void TrafficDirector::RunWorker(client::WorkQueue* queue) {
  while (std::optional<std::string> key = queue->Get()) {
    if (queue->ShuttingDown()) {
      // Lost leadership or stopping: no more writes.
      queue->Done(*key);
      continue;
    }
    absl::Time start = clock_->Now();
    const bool renewal = absl::StartsWith(*key, kRenewPrefix);
    absl::Status s = renewal ? Renew(key->substr(sizeof(kRenewPrefix) - 1))
                             : Reconcile(*key);
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
      queue->AddAfter(*key, renew_backoff_.When(*key), client::Priority::kLow);
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
    client::WorkQueueOptions o;
    o.name = "trafficdirector";
    o.clock = deps_.clock;
    // Per-pool backoff, 5 ms doubling up to 30 s (client-go's default caps
    // at 1000 s and adds a shared 10 qps bucket whose reservations pile up:
    // after an outage, 1,000 failing pools would wait minutes). At most
    // 1,000 / 30 s retries per second while every write fails.
    o.rate_limiter = std::make_unique<client::ExponentialFailureRateLimiter>(
        absl::Milliseconds(5), absl::Seconds(30));
    if (deps_.queue_metrics != nullptr && queue_metrics_ == nullptr) {
      queue_metrics_ = deps_.queue_metrics->ForQueue("trafficdirector");
    }
    o.metrics = queue_metrics_.get();
    queue_ = std::make_shared<client::WorkQueue>(std::move(o));
    for (int i = 0; i < std::max(1, options_.workers); ++i) {
      workers_.emplace_back([this, q = queue_.get()] { RunWorker(q); });
    }
  }
  log_.Info("workers started", {{"workers", options_.workers}});
  EnqueueAll();
}

void TrafficDirector::StopWorkers() {
  std::shared_ptr<client::WorkQueue> q;
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
      for (const std::string& k : ManagedPool(*o)) MirrorLease(k);
    }
  }
}

void TrafficDirector::Stop() {
  StopWorkers();
  if (informers_ != nullptr) {
    for (client::Informer* i : informers_->All()) i->Stop();
  }
}

}  // namespace zenlead::op
