#include "operator/trafficdirector/writer.h"

#include <initializer_list>
#include <map>
#include <set>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "api/client/errors.h"
#include "api/pool/guard_lease.h"
#include "api/pool/objects.h"
#include "api/pool/ports.h"
#include "api/pool/service_settings.h"
#include "api/types/endpointslice.h"
#include "api/types/leaderpolicy.h"
#include "api/types/lease.h"
#include "api/types/service.h"

namespace zenlead::op {
namespace {

namespace k8s = zenlead::k8s;
using client::Resource;
using nlohmann::json;
using runtime::ObjectPtr;

const Resource& kPolicies = api::v1alpha1::LeaderPolicyClient::Resource();
const Resource& kServices = k8s::ServiceClient::Resource();
const Resource& kSlices = k8s::EndpointSliceClient::Resource();
const Resource& kLeases = k8s::LeaseClient::Resource();

std::string Meta(const json& obj, const char* field) {
  return runtime::MetadataString(obj, field);
}

// A pool whose Lease records the one active pod the webhook admitted
// (docs/admission.md), rather than the elected leader: scaleDown, with a
// Deployment or StatefulSet among its sources.
bool Guarded(const PoolSnapshot& snap, const RoutingPlan& plan) {
  for (const RouteView& r : snap.routes) {
    if (pool::GuardOf(r.source, plan.policy) == pool::Guard::kGatekeeper) {
      return true;
    }
  }
  return false;
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

// A cached slice's addressType ("IPv4" when it has none).
std::string AddressTypeOfSlice(const json& slice) {
  absl::StatusOr<k8s::EndpointSlice> typed =
      k8s::EndpointSlice::FromJson(slice);
  return typed.ok() && !typed->address_type.empty() ? typed->address_type
                                                    : "IPv4";
}

// The container ports of the pod with this UID among the snapshot's pods.
std::vector<pool::ContainerPort> ContainerPortsOf(const PoolSnapshot& snap,
                                                  const std::string& uid) {
  for (const ObjectPtr& p : snap.pods) {
    if (Meta(*p, "uid") == uid) return pool::PodContainerPorts(*p);
  }
  return {};
}

EventInfo OnSource(const pool::Source& s, const std::string& reason,
                   const std::string& message) {
  return {s.ApiVersion(), s.KindName(), s.ns,   s.name,
          s.uid,          true,         reason, message};
}

}  // namespace

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

PoolWriter::PoolWriter(client::Client* writer, client::Client* failover_writer)
    : writer_(writer),
      failover_writer_(failover_writer != nullptr ? failover_writer : writer) {}

RouteOutcome PoolWriter::WriteRoutes(const PoolSnapshot& snap,
                                     const RoutingPlan& plan) {
  RouteOutcome out;
  for (size_t i : plan.writable) {
    const RouteView& route = snap.routes[i];
    if (WriteRoute(snap, plan, route, out)) out.routed.insert(route.source.uid);
  }
  return out;
}

bool PoolWriter::WriteRoute(const PoolSnapshot& snap, const RoutingPlan& plan,
                            const RouteView& route, RouteOutcome& out) {
  const pool::Source& s = route.source;
  const std::string leader_name = s.LeaderServiceName();
  auto conflict = [&](const absl::Status& st) {
    out.problems.push_back(
        {"LeaderServiceConflict", std::string(st.message())});
    out.warnings.push_back(
        OnSource(s, "LeaderServiceConflict", std::string(st.message())));
    return false;
  };
  if (route.service == nullptr) {
    // First time (or not cached yet): the Service first, so that the slice
    // never serves a Service zen-lead did not create.
    absl::Status created =
        CreateOwned(writer_, kServices, pool::LeaderServiceApply(s), s.uid);
    if (absl::IsFailedPrecondition(created)) return conflict(created);
    if (!created.ok()) {
      out.result.Update(created);
      return false;
    }
  }
  const pool::Choice& choice = plan.choice;
  std::vector<pool::SlicePort> ports;
  std::optional<pool::Candidate> endpoint = choice.leader;
  if (choice.leader) {
    // A Service's leader is its own by its selector; a workload's when it
    // is one of the workload's pods.
    const bool own_pod = s.kind == pool::Source::Kind::kService ||
                         route.pod_uids.count(choice.leader->uid) > 0;
    absl::StatusOr<std::vector<pool::SlicePort>> resolved =
        pool::ResolveSlicePorts(
            s.ports, ContainerPortsOf(snap, choice.leader->uid), own_pod);
    if (resolved.ok()) {
      ports = std::move(*resolved);
    } else {
      endpoint.reset();  // fail closed
      out.port_error = std::string(resolved.status().message());
      out.warnings.push_back(
          OnSource(s, "PortResolutionFailed",
                   absl::StrCat("Service ", leader_name,
                                " has no endpoint: ", out.port_error)));
    }
  }
  const ObjectPtr& cached = route.slice;
  const std::string cached_type = cached ? AddressTypeOfSlice(*cached) : "IPv4";
  const std::string address_type =
      endpoint ? pool::AddressTypeOf(endpoint->pod_ip) : cached_type;
  json desired = pool::EndpointSliceApply(s, endpoint, ports, address_type);
  absl::Status written;
  switch (SliceWriteFor(cached != nullptr, cached && OwnedBy(*cached, s.uid),
                        cached_type, address_type)) {
    case SliceWrite::kCreate:
      written = CreateOwned(failover_writer_, kSlices, desired, s.uid);
      break;
    case SliceWrite::kReplace: {
      client::DeleteOptions del;
      del.uid = Meta(*cached, "uid");
      written = failover_writer_->Delete(kSlices, s.ns, leader_name, del);
      if (written.ok() || client::IsNotFound(written)) {
        written = CreateOwned(failover_writer_, kSlices, desired, s.uid);
      }
      break;
    }
    case SliceWrite::kPatch:
      written = PatchIfChanged(failover_writer_, kSlices, desired, *cached);
      break;
  }
  if (absl::IsFailedPrecondition(written)) return conflict(written);
  out.result.Update(written);
  return written.ok();
}

LeaseOutcome PoolWriter::WriteLease(const PoolSnapshot& snap,
                                    const RoutingPlan& plan,
                                    bool cached_lease) {
  LeaseOutcome out;
  if (!plan.pool_name_valid) return out;  // no Lease can have that name
  const std::string& ns = snap.key.ns;
  const std::string& pool = snap.key.name;
  std::optional<pool::LeaseRead> read =
      cached_lease ? snap.lease : std::nullopt;
  if (!read) {
    // Not in the cache (which holds only zen-lead's Leases): just created
    // and not seen yet, a foreign Lease, or none. Ask the API server.
    absl::StatusOr<std::optional<pool::LeaseRead>> fresh =
        pool::ReadLease(*writer_, ns, pool);
    if (!fresh.ok()) {
      out.result = fresh.status();  // no Lease write, no token this time
      return out;
    }
    read = std::move(*fresh);
  }
  if (read && read->foreign) {
    out.lease_conflict = true;
    return out;
  }
  if (Guarded(snap, plan)) return WriteGuardLease(snap, plan, std::move(read));
  const pool::Choice& choice = plan.choice;
  auto decide = [&](const std::optional<pool::LeaseState>& current) {
    return pool::NextLease(current, choice.leader, plan.policy,
                           plan.token_high_water, plan.renew_every, snap.now);
  };
  std::optional<pool::LeaseState> current =
      read ? std::optional<pool::LeaseState>(read->state) : std::nullopt;
  std::optional<pool::LeaseState> want = decide(current);
  if (!want || (!current && !choice.leader)) {
    // Nothing to change, or nothing to record: no Lease is created for a
    // pool that has never had a leader.
    out.lease_now = current;
    return out;
  }
  if (current && pool::OnlyRenewal(*current, *want)) {
    out.renewed_from = current;
    out.result = WriteRenewal(snap.key, read->resource_version, snap.now);
    out.lease_now = out.result.ok() ? want : current;
    return out;
  }
  absl::StatusOr<pool::LeaseState> written =
      pool::WriteLeaseChange(*writer_, ns, pool, plan.policy, read, decide);
  if (written.ok()) {
    out.lease_now = *written;
  } else if (pool::IsLeaseConflict(written.status())) {
    out.lease_conflict = true;
  } else {
    out.result = written.status();
  }
  return out;
}

LeaseOutcome PoolWriter::WriteGuardLease(const PoolSnapshot& snap,
                                         const RoutingPlan& plan,
                                         std::optional<pool::LeaseRead> read) {
  LeaseOutcome out;
  const std::vector<pool::GuardPod> pods =
      pool::GuardPodsFrom(snap.pods, plan.policy.identity_strategy);
  auto decide = [&](const std::optional<pool::PoolLease>& current) {
    pool::GuardDecision d = pool::DecideGuardLease(current, pods, plan.policy,
                                                   plan.token_high_water,
                                                   plan.renew_every, snap.now);
    out.guard_active = std::move(d.active);
    out.guard_violation = d.violation;
    return d.write;
  };
  std::optional<pool::PoolLease> current = pool::PoolLeaseOf(read);
  std::optional<pool::PoolLease> want = decide(current);
  if (!want) {
    if (current) out.lease_now = current->state;
    return out;
  }
  // Conflicts (the webhook reserving, another write) are decided again
  // from the Lease as it is; a few seconds bound it.
  absl::StatusOr<pool::PoolLease> written = pool::WritePoolLease(
      *writer_, snap.key.ns, snap.key.name, plan.policy, std::move(read),
      decide, absl::Now() + absl::Seconds(5));
  if (written.ok()) {
    out.lease_now = written->state;
  } else if (pool::IsLeaseConflict(written.status())) {
    out.lease_conflict = true;
  } else {
    out.result = written.status();
    if (current) out.lease_now = current->state;
  }
  return out;
}

absl::Status PoolWriter::WriteLeaderServices(
    const PoolSnapshot& snap, const RoutingPlan& plan,
    const std::set<std::string>& routed) {
  absl::Status result;
  std::optional<pool::LeaderPod> leader;
  if (plan.choice.leader) {
    leader = pool::LeaderPod{plan.choice.leader->name, plan.choice.leader->uid};
  }
  for (size_t i : plan.writable) {
    const RouteView& route = snap.routes[i];
    if (route.service == nullptr || routed.count(route.source.uid) == 0) {
      continue;
    }
    const json& have = *route.service;
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
    json annotations = pool::LeaderAnnotationsPatch(
        have_annotations, pool::LeaderAnnotations(leader, switched));
    result.Update(PatchIfChanged(
        writer_, kServices, pool::LeaderServiceApply(route.source), have,
        annotations.empty() ? json::object()
                            : annotations["metadata"]["annotations"]));
  }
  return result;
}

absl::Status PoolWriter::PatchStatus(const pool::PoolKey& key,
                                     const json& patch) {
  return writer_
      ->Patch(kPolicies, key.ns, key.name, client::PatchType::kMerge,
              {{"status", patch}}, "status")
      .status();
}

absl::Status PoolWriter::WriteRenewal(const pool::PoolKey& key,
                                      const std::string& resource_version,
                                      absl::Time now) {
  // The routine write, ~200/s at 1,000 pools: a merge patch of renewTime
  // costs the API server far less than a server-side apply.
  json patch = {{"metadata", {{"resourceVersion", resource_version}}},
                {"spec", {{"renewTime", pool::RfcMicroTime(now)}}}};
  return writer_
      ->Patch(kLeases, key.ns, key.name, client::PatchType::kMerge, patch, "")
      .status();
}

absl::Status PoolWriter::DeleteStale(const std::vector<ObjectPtr>& slices,
                                     const std::vector<ObjectPtr>& services) {
  absl::Status result;
  auto sweep = [&](const std::vector<ObjectPtr>& objs, const Resource& r) {
    for (const ObjectPtr& o : objs) {
      client::DeleteOptions del;
      del.uid = Meta(*o, "uid");
      absl::Status s =
          writer_->Delete(r, Meta(*o, "namespace"), Meta(*o, "name"), del);
      if (!s.ok() && !client::IsNotFound(s)) result.Update(s);
    }
  };
  sweep(slices, kSlices);
  sweep(services, kServices);
  return result;
}

absl::Status PoolWriter::DeleteLease(const pool::PoolKey& key,
                                     const std::string& uid) {
  client::DeleteOptions del;
  del.uid = uid;
  absl::Status s = writer_->Delete(kLeases, key.ns, key.name, del);
  if (!s.ok() && !client::IsNotFound(s) && !client::IsConflict(s)) return s;
  return absl::OkStatus();
}

absl::Status PoolWriter::CreateOwned(client::Client* writer, const Resource& r,
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

absl::Status PoolWriter::PatchIfChanged(client::Client* writer,
                                        const Resource& r, const json& desired,
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

}  // namespace zenlead::op
