#include "api/pool/pool_lease.h"

#include <algorithm>
#include <climits>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/client/errors.h"
#include "api/runtime/meta.h"
#include "api/types/lease.h"
#include "api/types/pod.h"

namespace zenlead::pool {
namespace {

const client::Resource& kLeases = k8s::LeaseClient::Resource();

constexpr char kLeaseConflictPrefix[] = "LeaseConflict: ";
constexpr int kWriteAttempts = 3;

// The reservation annotations: the values, or null to remove each.
nlohmann::json ReservationAnnotations(
    const std::optional<Reservation>& reservation) {
  nlohmann::json out = nlohmann::json::object();
  for (const char* key : {kReservedForAnnotation, kReservedForUidAnnotation,
                          kReservedPodAnnotation}) {
    out[key] = nullptr;
  }
  if (!reservation) return out;
  const OwnerRef& owner = reservation->owner;
  // An ownerless pod (one that joins by its own annotations) is reserved by
  // its name alone: the key is there, empty.
  out[kReservedForAnnotation] =
      owner.kind.empty() ? "" : absl::StrCat(owner.kind, "/", owner.name);
  if (!owner.uid.empty()) out[kReservedForUidAnnotation] = owner.uid;
  if (!reservation->pod_name.empty()) {
    out[kReservedPodAnnotation] = reservation->pod_name;
  }
  return out;
}

std::optional<Reservation> ReservationFromAnnotations(
    const std::map<std::string, std::string>& annotations) {
  auto it = annotations.find(kReservedForAnnotation);
  if (it == annotations.end()) return std::nullopt;
  Reservation r;
  const std::string& owner = it->second;
  const size_t slash = owner.find('/');
  if (slash != std::string::npos) {
    r.owner.kind = owner.substr(0, slash);
    r.owner.name = owner.substr(slash + 1);
  }
  auto value = [&](const char* key) {
    auto found = annotations.find(key);
    return found == annotations.end() ? std::string() : found->second;
  };
  r.owner.uid = value(kReservedForUidAnnotation);
  r.pod_name = value(kReservedPodAnnotation);
  return r;
}

bool SameOwner(const OwnerRef& a, const OwnerRef& b) {
  return a.kind == b.kind && a.name == b.name && a.uid == b.uid;
}

bool SameRequest(const PoolLease& lease, const ReservationRequest& request) {
  if (!request.requester.empty() &&
      lease.state.holder_identity == request.requester) {
    return true;
  }
  return !request.pod_name.empty() &&
         lease.reservation->pod_name == request.pod_name &&
         SameOwner(lease.reservation->owner, request.owner);
}

// How long the write loop goes on: a number of attempts, and a deadline on
// a clock (each attempt starts only before it).
struct WriteLimits {
  int attempts = kWriteAttempts;
  absl::Time deadline = absl::InfiniteFuture();
  const client::Clock* clock = client::RealClock();
};

struct WriteOutcome {
  PoolLease lease;  // what the Lease holds afterwards
  bool wrote = false;
  bool fresh = false;  // `lease` was read from the API server by the loop
};

// The one write loop of the pool Lease: decide on what `read` says, POST or
// patch conditioned on its resourceVersion, and on 409 (or AlreadyExists)
// read again and decide again.
absl::StatusOr<WriteOutcome> WriteLoop(
    client::Client& client, const std::string& ns, const std::string& pool,
    const PolicySettings& policy, std::optional<LeaseRead> read, bool fresh,
    const PoolLeaseDecision& decide, const WriteLimits& limits) {
  for (int attempt = 0; attempt < limits.attempts; ++attempt) {
    if (read && read->foreign) {
      return absl::FailedPreconditionError(absl::StrCat(
          kLeaseConflictPrefix, "a Lease named ", pool, " exists in ", ns,
          " and is not managed by zen-lead; rename the pool or remove that "
          "Lease"));
    }
    if (limits.clock->Now() >= limits.deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the deadline passed after ", attempt,
          " write attempt(s) on the pool Lease ", ns, "/", pool,
          ", each refused because the Lease had changed; nothing was "
          "written, so an admission is denied (the pod's controller "
          "retries)"));
    }
    std::optional<PoolLease> current = PoolLeaseOf(read);
    std::optional<PoolLease> want = decide(current);
    if (!want) return WriteOutcome{current.value_or(PoolLease{}), false, fresh};
    absl::Status written;
    if (!read) {
      nlohmann::json object = LeaseApply(ns, pool, policy, pool, want->state);
      const nlohmann::json annotations =
          ReservationAnnotations(want->reservation);
      for (const auto& [key, value] : annotations.items()) {
        if (!value.is_null()) object["metadata"]["annotations"][key] = value;
      }
      written = client.Create(kLeases, ns, object).status();
      if (!client::IsAlreadyExists(written)) {
        if (written.ok()) return WriteOutcome{*std::move(want), true, true};
        return written;
      }
    } else {
      // The precondition: the API server answers 409 if the Lease is no
      // longer at the version the decision was computed from.
      nlohmann::json patch = LeasePatch(ns, pool, policy, *want);
      patch["metadata"]["resourceVersion"] = read->resource_version;
      written =
          client.Patch(kLeases, ns, pool, client::PatchType::kMerge, patch, "")
              .status();
      if (!client::IsConflict(written)) {
        if (written.ok()) return WriteOutcome{*std::move(want), true, true};
        return written;
      }
    }
    // Someone wrote (or created) the Lease since it was read: decide again
    // from what it says now.
    absl::StatusOr<std::optional<LeaseRead>> again =
        ReadLease(client, ns, pool);
    if (!again.ok()) return again.status();
    read = std::move(*again);
    fresh = true;
  }
  return absl::AbortedError(
      absl::StrCat("the pool Lease ", ns, "/", pool, " changed during each of ",
                   limits.attempts, " writes; retrying later"));
}

}  // namespace

std::optional<LeaseRead> LeaseReadFromObject(const nlohmann::json& lease) {
  if (!lease.is_object()) return std::nullopt;
  LeaseRead read;
  read.resource_version = runtime::MetadataString(lease, "resourceVersion");
  std::optional<LeaseState> state = LeaseFromObject(lease);
  if (state) {
    read.state = std::move(*state);
    read.reservation = ReservationFromAnnotations(Annotations(lease));
  } else {
    read.foreign = true;
  }
  return read;
}

std::optional<PoolLease> PoolLeaseOf(const std::optional<LeaseRead>& read) {
  if (!read) return std::nullopt;
  return PoolLease{read->state, read->reservation};
}

absl::StatusOr<std::optional<LeaseRead>> ReadLease(client::Client& client,
                                                   const std::string& ns,
                                                   const std::string& pool) {
  absl::StatusOr<nlohmann::json> lease = client.Get(kLeases, ns, pool);
  if (client::IsNotFound(lease.status())) {
    return std::optional<LeaseRead>();
  }
  if (!lease.ok()) return lease.status();
  std::optional<LeaseRead> read = LeaseReadFromObject(*lease);
  if (!read) {
    return absl::InternalError(absl::StrCat(
        "the API server returned no object for Lease ", ns, "/", pool));
  }
  return read;
}

int64_t NextToken(int64_t transitions, int64_t high_water) {
  return std::max(transitions, high_water) + 1;
}

std::optional<LeaseState> NextLease(const std::optional<LeaseState>& current,
                                    const std::optional<Candidate>& leader,
                                    const PolicySettings& policy,
                                    int64_t high_water,
                                    absl::Duration renew_every,
                                    absl::Time now) {
  LeaseState next = current.value_or(LeaseState{});
  const std::string new_uid = leader ? leader->uid : "";
  const bool holder_changed = !current || next.holder_uid != new_uid;
  if (holder_changed) {
    next.holder_uid = new_uid;
    next.holder_identity = leader ? leader->identity : "";
    if (leader) {
      next.transitions = NextToken(next.transitions, high_water);
      next.acquire_time = now;
    }
  }
  if (leader) next.holder_identity = leader->identity;
  next.lease_duration_seconds = policy.lease_duration_seconds;
  const bool renew = leader && now - next.renew_time >= renew_every;
  if ((holder_changed && leader) || renew) next.renew_time = now;
  if (current && !holder_changed && !renew &&
      current->holder_identity == next.holder_identity &&
      current->lease_duration_seconds == next.lease_duration_seconds) {
    return std::nullopt;
  }
  return next;
}

bool OnlyRenewal(const LeaseState& current, const LeaseState& next) {
  return current.holder_uid == next.holder_uid &&
         current.holder_identity == next.holder_identity &&
         current.transitions == next.transitions &&
         current.acquire_time == next.acquire_time &&
         current.lease_duration_seconds == next.lease_duration_seconds;
}

LeasePhase PhaseOf(const PoolLease& lease) {
  if (!lease.state.holder_uid.empty()) return LeasePhase::kHeld;
  if (lease.reservation) return LeasePhase::kReserved;
  return LeasePhase::kFree;
}

absl::Time ReservationUntil(const LeaseState& state) {
  return state.renew_time + absl::Seconds(state.lease_duration_seconds);
}

bool ReservationExpired(const PoolLease& lease, absl::Time now) {
  return PhaseOf(lease) == LeasePhase::kReserved &&
         now >= ReservationUntil(lease.state);
}

ReservationDecision DecideReservation(const std::optional<PoolLease>& current,
                                      const ReservationRequest& request,
                                      const PolicySettings& policy,
                                      int64_t high_water, absl::Time now) {
  using Verdict = ReservationDecision::Verdict;
  const PoolLease lease = current.value_or(PoolLease{});
  switch (PhaseOf(lease)) {
    case LeasePhase::kHeld:
      if (request.gone_holder_uid.empty() ||
          request.gone_holder_uid != lease.state.holder_uid) {
        return {Verdict::kDeny, lease};
      }
      break;
    case LeasePhase::kReserved:
      if (!ReservationExpired(lease, now)) {
        return {SameRequest(lease, request) ? Verdict::kAlreadyReserved
                                            : Verdict::kDeny,
                lease};
      }
      break;
    case LeasePhase::kFree:
      break;
  }
  // A new holder: the next token, the requester as holderIdentity, no pod
  // yet, expiring leaseDurationSeconds from now.
  PoolLease next;
  next.state.holder_identity = request.requester;
  next.state.transitions = NextToken(lease.state.transitions, high_water);
  next.state.acquire_time = now;
  next.state.renew_time = now;
  next.state.lease_duration_seconds = policy.lease_duration_seconds;
  next.reservation = Reservation{request.owner, request.pod_name};
  return {Verdict::kAdmit, std::move(next)};
}

absl::StatusOr<ReservationDecision> DryRunReservation(
    const std::optional<LeaseRead>& read, const ReservationRequest& request,
    const PolicySettings& policy, int64_t high_water, absl::Time now) {
  if (read && read->foreign) {
    return absl::FailedPreconditionError(absl::StrCat(
        kLeaseConflictPrefix,
        "the pool's Lease exists and is not managed by zen-lead; rename the "
        "pool or remove that Lease"));
  }
  return DecideReservation(PoolLeaseOf(read), request, policy, high_water, now);
}

bool Admitted(const absl::StatusOr<ReservationDecision>& decision) {
  return decision.ok() && decision->Admits();
}

std::string DenialMessage(const std::string& ns, const std::string& pool,
                          const ReservationDecision& decision) {
  const PoolLease& lease = decision.lease;
  std::string what;
  if (PhaseOf(lease) == LeasePhase::kHeld) {
    what = absl::StrCat("its active pod ", lease.state.holder_identity,
                        " (uid ", lease.state.holder_uid, ")");
  } else if (lease.reservation) {
    const Reservation& r = *lease.reservation;
    std::string pod = r.pod_name.empty() ? "a pod" : "pod " + r.pod_name;
    std::string owner =
        r.owner.kind.empty()
            ? std::string()
            : absl::StrCat(" of ", r.owner.kind, " ", r.owner.name);
    what = absl::StrCat("a reservation for ", pod, owner, " (by ",
                        lease.state.holder_identity, ", until ",
                        RfcTime(ReservationUntil(lease.state)), ")");
  } else {
    what = "another admission";
  }
  return absl::StrCat("pool ", pool, " in namespace ", ns,
                      " allows one active pod and is held by ", what,
                      ", fencing token ", lease.state.transitions,
                      "; see kubectl get lease -n ", ns, " ", pool);
}

std::optional<PoolLease> BindReservation(
    const std::optional<PoolLease>& current, const Candidate& pod,
    const OwnerRef& pod_owner, absl::Time now) {
  if (!current || PhaseOf(*current) != LeasePhase::kReserved) {
    return std::nullopt;
  }
  const Reservation& r = *current->reservation;
  // A reservation that names neither an owner nor a pod matches nothing.
  if (pod.uid.empty() || (r.owner.kind.empty() && r.pod_name.empty())) {
    return std::nullopt;
  }
  if (!SameOwner(r.owner, pod_owner)) return std::nullopt;
  if (!r.pod_name.empty() && r.pod_name != pod.name) return std::nullopt;
  PoolLease next = *current;
  next.reservation.reset();
  next.state.holder_uid = pod.uid;
  next.state.holder_identity = pod.identity.empty() ? pod.name : pod.identity;
  next.state.renew_time = now;
  return next;
}

std::optional<PoolLease> ReleaseIfGone(
    const std::optional<PoolLease>& current,
    const std::optional<std::string>& holder_phase) {
  if (!current || PhaseOf(*current) != LeasePhase::kHeld) return std::nullopt;
  if (holder_phase && !FinishedPhase(*holder_phase)) {
    return std::nullopt;  // still active
  }
  PoolLease next = *current;
  next.state.holder_uid.clear();
  next.state.holder_identity.clear();
  next.reservation.reset();
  return next;
}

std::optional<PoolLease> ExpireReservation(
    const std::optional<PoolLease>& current, absl::Time now) {
  if (!current || !ReservationExpired(*current, now)) return std::nullopt;
  PoolLease next = *current;
  next.state.holder_identity.clear();
  next.reservation.reset();
  return next;
}

nlohmann::json LeasePatch(const std::string& ns, const std::string& pool,
                          const PolicySettings& policy,
                          const LeaseState& state) {
  nlohmann::json patch = LeaseApply(ns, pool, policy, pool, state);
  patch.erase("apiVersion");
  patch.erase("kind");
  patch["metadata"].erase("name");
  patch["metadata"].erase("namespace");
  nlohmann::json& spec = patch["spec"];
  for (const char* field : {"holderIdentity", "acquireTime", "renewTime"}) {
    if (!spec.contains(field)) spec[field] = nullptr;
  }
  // No LeaderPolicy (any more): no owner.
  if (!patch["metadata"].contains("ownerReferences")) {
    patch["metadata"]["ownerReferences"] = nullptr;
  }
  return patch;
}

nlohmann::json LeasePatch(const std::string& ns, const std::string& pool,
                          const PolicySettings& policy,
                          const PoolLease& lease) {
  nlohmann::json patch = LeasePatch(ns, pool, policy, lease.state);
  patch["metadata"]["annotations"].update(
      ReservationAnnotations(lease.reservation));
  return patch;
}

bool IsLeaseConflict(const absl::Status& status) {
  return absl::IsFailedPrecondition(status) &&
         absl::StartsWith(status.message(), kLeaseConflictPrefix);
}

absl::StatusOr<LeaseState> WriteLeaseChange(client::Client& client,
                                            const std::string& ns,
                                            const std::string& pool,
                                            const PolicySettings& policy,
                                            std::optional<LeaseRead> read,
                                            const LeaseDecision& decide) {
  PoolLeaseDecision whole =
      [&decide](
          const std::optional<PoolLease>& current) -> std::optional<PoolLease> {
    std::optional<LeaseState> want = decide(
        current ? std::optional<LeaseState>(current->state) : std::nullopt);
    if (!want) return std::nullopt;
    PoolLease next{*std::move(want),
                   current ? current->reservation : std::nullopt};
    // A pod holder supersedes a reservation.
    if (!next.state.holder_uid.empty() &&
        (!current || current->state.holder_uid != next.state.holder_uid)) {
      next.reservation.reset();
    }
    return next;
  };
  absl::StatusOr<WriteOutcome> out = WriteLoop(
      client, ns, pool, policy, std::move(read), false, whole, WriteLimits{});
  if (!out.ok()) return out.status();
  return std::move(out->lease.state);
}

absl::StatusOr<PoolLease> WritePoolLease(
    client::Client& client, const std::string& ns, const std::string& pool,
    const PolicySettings& policy, std::optional<LeaseRead> read,
    const PoolLeaseDecision& decide, absl::Time deadline,
    const client::Clock& clock) {
  absl::StatusOr<WriteOutcome> out =
      WriteLoop(client, ns, pool, policy, std::move(read), false, decide,
                WriteLimits{INT_MAX, deadline, &clock});
  if (!out.ok()) return out.status();
  return std::move(out->lease);
}

absl::StatusOr<ReservationDecision> WriteReservation(
    client::Client& client, const std::string& ns, const std::string& pool,
    const PolicySettings& policy, std::optional<LeaseRead> read,
    const ReservationDecide& decide, absl::Time deadline,
    const client::Clock& clock) {
  ReservationDecision last;
  PoolLeaseDecision admission =
      [&](const std::optional<PoolLease>& current) -> std::optional<PoolLease> {
    last = decide(current);
    if (last.verdict == ReservationDecision::Verdict::kAdmit) return last.lease;
    return std::nullopt;
  };
  const WriteLimits limits{INT_MAX, deadline, &clock};
  absl::StatusOr<WriteOutcome> out = WriteLoop(
      client, ns, pool, policy, std::move(read), false, admission, limits);
  if (!out.ok()) return out.status();
  if (!out->wrote && !out->fresh &&
      last.verdict == ReservationDecision::Verdict::kAlreadyReserved) {
    // Admitting without a write rests on the read alone: it must be the
    // Lease as it is, not a cache that may lag behind an expiry and a newer
    // reservation.
    absl::StatusOr<std::optional<LeaseRead>> fresh =
        ReadLease(client, ns, pool);
    if (!fresh.ok()) return fresh.status();
    out = WriteLoop(client, ns, pool, policy, *std::move(fresh), true,
                    admission, limits);
    if (!out.ok()) return out.status();
  }
  return last;
}

}  // namespace zenlead::pool
