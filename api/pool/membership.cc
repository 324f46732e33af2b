#include "api/pool/membership.h"

#include <algorithm>
#include <array>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/client/errors.h"
#include "api/types/cronjob.h"
#include "api/types/deployment.h"
#include "api/types/job.h"
#include "api/types/replicaset.h"
#include "api/types/statefulset.h"

namespace zenlead::pool {
namespace {

using json = nlohmann::json;
namespace k8s = zenlead::k8s;

std::string MetaString(const json& obj, const char* field) {
  if (!obj.is_object()) return "";
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return "";
  auto v = m->find(field);
  return v != m->end() && v->is_string() ? v->get<std::string>() : "";
}

// The source kind a pod's own annotations most likely come through, from
// its controller: the workload itself is not looked up on that path.
Source::Kind AnnotationSourceKind(const std::optional<OwnerRef>& controller) {
  if (controller && controller->kind == "StatefulSet") {
    return Source::Kind::kStatefulSet;
  }
  if (controller && controller->kind == "Job") return Source::Kind::kJob;
  return Source::Kind::kDeployment;
}

class Walk {
 public:
  Walk(const OwnerIndex& index, OwnerReader* reader,
       const MembershipOptions& options)
      : index_(index), reader_(reader), options_(options) {}

  void Add(const Source& s) {
    out_.pools.push_back({PoolKey{s.ns, s.pool}, s});
  }

  // Follows the controller references up from `from`.
  void Up(OwnerNode from) {
    // Followed by UID, bounded, with a cycle check: ownerReferences are
    // written by users too, and a ReplicaSet that names itself as its owner
    // must not take a process down.
    std::set<std::string> seen;
    if (!from.uid.empty()) seen.insert(from.uid);
    OwnerNode current = std::move(from);
    for (int depth = 0; depth < kMaxOwnerDepth; ++depth) {
      if (!current.controller || current.controller->uid.empty()) return;
      const OwnerRef ref = *current.controller;
      if (!seen.insert(ref.uid).second) {
        out_.cycle_at = std::move(current);
        out_.cycle_owner = ref;
        return;
      }
      if (FollowedOwnerKind(ref.kind) == nullptr)
        return;  // not a workload chain
      std::optional<OwnerNode> node = index_.Owner(current.ns, ref);
      if (!node && reader_ != nullptr) {
        absl::StatusOr<std::optional<OwnerNode>> read =
            reader_->Read(current.ns, ref);
        if (!read.ok()) {
          out_.unresolved = read.status();
          return;
        }
        if (!*read) return;  // gone (or the name now has another UID)
        node = std::move(*read);
      } else if (!node) {
        if (options_.require_owners) {
          out_.unresolved = absl::UnavailableError(
              absl::StrCat(ref.kind, " ", current.ns, "/", ref.name, " (uid ",
                           ref.uid, ") is not in the cache yet"));
        }
        return;
      }
      if (node->source) Add(*node->source);
      current = std::move(*node);
    }
  }

  PodPools Done() && {
    std::sort(out_.pools.begin(), out_.pools.end(),
              [](const Membership& a, const Membership& b) {
                return std::make_tuple(a.pool.ns, a.pool.name,
                                       static_cast<int>(a.source.kind),
                                       a.source.uid) <
                       std::make_tuple(b.pool.ns, b.pool.name,
                                       static_cast<int>(b.source.kind),
                                       b.source.uid);
              });
    out_.pools.erase(std::unique(out_.pools.begin(), out_.pools.end(),
                                 [](const Membership& a, const Membership& b) {
                                   return a.pool == b.pool &&
                                          a.source.kind == b.source.kind &&
                                          a.source.uid == b.source.uid;
                                 }),
                     out_.pools.end());
    return std::move(out_);
  }

 private:
  const OwnerIndex& index_;
  OwnerReader* const reader_;
  const MembershipOptions options_;
  PodPools out_;
};

}  // namespace

const OwnerKind* FollowedOwnerKind(absl::string_view kind) {
  // Built on first use: each Resource() is a function-local static too.
  static const auto* const kinds = new std::array<OwnerKind, 5>{{
      {"ReplicaSet", &k8s::ReplicaSetClient::Resource(), std::nullopt},
      {"Deployment", &k8s::DeploymentClient::Resource(),
       Source::Kind::kDeployment},
      {"StatefulSet", &k8s::StatefulSetClient::Resource(),
       Source::Kind::kStatefulSet},
      {"Job", &k8s::JobClient::Resource(), Source::Kind::kJob},
      {"CronJob", &k8s::CronJobClient::Resource(), Source::Kind::kCronJob},
  }};
  for (const OwnerKind& k : *kinds) {
    if (kind == k.name) return &k;
  }
  return nullptr;
}

std::optional<OwnerNode> OwnerNodeOf(const std::string& kind, const json& obj) {
  if (!obj.is_object() || !obj.contains("metadata")) return std::nullopt;
  OwnerNode n;
  n.kind = kind;
  n.ns = MetaString(obj, "namespace");
  n.name = MetaString(obj, "name");
  n.uid = MetaString(obj, "uid");
  n.controller = ControllerOwner(obj);
  if (const OwnerKind* k = FollowedOwnerKind(kind); k != nullptr && k->source) {
    n.source = SourceFromWorkload(*k->source, obj);
  }
  return n;
}

OwnerReader::OwnerReader(client::Client* client, client::Clock* clock,
                         Options options)
    : client_(client),
      clock_(clock != nullptr ? clock : client::RealClock()),
      options_(options) {}

int64_t OwnerReader::reads() const {
  absl::MutexLock lock(&mu_);
  return reads_;
}

absl::StatusOr<std::optional<OwnerNode>> OwnerReader::Read(
    const std::string& ns, const OwnerRef& ref) {
  const OwnerKind* owner = FollowedOwnerKind(ref.kind);
  if (owner == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("owners of kind ", ref.kind, " are not followed"));
  }
  const std::string key = absl::StrCat(ns, "/", ref.uid);
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second.expires > clock_->Now()) {
      return it->second.node;
    }
    ++reads_;
  }
  absl::StatusOr<json> got = client_->Get(*owner->resource, ns, ref.name);
  std::optional<OwnerNode> node;
  if (got.ok()) {
    node = OwnerNodeOf(ref.kind, *got);
    if (node && node->uid != ref.uid) node.reset();  // the name was reused
  } else if (!client::IsNotFound(got.status())) {
    return got.status();
  }
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  if (entries_.size() >= options_.max_entries) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = it->second.expires <= now ? entries_.erase(it) : std::next(it);
    }
    if (entries_.size() >= options_.max_entries)
      entries_.erase(entries_.begin());
  }
  entries_[key] = Entry{node, now + options_.ttl};
  return node;
}

std::vector<PoolKey> PodPools::Keys() const {
  std::vector<PoolKey> out;
  for (const Membership& m : pools) {
    if (out.empty() || !(out.back() == m.pool)) out.push_back(m.pool);
  }
  return out;
}

std::vector<PoolKey> PodPools::KeysVia(
    std::initializer_list<Source::Kind> kinds) const {
  std::vector<PoolKey> out;
  for (const Membership& m : pools) {
    if (std::find(kinds.begin(), kinds.end(), m.source.kind) == kinds.end()) {
      continue;
    }
    if (out.empty() || !(out.back() == m.pool)) out.push_back(m.pool);
  }
  return out;
}

PodPools PoolsOfPod(const json& pod, const std::string& ns,
                    const OwnerIndex& index, OwnerReader* reader,
                    const MembershipOptions& options) {
  Walk walk(index, reader, options);
  OwnerNode self;
  self.kind = "Pod";
  self.ns = ns.empty() ? MetaString(pod, "namespace") : ns;
  self.name = MetaString(pod, "name");
  if (self.name.empty()) self.name = MetaString(pod, "generateName");
  self.uid = MetaString(pod, "uid");
  // Decoded once for the three reads below.
  const k8s::ObjectMeta meta = MembershipMetaOf(pod);
  self.controller = ControllerOwner(meta);
  // The pod's own annotations name a pool without any lookup.
  if (std::string joined = PodAnnotationPool(meta); !joined.empty()) {
    Source s;
    s.kind = AnnotationSourceKind(self.controller);
    s.ns = self.ns;
    s.pool = std::move(joined);
    walk.Add(s);
  }
  // Services select pods by label.
  const std::map<std::string, std::string> labels =
      meta.labels.value_or(std::map<std::string, std::string>());
  if (!labels.empty()) {
    for (const Source& s : index.ServicesSelecting(self.ns, labels)) {
      walk.Add(s);
    }
  }
  walk.Up(std::move(self));
  PodPools out = std::move(walk).Done();
  // A pool joined by annotation and also reached through its workload is
  // listed once, through the workload.
  std::vector<Membership> kept;
  for (Membership& m : out.pools) {
    if (m.source.uid.empty() && m.source.kind != Source::Kind::kService) {
      bool resolved = false;
      for (const Membership& o : out.pools) {
        resolved |= o.pool == m.pool && !o.source.uid.empty();
      }
      if (resolved) continue;
    }
    kept.push_back(std::move(m));
  }
  out.pools = std::move(kept);
  return out;
}

PodPools PoolsOfOwner(const OwnerNode& start, const OwnerIndex& index,
                      OwnerReader* reader, const MembershipOptions& options) {
  Walk walk(index, reader, options);
  if (start.source) walk.Add(*start.source);
  walk.Up(start);
  return std::move(walk).Done();
}

}  // namespace zenlead::pool
