// Checks shared by the informer e2e tests: the cache, the state rebuilt from
// the handlers' events, and a fresh list from the API server, as
// key -> resourceVersion maps that must all agree once writes stop.
//
//   Mirror mirror;
//   informer.AddEventHandler(mirror.Handler());
//   ...
//   EXPECT_TRUE(WaitFor([&] { return Converged(informer, mirror, *client,
//                                              kConfigMaps, ns, "test=e2e"); },
//                       absl::Seconds(60)));
#ifndef ZEN_LEAD_API_RUNTIME_TESTING_INFORMER_CHECKS_H_
#define ZEN_LEAD_API_RUNTIME_TESTING_INFORMER_CHECKS_H_

#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/client/client.h"
#include "api/runtime/informer.h"
#include "api/runtime/meta.h"

namespace zenlead::runtime::testing {

using VersionMap = std::map<std::string, std::string>;  // key -> rv

// The state a consumer of the informer's events would hold; counts events
// that contradict it (an add of a known key, an update or delete of an
// unknown one): phantom or lost events.
class Mirror {
 public:
  EventHandler Handler() {
    EventHandler h;
    h.on_add = [this](const ObjectPtr& o) {
      absl::MutexLock lock(&mu_);
      const std::string key = ObjectKey(*o);
      if (state_.count(key)) Anomaly("add of known " + key);
      state_[key] = MetadataString(*o, "resourceVersion");
      ++adds_;
      log_.push_back("add " + key);
    };
    h.on_update = [this](const ObjectPtr& old_obj, const ObjectPtr& o) {
      absl::MutexLock lock(&mu_);
      const std::string key = ObjectKey(*o);
      auto it = state_.find(key);
      if (it == state_.end()) {
        Anomaly("update of unknown " + key);
      } else if (it->second != MetadataString(*old_obj, "resourceVersion")) {
        Anomaly("update from a version the consumer never saw: " + key);
      }
      state_[key] = MetadataString(*o, "resourceVersion");
      ++updates_;
      log_.push_back("update " + key);
    };
    h.on_delete = [this](const ObjectPtr& o, bool final_state_unknown) {
      absl::MutexLock lock(&mu_);
      const std::string key = ObjectKey(*o);
      if (state_.erase(key) == 0) Anomaly("delete of unknown " + key);
      ++deletes_;
      if (final_state_unknown) ++deletes_unknown_;
      log_.push_back(absl::StrCat("delete ", key,
                                  final_state_unknown ? " (unknown)" : ""));
    };
    return h;
  }
  VersionMap state() {
    absl::MutexLock lock(&mu_);
    return state_;
  }
  // Every event so far, in order: "add ns/a", "update ns/a",
  // "delete ns/a" or "delete ns/a (unknown)" (final state unknown).
  std::vector<std::string> log() {
    absl::MutexLock lock(&mu_);
    return log_;
  }
  std::vector<std::string> anomalies() {
    absl::MutexLock lock(&mu_);
    return anomalies_;
  }
  std::string Summary() {
    absl::MutexLock lock(&mu_);
    return absl::StrCat("adds=", adds_, " updates=", updates_,
                        " deletes=", deletes_,
                        " (final state unknown: ", deletes_unknown_, ")");
  }
  int deletes_unknown() {
    absl::MutexLock lock(&mu_);
    return deletes_unknown_;
  }

 private:
  void Anomaly(std::string what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    anomalies_.push_back(std::move(what));
  }
  absl::Mutex mu_;
  VersionMap state_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> anomalies_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> log_ ABSL_GUARDED_BY(mu_);
  int adds_ ABSL_GUARDED_BY(mu_) = 0;
  int updates_ ABSL_GUARDED_BY(mu_) = 0;
  int deletes_ ABSL_GUARDED_BY(mu_) = 0;
  int deletes_unknown_ ABSL_GUARDED_BY(mu_) = 0;
};

inline VersionMap CacheState(const Informer& informer) {
  VersionMap out;
  for (const ObjectPtr& o : informer.store().List()) {
    out[ObjectKey(*o)] = MetadataString(*o, "resourceVersion");
  }
  return out;
}

// A fresh (quorum) list; empty with a message on stderr when it fails.
inline VersionMap ServerState(client::Client& client, const client::Resource& r,
                              const std::string& ns,
                              const std::string& label_selector) {
  client::ListOptions options;
  options.label_selector = label_selector;
  absl::StatusOr<nlohmann::json> list = client::ListAll(client, r, ns, options);
  VersionMap out;
  if (!list.ok()) {
    std::cerr << "list failed: " << list.status() << "\n";
    return out;
  }
  for (const nlohmann::json& item : (*list)["items"]) {
    out[ObjectKey(item)] = MetadataString(item, "resourceVersion");
  }
  return out;
}

// Cache == handler-built state == a fresh list.
inline bool Converged(const Informer& informer, Mirror& mirror,
                      client::Client& client, const client::Resource& r,
                      const std::string& ns,
                      const std::string& label_selector) {
  const VersionMap cache = CacheState(informer);
  return cache == mirror.state() &&
         cache == ServerState(client, r, ns, label_selector);
}

}  // namespace zenlead::runtime::testing

#endif  // ZEN_LEAD_API_RUNTIME_TESTING_INFORMER_CHECKS_H_
