#include "operator/leaderservice/leader_registry.h"

#include <vector>

namespace zenlead::op {

void LeaderRegistry::Set(const PoolLeader& leader) {
  Publish({leader.ns, leader.pool}, leader);
}

void LeaderRegistry::Remove(const std::string& ns, const std::string& pool) {
  Publish({ns, pool}, std::nullopt);
}

void LeaderRegistry::Publish(const Key& key,
                             const std::optional<PoolLeader>& next) {
  absl::MutexLock notify(&notify_mu_);
  PoolLeader value;
  std::vector<Callback> callbacks;
  {
    absl::MutexLock lock(&mu_);
    auto it = leaders_.find(key);
    if (next.has_value()) {
      if (it != leaders_.end() && it->second == *next) return;
      leaders_[key] = *next;
      value = *next;
    } else {
      if (it == leaders_.end()) return;
      leaders_.erase(it);
      value.ns = key.first;
      value.pool = key.second;
    }
    for (const auto& [id, subscriber] : subscribers_) {
      if (subscriber.key == key) callbacks.push_back(subscriber.cb);
    }
  }
  // Outside mu_ (readers never wait for a callback), inside notify_mu_ (the
  // next change's callbacks wait for these).
  for (const Callback& cb : callbacks) cb(value);
}

std::optional<PoolLeader> LeaderRegistry::Get(const std::string& ns,
                                              const std::string& pool) const {
  absl::MutexLock lock(&mu_);
  auto it = leaders_.find({ns, pool});
  if (it == leaders_.end()) return std::nullopt;
  return it->second;
}

int64_t LeaderRegistry::Subscribe(const std::string& ns,
                                  const std::string& pool, Callback cb) {
  absl::MutexLock lock(&mu_);
  const int64_t id = next_id_++;
  subscribers_.emplace(id, Subscriber{{ns, pool}, std::move(cb)});
  return id;
}

void LeaderRegistry::Unsubscribe(int64_t id) {
  {
    absl::MutexLock lock(&mu_);
    subscribers_.erase(id);
  }
  // A Publish that copied this callback before the erase holds notify_mu_
  // until it has called it: wait for that to finish.
  absl::MutexLock notify(&notify_mu_);
}

size_t LeaderRegistry::Size() const {
  absl::MutexLock lock(&mu_);
  return leaders_.size();
}

}  // namespace zenlead::op
