// The pool Lease protocol: what the next Lease says (NextLease, pure) and
// how a change of it is written (WriteLeaseChange) so that a fencing token
// is never issued twice.
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
#include "api/pool/election.h"
#include "api/pool/objects.h"
#include "nlohmann/json.hpp"

namespace zenlead::pool {

// A pool Lease as read: zen-lead's state of it and the version it was read
// at. `foreign`: a Lease of that name that zen-lead does not manage (the
// state is then empty and must never be written).
struct LeaseRead {
  LeaseState state;
  std::string resource_version;
  bool foreign = false;
};

// From a Lease object (cached or read); nullopt for a non-object.
std::optional<LeaseRead> LeaseReadFromObject(const nlohmann::json& lease);

// Reads the pool Lease from the API server: nullopt when there is none.
absl::StatusOr<std::optional<LeaseRead>> ReadLease(client::Client& client,
                                                   const std::string& ns,
                                                   const std::string& pool);

// What the Lease must say for `leader` (nullopt: no leader), or nullopt when
// what it says already is right apart from a renewal that is not due.
//
// A new holder takes the next fencing token: one more than the larger of
// the Lease's own count and `high_water` (the largest token zen-lead has
// issued for the pool, kept where it survives the Lease: the LeaderPolicy
// status), so a deleted or recreated Lease never takes the token back.
// The holder's renewTime is refreshed when `renew_every` has passed.
std::optional<LeaseState> NextLease(const std::optional<LeaseState>& current,
                                    const std::optional<Candidate>& leader,
                                    const PolicySettings& policy,
                                    int64_t high_water,
                                    absl::Duration renew_every, absl::Time now);

// Whether `next` differs from `current` only by renewTime (a renewal, which
// the caller writes as a cheap patch instead).
bool OnlyRenewal(const LeaseState& current, const LeaseState& next);

// Decides the Lease from what it says now (nullopt: it does not exist);
// nullopt: nothing to write.
using LeaseDecision = std::function<std::optional<LeaseState>(
    const std::optional<LeaseState>& current)>;

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
// managedFields records both writes under the client's field manager
// (RestClientOptions::field_manager): kOperatorFieldManager for the
// operator's client, kWebhookFieldManager for the webhook's.
absl::StatusOr<LeaseState> WriteLeaseChange(client::Client& client,
                                            const std::string& ns,
                                            const std::string& pool,
                                            const PolicySettings& policy,
                                            std::optional<LeaseRead> read,
                                            const LeaseDecision& decide);

bool IsLeaseConflict(const absl::Status& status);

// The merge patch that makes a Lease say `state` (what LeaseApply builds,
// with null for a holder, acquireTime or renewTime it no longer has).
nlohmann::json LeasePatch(const std::string& ns, const std::string& pool,
                          const PolicySettings& policy,
                          const LeaseState& state);

}  // namespace zenlead::pool

#endif  // ZEN_LEAD_API_POOL_POOL_LEASE_H_
