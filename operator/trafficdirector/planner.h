// The TrafficDirector's decisions, as pure functions ("decide, then
// write"): a reconcile reads a snapshot of one pool from the cache, the
// planner turns it into what must be written, the writer writes it (the
// EndpointSlices first: that is the failover), and the planner then turns
// the outcome of those writes into the report (Events, the LeaderService
// registry entry, the LeaderPolicy status, re-checks). Nothing here reads
// the cache, calls the API server or a clock: time is `snapshot.now`, so
// every phase, condition, Event and fencing-token rule is unit-tested with
// fixed times (planner_test.cc).
//
//   PoolSnapshot snap = ...;                 // from the cache, at now
//   RoutingPlan plan = PlanRouting(snap, memory);
//   ... write plan.routes' slices (SliceWriteFor), Services, the Lease ...
//   WriteOutcome outcome = ...;              // what the writes did
//   ReportPlan report = PlanReport(snap, plan, outcome, options, memory);
//   ... emit report.events, set report.registry, patch report.status ...
//
// Compiled in planner_test.cc.
#ifndef ZEN_LEAD_OPERATOR_TRAFFICDIRECTOR_PLANNER_H_
#define ZEN_LEAD_OPERATOR_TRAFFICDIRECTOR_PLANNER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "api/pool/election.h"
#include "api/pool/objects.h"
#include "api/pool/pool_lease.h"
#include "api/pool/work_item.h"
#include "api/runtime/store.h"
#include "nlohmann/json.hpp"
#include "operator/leaderservice/leader_registry.h"

namespace zenlead::op {

// An Event to record on an object.
struct EventInfo {
  std::string api_version;
  std::string kind;
  std::string ns;
  std::string name;
  std::string uid;
  bool warning = false;
  std::string reason;  // UpperCamelCase
  std::string note;
};

// A reason (UpperCamelCase) and a message for the Ready condition.
using Problem = std::pair<std::string, std::string>;

// What the route of a pool (the slice writes) found, for the publish that
// reports it.
struct RouteOutcome {
  // The leader changed since the last publish took the change (by one or
  // more routes), and who led before the first of those changes.
  bool changed = false;
  std::string from_uid;
  // Every leader the routes routed to since a publish last took them, in
  // order (nullopt: none): each gets its pool Lease transition (its fencing
  // token), also one lost again before the publish ran.
  std::vector<std::optional<pool::Candidate>> leaders;
  // The latest route's findings: the problems and warnings its writes met
  // (a leader Service or slice that is someone else's), the leader's ports
  // that could not be resolved, its first write error.
  std::vector<Problem> problems;
  std::vector<EventInfo> warnings;
  std::string port_error;
  absl::Status result;
  // The sources (by UID) whose EndpointSlice the latest route wrote or
  // found right: their leader Services may name the leader.
  std::set<std::string> routed;
};

// What the operator remembers of a pool between reconciles.
struct PoolMemory {
  // When this operator first reconciled the pool, and whether the pool
  // has had a leader since (or before: a Lease holder): a pool whose
  // first pods are still starting is not yet "without Ready pods".
  absl::Time first_seen = absl::InfinitePast();
  bool ever_led = false;
  // The largest fencing token issued for the pool as far as this
  // operator knows: the next one is larger even if the Lease is gone.
  int64_t token_high_water = 0;
  // The last valid settings of the pool's LeaderPolicy: used while the
  // stored policy is invalid.
  std::optional<pool::PolicySettings> last_good_policy;
  // How often the pool Lease is renewed, as the last reconcile decided
  // (from the last valid settings): what the renewal work item uses.
  absl::Duration renew_every = absl::ZeroDuration();
  // Warnings already recorded, by "<object uid>/<reason>" -> message, so
  // each is recorded once while it lasts (and again if it comes back).
  std::map<std::string, std::string> reported;
  std::string leader_uid;
  absl::Time leader_since = absl::InfinitePast();
  // When the current leader was seen to lose the ability to lead.
  absl::Time loss_observed = absl::InfinitePast();
  bool policy_missing_reported = false;
  bool no_candidates_reported = false;
  // A status change that only moved `candidates` waits until then, so a
  // follower's readiness flapping costs one status write, or none.
  absl::Time candidates_due = absl::InfinitePast();
  // When the leader last changed (to a pod or to none), as this operator
  // saw it: the leader Service's zen-lead.io/leader-last-switch-time.
  absl::Time last_switch = absl::InfinitePast();
  // What the routes left for the publish that follows them.
  RouteOutcome route;
};

// A route and a publish of one pool may run at once (a failover never waits
// for the Lease and status writes of the publish before it), each on its own
// copy of the memory; each writes back only the fields it owns.
//
// The route owns the settings and the leader: first_seen, last_good_policy,
// renew_every, ever_led, leader_uid, leader_since, last_switch, and resets
// no_candidates_reported when it commits a leader. `route` is written by
// the route and taken by the publish (TakeRouteChange) under the owner's
// lock, never merged.
void MergeRouted(const PoolMemory& routed, PoolMemory& into);
// The publish owns the report: token_high_water, reported,
// policy_missing_reported, no_candidates_reported, candidates_due, and the
// leader's start time recovered after a restart (only for the leader the
// memory still names).
void MergePublished(const PoolMemory& published, PoolMemory& into);

// One source of the pool, with what the cache holds under its leader
// Service's name.
struct RouteView {
  pool::Source source;
  bool service_cached = false;
  bool slice_cached = false;
  // The cached slice's endpoint's pod UID ("" when none).
  std::string slice_endpoint_uid;
  // Why zen-lead may not write this source's leader Service and slice
  // (claim check: a foreign object, a name collision, an invalid name).
  std::optional<Problem> claim_problem;
  // The UIDs of the source's own pods (Cache::PodsOf): whether the leader
  // is one of them decides how named target ports resolve.
  std::set<std::string> pod_uids;
  // The cached objects themselves (nullptr: none), for the writer.
  runtime::ObjectPtr service;
  runtime::ObjectPtr slice;
};

// What a reconcile reads, at `now`.
struct PoolSnapshot {
  pool::PoolKey key;
  absl::Time now = absl::InfinitePast();
  // The LeaderPolicy (nullptr: none). Its status is read for the
  // conditions' lastTransitionTime and the token high-water mark.
  const nlohmann::json* policy_object = nullptr;
  // Sorted by name and UID.
  std::vector<RouteView> routes;
  // The pods of every source (cached projections; duplicates allowed).
  std::vector<runtime::ObjectPtr> pods;
  // The pool Lease as cached (nullopt: not cached).
  std::optional<pool::LeaseRead> lease;
};

struct RoutingPlan {
  // The settings in force: the policy's, its last valid ones while it is
  // invalid, or the CRD's defaults.
  pool::PolicySettings policy;
  bool has_policy = false;
  bool pool_name_valid = true;
  // Ready=False reasons so far, most important first.
  std::vector<Problem> problems;
  // Warnings to record once while they last (WarnOnce), and Events to
  // record now.
  std::vector<EventInfo> warnings;
  std::vector<EventInfo> events;
  // Where pool Events go: the LeaderPolicy, or the first source.
  EventInfo pool_target;
  // The leader before this reconcile (memory, Lease, slices), and the
  // choice.
  std::string current_uid;
  // The pods as candidates (by the settings' identity strategy), one per
  // UID, and the choice among them.
  std::vector<pool::Candidate> candidates;
  pool::Choice choice;
  // Indexes into snapshot.routes of the sources zen-lead writes for.
  std::vector<size_t> writable;
  absl::Duration renew_every = absl::ZeroDuration();
  // The token floor: no token issued is ever below it.
  int64_t token_high_water = 0;
  // The Services' settings in force for the pool: sticky unless a source
  // Service says zen-lead.io/sticky: "false" (always the oldest Ready pod);
  // minReadySeconds, or the largest zen-lead.io/min-ready-duration.
  bool sticky = true;
  absl::Duration min_ready = absl::ZeroDuration();
  // When the leader last changed (InfinitePast: unknown to this operator;
  // the leader Service's own annotation then stays).
  absl::Time last_switch = absl::InfinitePast();
};

// Decides the leader and which sources are routed; updates `memory`
// (first sighting, last valid settings, ever led, PolicyNotFound once).
RoutingPlan PlanRouting(const PoolSnapshot& snapshot, PoolMemory& memory);

// Records the plan's leader in `memory` (who leads, since when): done as
// soon as the slices are written, so that a pod event arriving while the
// publish writes (the Lease, the status) already knows the new leader, and
// its loss counts as a failover. A leader recovered after a restart (kept,
// not changed) is recorded too, since the Lease's acquireTime when the
// Lease names it. Idempotent; PlanReport calls it too.
void CommitLeader(const RoutingPlan& plan, const PoolSnapshot& snapshot,
                  PoolMemory& memory);

// How a source's EndpointSlice is written.
enum class SliceWrite {
  kCreate,   // none cached: POST (create-only)
  kPatch,    // ours: a JSON merge patch of what differs
  kReplace,  // delete and create: its addressType is immutable and the
             // leader moved to the other IP family, or a namesake that
             // lost the name wrote it
};
SliceWrite SliceWriteFor(bool cached, bool owned_by_source,
                         const std::string& cached_address_type,
                         const std::string& address_type);

// What the writes did.
struct WriteOutcome {
  // Problems the writes found (a leader Service or slice that turned out
  // to be someone else's).
  std::vector<Problem> problems;
  std::vector<EventInfo> warnings;
  // The leader's ports could not be resolved for some source (fail closed:
  // that slice has no endpoint).
  std::string port_error;
  // The pool Lease after the writes (nullopt: none, or unknown).
  std::optional<pool::LeaseState> lease_now;
  bool lease_conflict = false;  // a Lease of that name is not zen-lead's
  // A guarded pool (scaleDown) seen with more than one active pod, and
  // those pods, oldest first.
  bool guard_violation = false;
  std::vector<std::string> guard_active;
  // The first write error (OK: every write succeeded).
  absl::Status result;
};

// Records a route in `memory.route`: the change accumulates until a publish
// takes it; the findings are the latest route's.
void RecordRoute(const RoutingPlan& plan, RouteOutcome outcome,
                 PoolMemory& memory);
// What a publish starts from: memory.route, whose change is then cleared
// (a route after this point records a change of its own).
RouteOutcome TakeRouteChange(PoolMemory& memory);
// Gives a taken change back (the publish stopped for a newer route): it
// joins any change recorded since, from the earlier leader. The leaders
// taken are not given back: the publish wrote their Lease transitions.
void ReturnRouteChange(const RouteOutcome& taken, PoolMemory& memory);
// What a publish reports: its own plan (from a newer snapshot, which found
// the committed leader unchanged) as the routes left it: the change they
// made and what their writes found.
void ApplyRoute(const RouteOutcome& route, RoutingPlan& plan,
                WriteOutcome& outcome);

struct ReportOptions {
  // See TrafficDirectorOptions::no_candidates_grace.
  absl::Duration no_candidates_grace = absl::Seconds(60);
};

struct ReportPlan {
  // Recorded now, and once while they last.
  std::vector<EventInfo> events;
  std::vector<EventInfo> warnings;
  // The fencing token readers are told: the Lease's, or 0 while it is
  // unknown or in conflict; never a guess.
  int64_t token = 0;
  // For the LeaderService.
  PoolLeader registry;
  // The LeaderPolicy status (when there is a policy).
  std::optional<pool::PoolStatus> status;
  // When to look again because no pod became Ready within the grace.
  std::optional<absl::Time> no_candidates_recheck;
  // A leader was elected or changed (for the metrics).
  bool leader_changed = false;
};

// Turns the outcome into the report; updates `memory` (leader, token
// high-water mark, NoReadyCandidates once).
ReportPlan PlanReport(const PoolSnapshot& snapshot, const RoutingPlan& plan,
                      const WriteOutcome& outcome, const ReportOptions& options,
                      PoolMemory& memory);

// How a desired LeaderPolicy status is written: a merge patch of what
// differs; a change of `candidates` alone waits `debounce` (written then
// with whatever the count is).
struct StatusWrite {
  nlohmann::json patch;           // empty: nothing to write now
  std::optional<absl::Time> due;  // look again then
};
StatusWrite PlanStatusWrite(const nlohmann::json& have,
                            const nlohmann::json& desired, absl::Time now,
                            absl::Duration debounce, PoolMemory& memory);

// How often a pool Lease is renewed: leaseDuration - renewDeadline (5 s with
// the defaults), at least one second.
absl::Duration RenewInterval(const pool::PolicySettings& policy);

}  // namespace zenlead::op

#endif  // ZEN_LEAD_OPERATOR_TRAFFICDIRECTOR_PLANNER_H_
