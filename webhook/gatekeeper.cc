#include "webhook/gatekeeper.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "api/client/errors.h"
#include "api/pool/pool_lease.h"
#include "api/runtime/meta.h"
#include "api/types/leaderpolicy.h"
#include "api/types/pod.h"

namespace zenlead::webhook {
namespace {

using api::v1alpha1::LeaderPolicySpec;
using nlohmann::json;

std::string PodName(const json& pod) {
  return runtime::MetadataString(pod, "name");
}

// deletionTimestamp set.
bool Terminating(const json& pod) {
  auto meta = pod.find("metadata");
  if (meta == pod.end() || !meta->is_object()) return false;
  auto ts = meta->find("deletionTimestamp");
  return ts != meta->end() && !ts->is_null();
}

std::string Describe(const json& pod) {
  std::string phase = pool::PodPhase(pod);
  return absl::StrCat("pod ", PodName(pod), " (",
                      phase.empty() ? "Pending" : phase,
                      Terminating(pod) ? ", terminating" : "", ")");
}

}  // namespace

bool ActivePod(const json& pod) {
  return !pool::FinishedPhase(pool::PodPhase(pod));
}

std::vector<GuardedPool> GuardedPoolsOf(
    const std::vector<pool::Membership>& pools,
    const std::function<std::optional<json>(const pool::PoolKey&)>& policy_of) {
  std::map<pool::PoolKey, GuardedPool> by_pool;
  std::map<pool::PoolKey, std::pair<pool::PolicySettings, int64_t>> settings;
  for (const pool::Membership& m : pools) {
    auto s = settings.find(m.pool);
    if (s == settings.end()) {
      std::optional<json> obj = policy_of(m.pool);
      pool::PolicySettings policy =
          obj ? pool::PolicyFromObject(*obj) : pool::DefaultPolicySettings();
      const int64_t high_water = obj ? pool::PolicyStatusTransitions(*obj) : 0;
      s = settings.emplace(m.pool, std::make_pair(policy, high_water)).first;
    }
    const pool::Guard guard = pool::GuardOf(m.source, s->second.first);
    if (guard == pool::Guard::kNone) continue;
    GuardedPool& g = by_pool[m.pool];
    g.pool = m.pool;
    // A pool with Jobs among its sources is StateGuard's, whatever else
    // joins it: the stricter reading names it in messages.
    if (g.guard != pool::Guard::kStateGuard) g.guard = guard;
    g.policy = s->second.first;
    g.high_water = s->second.second;
    g.sources.push_back(m.source);
  }
  std::vector<GuardedPool> out;
  out.reserve(by_pool.size());
  for (auto& [key, g] : by_pool) out.push_back(std::move(g));
  return out;
}

GuardedPods::GuardedPods(const pool::Cache* cache, client::Client* client,
                         pool::OwnerReader* reader, GuardOptions options,
                         const client::Clock* clock)
    : cache_(cache),
      client_(client),
      reader_(reader),
      options_(std::move(options)),
      clock_(clock != nullptr ? clock : client::RealClock()) {}

std::optional<json> GuardedPods::ActivePodOf(const GuardedPool& g) const {
  // Every source of the pool, not only the pod's: a Job pool is one pool
  // across all its Jobs and CronJobs. The pod's own are among them unless
  // one was read from the API server, not yet cached: added then, once.
  std::vector<pool::Source> sources = cache_->SourcesOf(g.pool);
  for (const pool::Source& s : g.sources) {
    const bool listed =
        std::any_of(sources.begin(), sources.end(), [&](const pool::Source& o) {
          return o.kind == s.kind && o.uid == s.uid;
        });
    if (!listed) sources.push_back(s);
  }
  for (const pool::Source& s : sources) {
    if (s.uid.empty()) continue;  // joined by annotation: no owner to follow
    for (const runtime::ObjectPtr& pod : cache_->PodsOf(s)) {
      if (!ActivePod(*pod)) continue;
      if (Terminating(*pod)) {
        // Its deletion may be done and not yet in the cache: the API
        // server says. An error keeps it active.
        absl::StatusOr<json> now =
            client_->Get(k8s::PodClient::Resource(), g.pool.ns, PodName(*pod));
        if (client::IsNotFound(now.status())) continue;
        if (now.ok() && (runtime::MetadataString(*now, "uid") !=
                             runtime::MetadataString(*pod, "uid") ||
                         !ActivePod(*now))) {
          continue;
        }
      }
      return *pod;
    }
  }
  return std::nullopt;
}

bool GuardedPods::HolderGone(const GuardedPool& g,
                             const pool::LeaseRead& read) const {
  const std::string& uid = read.state.holder_uid;
  if (uid.empty()) return false;
  if (runtime::ObjectPtr cached =
          cache_->ByUid(pool::CacheKind::kPods, g.pool.ns, uid)) {
    // A finished pod never runs again; an active one is not gone.
    return !ActivePod(*cached);
  }
  // Not cached: gone, or not seen yet. Only its name can ask the API
  // server, and the Lease names it only when the identity is the name.
  if (g.policy.identity_strategy != LeaderPolicySpec::kIdentityStrategyPod ||
      read.state.holder_identity.empty()) {
    return false;
  }
  absl::StatusOr<json> pod = client_->Get(k8s::PodClient::Resource(), g.pool.ns,
                                          read.state.holder_identity);
  if (client::IsNotFound(pod.status())) return true;
  if (!pod.ok()) return false;
  if (runtime::MetadataString(*pod, "uid") != uid) return true;  // name reused
  return !ActivePod(*pod);
}

absl::StatusOr<std::vector<GuardedPool>> GuardedPods::PoolsOf(
    const k8s::AdmissionRequest& request, pool::OwnerReader* reader) const {
  // The route has made sure the object is there and is a JSON object.
  pool::MembershipOptions membership;
  membership.require_owners = true;
  const pool::PodPools pools =
      pool::PoolsOfPod(*request.object, request.namespace_field.value_or(""),
                       *cache_, reader, membership);
  if (!pools.unresolved.ok()) return pools.unresolved;
  return GuardedPoolsOf(
      pools.pools, [&](const pool::PoolKey& key) -> std::optional<json> {
        runtime::ObjectPtr obj =
            cache_->Object(pool::CacheKind::kPolicies, key.ns, key.name);
        if (obj == nullptr) return std::nullopt;
        return *obj;
      });
}

bool GuardedPods::MustDecide(const k8s::AdmissionRequest& request) {
  absl::StatusOr<std::vector<GuardedPool>> guarded =
      PoolsOf(request, /*reader=*/nullptr);
  return !guarded.ok() || !guarded->empty();
}

Decision GuardedPods::Review(const k8s::AdmissionRequest& request,
                             absl::Time deadline) {
  const json& pod = *request.object;
  absl::StatusOr<std::vector<GuardedPool>> pools = PoolsOf(request, reader_);
  if (!pools.ok()) {
    return Decision::Deny(
        "MembershipUnknown",
        absl::StrCat("zen-lead could not tell whether this pod joins a pool "
                     "that allows one active pod (",
                     pools.status().message(), "); its controller retries"),
        503);
  }
  const std::vector<GuardedPool>& guarded = *pools;
  if (guarded.empty()) return Decision::Allow("InPool");

  const bool dry_run = request.dry_run.value_or(false);
  const k8s::ObjectMeta meta = pool::MembershipMetaOf(pod);
  pool::ReservationRequest base;
  base.requester = absl::StrCat(options_.replica, "/", request.uid);
  if (std::optional<pool::OwnerRef> owner = pool::ControllerOwner(meta)) {
    base.owner = *owner;
  }
  base.pod_name = meta.name.value_or("");

  // Every pool decided from the cache first, so that a pod denied by one
  // pool leaves no reservation on another.
  struct Planned {
    const GuardedPool* g;
    std::optional<pool::LeaseRead> read;
    pool::ReservationRequest request;
  };
  std::vector<Planned> planned;
  const absl::Time now = clock_->Now();
  for (const GuardedPool& g : guarded) {
    const std::string what =
        absl::StrCat("pool ", g.pool.name, " in namespace ", g.pool.ns, " (",
                     pool::GuardName(g.guard), ") allows one active pod");
    if (std::optional<json> active = ActivePodOf(g)) {
      return Decision::Deny(
          "PoolActive", absl::StrCat(what, " and has ", Describe(*active),
                                     "; see kubectl get lease -n ", g.pool.ns,
                                     " ", g.pool.name));
    }
    std::optional<pool::LeaseRead> read;
    if (runtime::ObjectPtr lease = cache_->LeaseNamed(g.pool.ns, g.pool.name)) {
      read = pool::LeaseReadFromObject(*lease);
    }
    if (read && read->foreign) {
      return Decision::Deny(
          "LeaseConflict",
          absl::StrCat(what, ", and its Lease ", g.pool.ns, "/", g.pool.name,
                       " is not managed by zen-lead, so no admission can be "
                       "recorded; rename the pool or the Lease"));
    }
    pool::ReservationRequest r = base;
    if (read.has_value() && HolderGone(g, *read)) {
      r.gone_holder_uid = read->state.holder_uid;
    }
    absl::StatusOr<pool::ReservationDecision> d =
        pool::DryRunReservation(read, r, g.policy, g.high_water, now);
    if (!d.ok()) return Decision::Error("ReservationFailed", d.status());
    if (!d->Admits()) {
      return Decision::Deny("PoolHeld",
                            pool::DenialMessage(g.pool.ns, g.pool.name, *d));
    }
    planned.push_back({&g, std::move(read), std::move(r)});
  }
  if (dry_run) return Decision::Allow("DryRun");

  const absl::Time write_deadline = deadline - options_.answer_margin;
  for (Planned& p : planned) {
    const GuardedPool& g = *p.g;
    absl::StatusOr<pool::ReservationDecision> d = pool::WriteReservation(
        *client_, g.pool.ns, g.pool.name, g.policy, std::move(p.read),
        [&](const std::optional<pool::PoolLease>& current) {
          return pool::DecideReservation(current, p.request, g.policy,
                                         g.high_water, clock_->Now());
        },
        write_deadline, *clock_);
    if (pool::Admitted(d)) continue;
    if (!d.ok()) {
      if (pool::IsLeaseConflict(d.status())) {
        return Decision::Deny(
            "LeaseConflict",
            absl::StrCat(
                "the Lease ", g.pool.ns, "/", g.pool.name,
                " is not managed by zen-lead: ", d.status().message()));
      }
      return Decision::Deny(
          "ReservationFailed",
          absl::StrCat("pool ", g.pool.name, " in namespace ", g.pool.ns,
                       " allows one active pod, and the admission could not "
                       "be recorded on its Lease (",
                       d.status().message(), "); the controller retries"),
          HttpStatusFor(d.status()));
    }
    return Decision::Deny("PoolHeld",
                          pool::DenialMessage(g.pool.ns, g.pool.name, *d));
  }
  return Decision::Allow("Admitted");
}

}  // namespace zenlead::webhook
