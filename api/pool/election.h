// Leader choice for one pool: pure logic, no I/O, so every rule of SPEC §3.1
// is unit-tested and the reconciler only maps Kubernetes objects in and out.
//
//   std::vector<Candidate> pods = ...;  // the pool's pods, from the cache
//   Choice c = ChooseLeader(pods, current_leader_uid, absl::Seconds(10), now);
//   if (c.leader) WriteEndpointSlice(*c.leader);
//   if (c.recheck_after) queue.AddAfter(pool, *c.recheck_after);
//
// Rules: keep the current leader while it is Ready, not terminating and has
// an IP (sticky). Otherwise pick, among pods that are Ready, not terminating,
// have an IP and have been Ready for at least minReadySeconds, the oldest by
// creation time, ties by name.
#ifndef ZEN_LEAD_API_POOL_ELECTION_H_
#define ZEN_LEAD_API_POOL_ELECTION_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace zenlead::pool {

// What the election needs to know about one pod of the pool.
struct Candidate {
  std::string name;
  std::string uid;
  // The pod name, or its zen-lead/identity annotation (identityStrategy
  // custom).
  std::string identity;
  std::string pod_ip;
  std::string node_name;
  absl::Time created = absl::InfinitePast();
  bool ready = false;
  // When the Ready condition last became True (absl::InfinitePast() when
  // unknown: counts as Ready long enough).
  absl::Time ready_since = absl::InfinitePast();
  // deletionTimestamp set, or phase Failed/Succeeded.
  bool terminating = false;
};

// True when the pod can serve as leader right now: Ready, not terminating,
// with an IP. minReadySeconds applies only to a new election.
bool CanLead(const Candidate& c);

struct Choice {
  // The leader, or nullopt when no pod can lead.
  std::optional<Candidate> leader;
  // True when leader differs from the current one (including to or from
  // none).
  bool changed = false;
  // Pods that are Ready, not terminating and have an IP.
  int ready_candidates = 0;
  // Set when a Ready pod will satisfy minReadySeconds later: look again then.
  std::optional<absl::Duration> recheck_after;
};

// current_uid: the UID of the current leader pod ("" when none is known).
Choice ChooseLeader(const std::vector<Candidate>& candidates,
                    const std::string& current_uid, absl::Duration min_ready,
                    absl::Time now);

}  // namespace zenlead::pool

#endif  // ZEN_LEAD_API_POOL_ELECTION_H_
