#include "api/pool/election.h"

#include <tuple>

namespace zenlead::pool {

bool CanLead(const Candidate& c) {
  return c.ready && !c.terminating && !c.pod_ip.empty();
}

Choice ChooseLeader(const std::vector<Candidate>& candidates,
                    const std::string& current_uid, absl::Duration min_ready,
                    absl::Time now) {
  Choice choice;
  const Candidate* sticky = nullptr;
  const Candidate* oldest = nullptr;
  for (const Candidate& c : candidates) {
    if (!CanLead(c)) continue;
    ++choice.ready_candidates;
    if (!current_uid.empty() && c.uid == current_uid) sticky = &c;
    absl::Duration ready_for = now - c.ready_since;
    if (ready_for < min_ready) {
      absl::Duration wait = min_ready - ready_for;
      if (!choice.recheck_after || wait < *choice.recheck_after) {
        choice.recheck_after = wait;
      }
      continue;
    }
    if (oldest == nullptr ||
        std::tie(c.created, c.name) < std::tie(oldest->created, oldest->name)) {
      oldest = &c;
    }
  }
  const Candidate* leader = sticky != nullptr ? sticky : oldest;
  if (leader != nullptr) choice.leader = *leader;
  if (sticky != nullptr) choice.recheck_after.reset();
  choice.changed =
      (leader == nullptr) ? !current_uid.empty() : leader->uid != current_uid;
  return choice;
}

}  // namespace zenlead::pool
