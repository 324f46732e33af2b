// The TrafficDirector's writer: turns what the planner decided
// (planner.h) into API calls, and nothing else. It reads no cache and keeps
// no state: the controller hands it the snapshot and the plan, and it
// returns what the writes did. Two steps, each its own work item of the
// controller, so that a failover never waits behind the second:
//
//   route:    WriteRoutes (each source's leader Service when it is missing,
//             then its EndpointSlice: the failover itself)
//   publish:  WriteLease (holder, fencing token) -> WriteLeaderServices (the
//             annotations naming the leader) -> PatchStatus -> Cleanup
//
//   PoolWriter writer(client, failover_client);
//   RouteOutcome routed = writer.WriteRoutes(snapshot, plan);
//   ... later, in the publish ...
//   LeaseOutcome lease = writer.WriteLease(snapshot, plan);
//   writer.WriteLeaderServices(snapshot, plan, routed.routed);
//
// Every object is created with a POST (create-only: a name someone else
// holds is never taken) and changed with a JSON merge patch of what differs,
// conditioned on the UID (or, for the Lease, the resourceVersion) it was
// decided from.
#ifndef ZEN_LEAD_OPERATOR_TRAFFICDIRECTOR_WRITER_H_
#define ZEN_LEAD_OPERATOR_TRAFFICDIRECTOR_WRITER_H_

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "api/client/client.h"
#include "api/pool/pool_lease.h"
#include "api/runtime/store.h"
#include "nlohmann/json.hpp"
#include "operator/trafficdirector/planner.h"

namespace zenlead::op {

// Whether zen-lead wrote this object (a leader Service or slice) for the
// source with this UID: its managed-by label and controller owner.
bool OwnedBy(const nlohmann::json& obj, const std::string& owner_uid);
// "Kind/name (uid U)" of an object's controller owner, or "no owner".
std::string OwnerText(const nlohmann::json& obj);

// What the pool Lease write did.
struct LeaseOutcome {
  // The Lease afterwards (nullopt: none, or unknown).
  std::optional<pool::LeaseState> lease_now;
  bool lease_conflict = false;  // a Lease of that name is not zen-lead's
  // OK, or the error of the read or write.
  absl::Status result;
  // Set when the Lease only needed its renewTime moved (written as a
  // renewal): the Lease as it was read (cached, or from the API server).
  std::optional<pool::LeaseState> renewed_from;
  // A guarded pool (followerMode scaleDown): its active pods, oldest first,
  // and whether there is more than one (pool::DecideGuardLease).
  std::vector<std::string> guard_active;
  bool guard_violation = false;
};

class PoolWriter {
 public:
  // writer: routine writes and reads. failover_writer: the EndpointSlice
  // writes (a client of its own, so a failover never waits behind routine
  // writes in a client-side rate limiter). Not owned.
  PoolWriter(client::Client* writer, client::Client* failover_writer);

  // The EndpointSlices of plan.writable, each source's leader Service first
  // when it is not cached (so a slice never serves a Service zen-lead did
  // not create). Returns what the writes found; `routed` holds the sources
  // whose slice now routes as planned.
  RouteOutcome WriteRoutes(const PoolSnapshot& snapshot,
                           const RoutingPlan& plan);

  // The pool Lease for plan.choice: a renewal patch when only renewTime
  // moves, otherwise a holder change conditioned on the resourceVersion it
  // was decided from (pool::WriteLeaseChange). A Lease missing from the
  // snapshot is read from the API server first, so the fencing token
  // always counts from the Lease as it is.
  // cached_lease false: snapshot.lease is not used (it is older than a
  // Lease write since), the Lease is read from the API server.
  LeaseOutcome WriteLease(const PoolSnapshot& snapshot, const RoutingPlan& plan,
                          bool cached_lease = true);

  // The leader Services of the `routed` sources: their ports, and the
  // annotations naming the leader (zen-lead.io/leader-pod-name, -uid,
  // -last-switch-time). Only after their slices: never before.
  absl::Status WriteLeaderServices(const PoolSnapshot& snapshot,
                                   const RoutingPlan& plan,
                                   const std::set<std::string>& routed);

  // A merge patch of the LeaderPolicy's status subresource.
  absl::Status PatchStatus(const pool::PoolKey& key,
                           const nlohmann::json& patch);

  // Moves the Lease's renewTime to `now`, conditioned on the version the
  // renewal was decided from (a Lease someone else changed meanwhile is
  // never extended; the 409 sends the pool to a full reconcile).
  absl::Status WriteRenewal(const pool::PoolKey& key,
                            const std::string& resource_version,
                            absl::Time now);

  // Deletes zen-lead's leader Services and slices in `objects` (cached,
  // of sources that left the pool), each conditioned on its UID.
  absl::Status DeleteStale(const std::vector<runtime::ObjectPtr>& slices,
                           const std::vector<runtime::ObjectPtr>& services);

  // Deletes the pool Lease with this UID (an orphan: no policy owns it).
  absl::Status DeleteLease(const pool::PoolKey& key, const std::string& uid);

 private:
  // WriteLease for a guarded pool: the Lease records the pool's one active
  // pod (bind, release, expire, adopt: pool::DecideGuardLease), not the
  // elected leader; the slices still follow the leader.
  LeaseOutcome WriteGuardLease(const PoolSnapshot& snap,
                               const RoutingPlan& plan,
                               std::optional<pool::LeaseRead> read);

  // Creates an object zen-lead owns that is not in the cache (a POST); if
  // one of that name exists and is `owner_uid`'s, merge-patches it to say
  // what `desired` says; if it exists and is not, leaves it alone and
  // returns FailedPrecondition.
  absl::Status CreateOwned(client::Client* writer, const client::Resource& r,
                           const nlohmann::json& desired,
                           const std::string& owner_uid);
  // Merge-patches an object zen-lead owns (as read: `have`) to say what
  // `desired` says; nothing when it already does. annotations: a merge
  // patch of metadata.annotations to send with it (zen-lead's own keys).
  absl::Status PatchIfChanged(
      client::Client* writer, const client::Resource& r,
      const nlohmann::json& desired, const nlohmann::json& have,
      const nlohmann::json& annotations = nlohmann::json::object());
  // One source's slice (after its Service). False: nothing was written
  // (a conflict or a failure, recorded in `out`).
  bool WriteRoute(const PoolSnapshot& snapshot, const RoutingPlan& plan,
                  const RouteView& route, RouteOutcome& out);

  client::Client* const writer_;
  client::Client* const failover_writer_;
};

}  // namespace zenlead::op

#endif  // ZEN_LEAD_OPERATOR_TRAFFICDIRECTOR_WRITER_H_
