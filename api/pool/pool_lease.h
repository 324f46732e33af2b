// The pool Lease protocol: what the next Lease says (NextLease, pure) and
// how a change of it is written (WriteLeaseChange) so that a fencing token
// is never issued twice; and the admission reservations of scaleDown pools
// and StateGuard (SPEC §3.2-3.3), decided by pure functions and written by
// the same conditioned write loop.
//
// The fencing token is leaseTransitions. Every write that changes the holder
// is conditioned on the resourceVersion the change was computed from: if
// anyone wrote the Lease since (a lagging cache, another replica, the
// webhook), the API server answers 409, the Lease is read again and the
// change decided again from what it says now.
//
//   std::optional<LeaseRead> read = LeaseReadFromObject(cached_lease);
//   absl::StatusOr<LeaseState> written = WriteLeaseChange(
//       client, ns, pool, policy, read,
//       [&](const std::optional<LeaseState>& current) {
//         return NextLease(current, leader, policy, high_water, every, now);
//       });
//   if (IsLeaseConflict(written.status())) { /* a foreign Lease: untouched */ }
//
// Admission (the webhook): reserve the pool for the pod being created; any
// error, a deadline passed during conflicts included, means deny.
//
//   ReservationRequest request{"webhook-0/" + request_uid, owner, pod_name};
//   absl::StatusOr<ReservationDecision> d = WriteReservation(
//       client, ns, pool, policy, read,
//       [&](const std::optional<PoolLease>& current) {
//         return DecideReservation(current, request, policy, high_water, now);
//       },
//       now + absl::Seconds(5));
//   if (!Admitted(d)) { /* deny: DenialMessage(ns, pool, *d) when d.ok() */ }
//
// The operator then moves the reservation on, through the same loop:
//
//   WritePoolLease(client, ns, pool, policy, read,
//       [&](const std::optional<PoolLease>& current) {
//         return BindReservation(current, pod, pod_owner, now);
//       }, deadline);
//
// Compiled in reservation_test.cc.
#ifndef ZEN_LEAD_API_POOL_POOL_LEASE_H_
#define ZEN_LEAD_API_POOL_POOL_LEASE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/client/client.h"
#include "api/client/clock.h"
#include "api/pool/election.h"
#include "api/pool/objects.h"
#include "nlohmann/json.hpp"

namespace zenlead::pool {

// ---- Where an admission reservation lives on the pool Lease.
//
// A reservation is a holder like any other, so it uses the Lease's own
// holder fields, and annotations say only what a Lease has no field for:
//   by whom     spec.holderIdentity: the requester (webhook replica and
//               admission request UID); the holder-uid annotation is empty
//               while no pod holds the pool;
//   since       spec.acquireTime = spec.renewTime = the admission time;
//   until when  spec.renewTime + spec.leaseDurationSeconds, the Lease's own
//               expiry, so kubectl and any Lease-aware tool read the same
//               deadline the operator expires it at (nothing to keep in
//               step with a second copy);
//   token       spec.leaseTransitions, one more than before: each admission
//               is a new holder;
//   for whom    the annotations below: the pod's controller owner (a pod at
//               admission has no UID and often no name) and the pod's name
//               when the request had one (StatefulSet pods).
// Annotations, not a field of our own or a second object, because the
// reservation must change in the same conditioned write as the token: one
// object, one resourceVersion, one precondition.
inline constexpr char kReservedForAnnotation[] = "zen-lead.io/reserved-for";
inline constexpr char kReservedForUidAnnotation[] =
    "zen-lead.io/reserved-for-uid";
inline constexpr char kReservedPodAnnotation[] = "zen-lead.io/reserved-pod";

// The pod a reservation admits: its controller owner (kind, name, uid;
// api_version is not stored) and its name when admission knew it.
struct Reservation {
  OwnerRef owner;
  std::string pod_name;
};

// A pool Lease as read: zen-lead's state of it and the version it was read
// at. `foreign`: a Lease of that name that zen-lead does not manage (the
// state is then empty and must never be written). `reservation`: the
// admission reservation the annotations describe, if any (PhaseOf says
// whether it is in force).
struct LeaseRead {
  LeaseState state;
  std::string resource_version;
  bool foreign = false;
  std::optional<Reservation> reservation = std::nullopt;
};

// What zen-lead writes on the pool Lease: the holder fields and the
// reservation annotations.
struct PoolLease {
  LeaseState state;
  std::optional<Reservation> reservation;
};

// From a Lease object (cached or read); nullopt for a non-object.
std::optional<LeaseRead> LeaseReadFromObject(const nlohmann::json& lease);

// The PoolLease of a read (nullopt: no Lease).
std::optional<PoolLease> PoolLeaseOf(const std::optional<LeaseRead>& read);

// Reads the pool Lease from the API server: nullopt when there is none.
absl::StatusOr<std::optional<LeaseRead>> ReadLease(client::Client& client,
                                                   const std::string& ns,
                                                   const std::string& pool);

// The fencing token of a new holder: one more than the larger of the
// Lease's own count and `high_water` (the largest token zen-lead has issued
// for the pool, kept where it survives the Lease: the LeaderPolicy status),
// so a deleted or recreated Lease never takes the token back.
int64_t NextToken(int64_t transitions, int64_t high_water);

// What the Lease must say for `leader` (nullopt: no leader), or nullopt when
// what it says already is right apart from a renewal that is not due.
//
// A new holder takes NextToken. The holder's renewTime is refreshed when
// `renew_every` has passed.
std::optional<LeaseState> NextLease(const std::optional<LeaseState>& current,
                                    const std::optional<Candidate>& leader,
                                    const PolicySettings& policy,
                                    int64_t high_water,
                                    absl::Duration renew_every, absl::Time now);

// Whether `next` differs from `current` only by renewTime (a renewal, which
// the caller writes as a cheap patch instead).
bool OnlyRenewal(const LeaseState& current, const LeaseState& next);

// ---- Admission reservations (pure; time is passed in).
//
//   free --DecideReservation (webhook)--> reserved --BindReservation
//   (operator)--> held --ReleaseIfGone (operator)--> free
//   reserved --ExpireReservation (operator, after leaseDurationSeconds)-->
//   free
//
// docs/admission.md draws it and says who writes what.

enum class LeasePhase { kFree, kReserved, kHeld };
// Held: a pod's UID is the holder. Reserved: no pod yet, a reservation
// (expired or not: ReservationExpired says). Free: neither.
LeasePhase PhaseOf(const PoolLease& lease);
// renewTime + leaseDurationSeconds.
absl::Time ReservationUntil(const LeaseState& state);
bool ReservationExpired(const PoolLease& lease, absl::Time now);

// One admission request.
struct ReservationRequest {
  // By whom: the webhook replica and the admission request UID, e.g.
  // "zen-lead-webhook-7d9f/3b1c...". The API server sends a retried request
  // with the same UID, so a retry is recognised as the same request.
  std::string requester;
  // The pod's controller owner (ReplicaSet, StatefulSet, Job).
  OwnerRef owner;
  // The pod's name when the request has one (StatefulSet pods), else "".
  std::string pod_name;
  // Set only when the caller read authoritatively (the API server, or a
  // cache known to be current for that pod) that the pod with this UID,
  // which held the Lease as the caller read it, is gone or has finished
  // (phase Succeeded or Failed). A Lease still held by that UID is then
  // taken over in the same write instead of waiting for the operator's
  // ReleaseIfGone; a Lease held by any other pod (it changed hands since
  // the caller's read: a conflict re-read it) denies.
  std::string gone_holder_uid = std::string();
};

struct ReservationDecision {
  enum class Verdict {
    // A new reservation: `lease` is what must be written (token + 1).
    kAdmit,
    // This request's own reservation, unexpired (a retry): admitted with
    // the token it already has, nothing to write.
    kAlreadyReserved,
    // A pod holds the pool, or another request's reservation is in force:
    // `lease` is what blocks (its holder or reservation names it).
    kDeny,
  };
  Verdict verdict = Verdict::kDeny;
  PoolLease lease;

  bool Admits() const { return verdict != Verdict::kDeny; }
  // The fencing token of this admission (meaningful when Admits()).
  int64_t Token() const { return lease.state.transitions; }
};

// The webhook's decision for `request` on the Lease as it is (nullopt: no
// Lease yet, i.e. free). An expired reservation counts as free.
//
// "The same request" is the same requester, or the same owner and the same
// non-empty pod name (only one pod of a name can exist). The same owner
// alone is not enough: a ReplicaSet creates its replicas concurrently, each
// in its own request, and only one of them may pass.
ReservationDecision DecideReservation(const std::optional<PoolLease>& current,
                                      const ReservationRequest& request,
                                      const PolicySettings& policy,
                                      int64_t high_water, absl::Time now);

// Dry run (`dryRun` admission requests): the decision on a read Lease,
// written nowhere. A foreign Lease: the LeaseConflict error (deny).
absl::StatusOr<ReservationDecision> DryRunReservation(
    const std::optional<LeaseRead>& read, const ReservationRequest& request,
    const PolicySettings& policy, int64_t high_water, absl::Time now);

// Whether the pod may be created: a decision that admits; every error
// (conflicts past the deadline, a foreign Lease, an unreachable API server)
// denies.
bool Admitted(const absl::StatusOr<ReservationDecision>& decision);

// A denial message naming the pool, what blocks it (the holding pod, or the
// reservation: for whom, by whom, until when) and how to see it.
std::string DenialMessage(const std::string& ns, const std::string& pool,
                          const ReservationDecision& decision);

// The operator, when the reserved pod appears: the pod becomes the holder
// (holderIdentity, holder UID, renewTime = now) with the token the
// admission took, and the reservation annotations go. nullopt (nothing to
// write) unless the Lease is reserved for `pod_owner` (and for the pod's
// name, when the reservation has one). An expired reservation still binds:
// none newer was admitted, so this pod is the one it admitted.
std::optional<PoolLease> BindReservation(
    const std::optional<PoolLease>& current, const Candidate& pod,
    const OwnerRef& pod_owner, absl::Time now);

// The operator, when the holding pod is gone: `holder_phase` is the phase
// of the pod whose UID the Lease holds, nullopt when no such pod exists
// (read authoritatively). Gone or Succeeded/Failed: the holder is cleared,
// the token kept. nullopt (nothing to write) otherwise.
std::optional<PoolLease> ReleaseIfGone(
    const std::optional<PoolLease>& current,
    const std::optional<std::string>& holder_phase);

// The operator, for a reservation whose pod never came: once now is past
// ReservationUntil, the pool is free again (holder and reservation
// cleared, token kept). nullopt (nothing to write) otherwise.
std::optional<PoolLease> ExpireReservation(
    const std::optional<PoolLease>& current, absl::Time now);

// ---- Writing.

// Decides the Lease from what it says now (nullopt: it does not exist);
// nullopt: nothing to write.
using LeaseDecision = std::function<std::optional<LeaseState>(
    const std::optional<LeaseState>& current)>;
using PoolLeaseDecision = std::function<std::optional<PoolLease>(
    const std::optional<PoolLease>& current)>;
using ReservationDecide =
    std::function<ReservationDecision(const std::optional<PoolLease>& current)>;

// Writes the decided change over the Lease as `read` says it is (nullopt:
// it did not exist, so it is created with a POST): a JSON merge patch
// conditioned on read->resource_version. A merge patch, not a server-side
// apply: the Lease is created with a POST (create-only, so two writers
// cannot both create it), and the fields that POST set stay co-owned by its
// field manager, so an apply that leaves holderIdentity out would not
// remove it; the patch says null. A conflict or AlreadyExists re-reads the
// Lease from the API server and decides again, up to 3 times. Returns the
// state the Lease holds afterwards (the written one, or the current one when
// nothing needed writing). A foreign Lease is never written:
// FailedPreconditionError for which IsLeaseConflict is true.
//
// A new pod holder supersedes a reservation (its annotations are cleared);
// otherwise the reservation is left as it is.
//
// managedFields records both writes under the client's field manager
// (RestClientOptions::field_manager): kOperatorFieldManager for the
// operator's client, kWebhookFieldManager for the webhook's.
absl::StatusOr<LeaseState> WriteLeaseChange(client::Client& client,
                                            const std::string& ns,
                                            const std::string& pool,
                                            const PolicySettings& policy,
                                            std::optional<LeaseRead> read,
                                            const LeaseDecision& decide);

// The same loop over the whole PoolLease (reservation annotations
// included), retried on conflict until `deadline` on `clock` instead of a
// number of times: DeadlineExceededError when a write is still refused
// then. The operator's reservation transitions (Bind, Release, Expire)
// go through it.
absl::StatusOr<PoolLease> WritePoolLease(
    client::Client& client, const std::string& ns, const std::string& pool,
    const PolicySettings& policy, std::optional<LeaseRead> read,
    const PoolLeaseDecision& decide, absl::Time deadline,
    const client::Clock& clock = *client::RealClock());

// The webhook's admission write: decides with `decide` (DecideReservation)
// and writes an admission through WritePoolLease; a conflict re-reads and
// decides again, never overwrites. Returns the decision in force: the one
// whose write succeeded, or the one that needed none. An admission that
// needs no write (kAlreadyReserved) decided on the caller's read (possibly a
// lagging cache) is confirmed by a read from the API server first. Any
// error means deny (Admitted).
absl::StatusOr<ReservationDecision> WriteReservation(
    client::Client& client, const std::string& ns, const std::string& pool,
    const PolicySettings& policy, std::optional<LeaseRead> read,
    const ReservationDecide& decide, absl::Time deadline,
    const client::Clock& clock = *client::RealClock());

bool IsLeaseConflict(const absl::Status& status);

// The merge patch that makes a Lease say `state` (what LeaseApply builds,
// with null for a holder, acquireTime or renewTime it no longer has). It
// leaves the reservation annotations alone.
nlohmann::json LeasePatch(const std::string& ns, const std::string& pool,
                          const PolicySettings& policy,
                          const LeaseState& state);
// The same for a whole PoolLease: the reservation annotations too (null
// when it has none).
nlohmann::json LeasePatch(const std::string& ns, const std::string& pool,
                          const PolicySettings& policy, const PoolLease& lease);

}  // namespace zenlead::pool

#endif  // ZEN_LEAD_API_POOL_POOL_LEASE_H_
