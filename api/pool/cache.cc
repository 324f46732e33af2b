#include "api/pool/cache.h"

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/pool/service_settings.h"
#include "api/runtime/meta.h"
#include "api/types/endpointslice.h"
#include "api/types/leaderpolicy.h"
#include "api/types/lease.h"
#include "api/types/pod.h"
#include "api/types/service.h"

namespace zenlead::pool {
namespace {

using json = nlohmann::json;
using runtime::ObjectPtr;
namespace k8s = zenlead::k8s;

std::string Meta(const json& obj, const char* field) {
  return runtime::MetadataString(obj, field);
}

// The informer that caches each kind an owner chain follows; where such a
// kind is watched, and the source it forms, come from FollowedOwnerKind
// (membership.h).
struct OwnerCache {
  CacheKind kind;
  const char* owner_kind;
};
constexpr OwnerCache kOwnerCaches[] = {
    {CacheKind::kReplicaSets, "ReplicaSet"},
    {CacheKind::kDeployments, "Deployment"},
    {CacheKind::kStatefulSets, "StatefulSet"},
    {CacheKind::kJobs, "Job"},
    {CacheKind::kCronJobs, "CronJob"},
};

// The owner kind an informer of `kind` caches; nullptr for the others.
const OwnerKind* OwnerKindOf(CacheKind kind) {
  for (const OwnerCache& c : kOwnerCaches) {
    if (c.kind == kind) return FollowedOwnerKind(c.owner_kind);
  }
  return nullptr;
}

std::optional<CacheKind> KindOfOwner(const std::string& kind) {
  for (const OwnerCache& c : kOwnerCaches) {
    if (kind == c.owner_kind) return c.kind;
  }
  return std::nullopt;
}

std::optional<Source::Kind> WorkloadKind(CacheKind kind) {
  const OwnerKind* owner = OwnerKindOf(kind);
  return owner != nullptr ? owner->source : std::nullopt;
}

const client::Resource& ResourceOf(CacheKind kind) {
  switch (kind) {
    case CacheKind::kPolicies:
      return api::v1alpha1::LeaderPolicyClient::Resource();
    case CacheKind::kServices:
      return k8s::ServiceClient::Resource();
    case CacheKind::kPods:
      return k8s::PodClient::Resource();
    case CacheKind::kSlices:
      return k8s::EndpointSliceClient::Resource();
    case CacheKind::kLeases:
    case CacheKind::kOtherLeases:
      return k8s::LeaseClient::Resource();
    default:  // a kind an owner chain follows
      return *OwnerKindOf(kind)->resource;
  }
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

json ProjectMetaOnly(const json& obj) {
  return KeepMetadata(obj, {"name", "namespace", "uid", "resourceVersion",
                            "creationTimestamp", "ownerReferences", "labels"});
}

// A workload that joins a pool is kept whole (its template's ports name the
// leader Service's); any other only as a link of owner chains. Unlabelled
// workloads are cached at all because the pod-template form of membership
// (annotations) cannot be selected by label.
json ProjectWorkload(Source::Kind kind, const json& obj) {
  if (SourceFromWorkload(kind, obj)) return WithoutBookkeeping(obj);
  return KeepMetadata(
      obj, {"name", "namespace", "uid", "resourceVersion", "ownerReferences"});
}

// Keeps the identifying metadata and the listed top-level fields: what is
// read of zen-lead's own EndpointSlices and Leases.
json ProjectOwn(const json& obj, std::initializer_list<const char*> fields) {
  // ownerReferences: which source an object serves.
  json out = KeepMetadata(obj, {"name", "namespace", "uid", "resourceVersion",
                                "labels", "annotations", "ownerReferences"});
  for (const char* k : fields) {
    if (auto v = obj.find(k); v != obj.end()) out[k] = *v;
  }
  return out;
}

json ProjectService(const json& svc) {
  json out = ProjectMetaOnly(svc);
  const json& m = svc.contains("metadata") ? svc["metadata"] : json();
  if (m.is_object() && m.contains("annotations") &&
      m["annotations"].is_object()) {
    json annotations = json::object();
    for (const char* k :
         {kEnabledAnnotation, kPoolLabel, kLeaderServiceNameAnnotation,
          kStickyAnnotation, kMinReadyDurationAnnotation,
          kLeaderPodNameAnnotation, kLeaderPodUidAnnotation,
          kLeaderLastSwitchTimeAnnotation}) {
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

runtime::Projection ProjectionOf(CacheKind kind) {
  switch (kind) {
    case CacheKind::kPolicies:
      return WithoutBookkeeping;
    case CacheKind::kDeployments:
    case CacheKind::kStatefulSets:
    case CacheKind::kJobs:
    case CacheKind::kCronJobs: {
      Source::Kind k = *WorkloadKind(kind);
      return [k](const json& o) { return ProjectWorkload(k, o); };
    }
    case CacheKind::kReplicaSets:
      return ProjectMetaOnly;
    case CacheKind::kServices:
      return ProjectService;
    case CacheKind::kPods:
      return ProjectPod;
    case CacheKind::kSlices:
      return [](const json& o) {
        return ProjectOwn(o, {"endpoints", "ports", "addressType"});
      };
    case CacheKind::kLeases:
    case CacheKind::kOtherLeases:
      break;
  }
  return [](const json& o) { return ProjectOwn(o, {"spec"}); };
}

std::string SelectorOf(CacheKind kind) {
  switch (kind) {
    case CacheKind::kSlices:
      return absl::StrCat(kSliceManagedByLabel, "=", kSliceManagedBy);
    case CacheKind::kLeases:
      return absl::StrCat(kManagedByLabel, "=", kManagedBy);
    case CacheKind::kOtherLeases:
      // Also matches a Lease without the label.
      return absl::StrCat(kManagedByLabel, "!=", kManagedBy);
    default:
      return "";
  }
}

std::string FieldSelectorOf(CacheKind kind) {
  return kind == CacheKind::kOtherLeases ? "metadata.namespace!=kube-node-lease"
                                         : "";
}

std::vector<std::string> IndexUid(const json& obj) {
  std::string uid = Meta(obj, "uid");
  if (uid.empty()) return {};
  return {UidKey(Meta(obj, "namespace"), uid)};
}

std::vector<std::string> IndexControllerOwner(const json& obj) {
  std::string uid = ControllerOwnerUid(obj);
  if (uid.empty()) return {};
  return {UidKey(Meta(obj, "namespace"), uid)};
}

std::vector<std::string> IndexPodLabels(const json& pod) {
  std::vector<std::string> out;
  const std::string ns = Meta(pod, "namespace");
  for (const auto& [k, v] : Labels(pod)) out.push_back(LabelKey(ns, k, v));
  return out;
}

std::vector<std::string> IndexServiceSelector(const json& svc) {
  std::vector<std::string> out;
  std::optional<Source> s = SourceFromService(svc);
  if (!s) return out;
  for (const auto& [k, v] : s->selector) out.push_back(LabelKey(s->ns, k, v));
  return out;
}

std::vector<std::string> IndexLeaseHolder(const json& lease) {
  std::optional<LeaseState> l = LeaseFromObject(lease);
  if (!l || l->holder_uid.empty()) return {};
  return {UidKey(Meta(lease, "namespace"), l->holder_uid)};
}

runtime::IndexFunc IndexLeaderName(CacheKind kind) {
  std::optional<Source::Kind> workload = WorkloadKind(kind);
  return [workload](const json& obj) -> std::vector<std::string> {
    std::optional<Source> s =
        workload ? SourceFromWorkload(*workload, obj) : SourceFromService(obj);
    if (!s || !s->Routed()) return {};
    return {NameKey(s->ns, s->LeaderServiceName())};
  };
}

// The indexes of each kind.
std::vector<std::pair<const char*, runtime::IndexFunc>> IndexesOf(
    CacheKind kind) {
  auto pools = [kind](const json& o) { return PoolsIndexedFor(kind, o); };
  switch (kind) {
    case CacheKind::kPolicies:
      return {};
    case CacheKind::kDeployments:
    case CacheKind::kStatefulSets:
      return {{kByPool, pools},
              {kByUid, IndexUid},
              {kByLeaderName, IndexLeaderName(kind)}};
    case CacheKind::kJobs:
      return {{kByPool, pools},
              {kByUid, IndexUid},
              {kByOwner, IndexControllerOwner}};
    case CacheKind::kCronJobs:
      return {{kByPool, pools}, {kByUid, IndexUid}};
    case CacheKind::kReplicaSets:
      return {{kByUid, IndexUid}, {kByOwner, IndexControllerOwner}};
    case CacheKind::kServices:
      return {{kByPool, pools},
              {kBySelector, IndexServiceSelector},
              {kByLeaderName, IndexLeaderName(kind)}};
    case CacheKind::kPods:
      return {{kByOwner, IndexControllerOwner},
              {kByLabel, IndexPodLabels},
              {kByUid, IndexUid}};
    case CacheKind::kSlices:
      return {{kByPool, pools}};
    case CacheKind::kLeases:
      return {{kByPool, pools}, {kByHolder, IndexLeaseHolder}};
    case CacheKind::kOtherLeases:
      break;  // read by name
  }
  return {};
}

}  // namespace

std::string UidKey(const std::string& ns, const std::string& uid) {
  return absl::StrCat(ns, "/", uid);
}

std::string LabelKey(const std::string& ns, const std::string& key,
                     const std::string& value) {
  return absl::StrCat(ns, "/", key, "=", value);
}

std::string NameKey(const std::string& ns, const std::string& name) {
  return absl::StrCat(ns, "/", name);
}

std::vector<std::string> PoolsIndexedFor(CacheKind kind, const json& obj) {
  const std::string ns = Meta(obj, "namespace");
  switch (kind) {
    case CacheKind::kPolicies:
      return {NameKey(ns, Meta(obj, "name"))};
    case CacheKind::kDeployments:
    case CacheKind::kStatefulSets:
    case CacheKind::kJobs:
    case CacheKind::kCronJobs: {
      std::optional<Source> s = SourceFromWorkload(*WorkloadKind(kind), obj);
      if (!s) return {};
      return {NameKey(s->ns, s->pool)};
    }
    case CacheKind::kServices: {
      // An enabled Service's pool, and a leader Service's (zen-lead's own).
      std::vector<std::string> out;
      if (std::optional<Source> s = SourceFromService(obj)) {
        out.push_back(NameKey(s->ns, s->pool));
      }
      std::map<std::string, std::string> labels = Labels(obj);
      if (labels[kManagedByLabel] == kManagedBy &&
          !labels[kPoolLabel].empty()) {
        out.push_back(NameKey(ns, labels[kPoolLabel]));
      }
      return out;
    }
    case CacheKind::kSlices:
    case CacheKind::kLeases: {
      std::map<std::string, std::string> labels = Labels(obj);
      auto it = labels.find(kPoolLabel);
      if (it == labels.end()) return {};
      return {NameKey(ns, it->second)};
    }
    case CacheKind::kReplicaSets:
    case CacheKind::kPods:
    case CacheKind::kOtherLeases:
      break;
  }
  return {};
}

Cache::Cache(CacheDeps deps, CacheOptions options)
    : deps_(deps), options_(std::move(options)) {}

Cache::~Cache() { Stop(); }

absl::StatusOr<runtime::Informer*> Cache::Use(CacheKind kind) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<runtime::Informer>& slot =
      informers_[static_cast<size_t>(kind)];
  if (slot != nullptr) return slot.get();
  if (started_) {
    return absl::FailedPreconditionError(
        "the cache has started; informers are added before Start");
  }
  if (deps_.watch_client == nullptr) {
    return absl::InvalidArgumentError("the cache needs a watch client");
  }
  runtime::InformerOptions o;
  o.resource = ResourceOf(kind);
  o.ns = options_.ns;
  o.label_selector = SelectorOf(kind);
  o.field_selector = FieldSelectorOf(kind);
  o.projection = ProjectionOf(kind);
  o.page_size = options_.page_size;
  o.compact_cache = true;
  o.clock = deps_.clock;
  o.logger = deps_.logger;
  auto informer =
      std::make_unique<runtime::Informer>(deps_.watch_client, std::move(o));
  for (auto& [name, fn] : IndexesOf(kind)) {
    absl::Status s = informer->AddIndexer(name, std::move(fn));
    if (!s.ok()) return s;
  }
  slot = std::move(informer);
  return slot.get();
}

runtime::Informer* Cache::Get(CacheKind kind) const {
  return informers_[static_cast<size_t>(kind)].get();
}

absl::Status Cache::Start() {
  absl::MutexLock lock(&mu_);
  if (started_) return absl::OkStatus();
  started_ = true;
  for (const auto& i : informers_) {
    if (i == nullptr) continue;
    if (absl::Status s = i->Start(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

bool Cache::HasSynced() const {
  {
    absl::MutexLock lock(&mu_);
    if (!started_) return false;
  }
  for (const auto& i : informers_) {
    if (i != nullptr && !i->HasSynced()) return false;
  }
  return true;
}

absl::Status Cache::Healthy(absl::Duration wedged_after) const {
  for (const auto& i : informers_) {
    if (i == nullptr) continue;
    if (absl::Status s = i->Healthy(wedged_after); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void Cache::Stop() {
  for (const auto& i : informers_) {
    if (i != nullptr) i->Stop();
  }
}

ObjectPtr Cache::Object(CacheKind kind, const std::string& ns,
                        const std::string& name) const {
  runtime::Informer* i = Get(kind);
  return i != nullptr ? i->store().Get(ns, name) : nullptr;
}

ObjectPtr Cache::LeaseNamed(const std::string& ns,
                            const std::string& name) const {
  ObjectPtr lease = Object(CacheKind::kLeases, ns, name);
  return lease != nullptr ? lease : Object(CacheKind::kOtherLeases, ns, name);
}

ObjectPtr Cache::ByUid(CacheKind kind, const std::string& ns,
                       const std::string& uid) const {
  std::vector<ObjectPtr> found = ByIndex(kind, kByUid, UidKey(ns, uid));
  return found.empty() ? nullptr : found.front();
}

std::vector<ObjectPtr> Cache::ByIndex(CacheKind kind, const std::string& index,
                                      const std::string& key) const {
  runtime::Informer* i = Get(kind);
  if (i == nullptr) return {};
  absl::StatusOr<std::vector<ObjectPtr>> found = i->store().ByIndex(index, key);
  return found.ok() ? std::move(*found) : std::vector<ObjectPtr>();
}

std::vector<ObjectPtr> Cache::List(CacheKind kind) const {
  runtime::Informer* i = Get(kind);
  return i != nullptr ? i->store().List() : std::vector<ObjectPtr>();
}

std::vector<Source> Cache::SourcesOf(const PoolKey& pool) const {
  std::vector<Source> out;
  const std::string key = NameKey(pool.ns, pool.name);
  for (CacheKind kind :
       {CacheKind::kDeployments, CacheKind::kStatefulSets, CacheKind::kJobs,
        CacheKind::kCronJobs, CacheKind::kServices}) {
    std::optional<Source::Kind> workload = WorkloadKind(kind);
    for (const ObjectPtr& o : ByIndex(kind, kByPool, key)) {
      std::optional<Source> s =
          workload ? SourceFromWorkload(*workload, *o) : SourceFromService(*o);
      if (s && s->pool == pool.name) out.push_back(std::move(*s));
    }
  }
  std::sort(out.begin(), out.end(), [](const Source& a, const Source& b) {
    return std::tie(a.name, a.uid) < std::tie(b.name, b.uid);
  });
  return out;
}

std::vector<ObjectPtr> Cache::PodsOf(const Source& s) const {
  std::vector<ObjectPtr> out;
  auto owned_by = [&](const std::string& uid) {
    for (ObjectPtr& p :
         ByIndex(CacheKind::kPods, kByOwner, UidKey(s.ns, uid))) {
      out.push_back(std::move(p));
    }
  };
  switch (s.kind) {
    case Source::Kind::kDeployment:
      for (const ObjectPtr& rs :
           ByIndex(CacheKind::kReplicaSets, kByOwner, UidKey(s.ns, s.uid))) {
        owned_by(Meta(*rs, "uid"));
      }
      break;
    case Source::Kind::kStatefulSet:
    case Source::Kind::kJob:
      owned_by(s.uid);
      break;
    case Source::Kind::kCronJob:
      for (const ObjectPtr& job :
           ByIndex(CacheKind::kJobs, kByOwner, UidKey(s.ns, s.uid))) {
        owned_by(Meta(*job, "uid"));
      }
      break;
    case Source::Kind::kService: {
      if (s.selector.empty()) break;  // selects nothing
      // Every match carries the selector's first pair.
      const auto& [k, v] = *s.selector.begin();
      for (ObjectPtr& p :
           ByIndex(CacheKind::kPods, kByLabel, LabelKey(s.ns, k, v))) {
        if (SelectorMatches(s.selector, Labels(*p)))
          out.push_back(std::move(p));
      }
      break;
    }
  }
  return out;
}

std::optional<OwnerNode> Cache::Owner(const std::string& ns,
                                      const OwnerRef& ref) const {
  std::optional<CacheKind> kind = KindOfOwner(ref.kind);
  if (!kind || Get(*kind) == nullptr) return std::nullopt;
  ObjectPtr o = ByUid(*kind, ns, ref.uid);
  if (o == nullptr) return std::nullopt;
  return OwnerNodeOf(ref.kind, *o);
}

std::vector<Source> Cache::ServicesSelecting(
    const std::string& ns,
    const std::map<std::string, std::string>& labels) const {
  std::vector<Source> out;
  std::set<std::string> checked;
  for (const auto& [k, v] : labels) {
    for (const ObjectPtr& svc :
         ByIndex(CacheKind::kServices, kBySelector, LabelKey(ns, k, v))) {
      if (!checked.insert(Meta(*svc, "uid")).second) continue;
      std::optional<Source> s = SourceFromService(*svc);
      if (s && SelectorMatches(s->selector, labels)) out.push_back(*s);
    }
  }
  return out;
}

}  // namespace zenlead::pool
