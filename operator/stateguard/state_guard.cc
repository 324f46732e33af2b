#include "operator/stateguard/state_guard.h"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/client/errors.h"
#include "api/pool/guard_lease.h"
#include "api/pool/membership.h"
#include "api/pool/pool_lease.h"
#include "api/runtime/meta.h"
#include "api/types/leaderpolicy.h"
#include "operator/trafficdirector/planner.h"

namespace zenlead::op {
namespace {

using nlohmann::json;
using runtime::ObjectPtr;

// How long a write loop may go on re-deciding after conflicts.
constexpr absl::Duration kWriteBudget = absl::Seconds(5);

}  // namespace

StateGuard::StateGuard(StateGuardDeps deps, StateGuardOptions options)
    : deps_(std::move(deps)),
      options_(options),
      clock_(deps_.clock != nullptr ? deps_.clock : client::RealClock()),
      log_(runtime::DefaultLogger().With({{"controller", "stateguard"}})) {
  if (deps_.metrics != nullptr) {
    auto take = [](auto s) { return s.ok() ? *s : nullptr; };
    violations_ = take(deps_.metrics->AddCounter(
        "zen_lead_guard_violations_total",
        "Times a guarded pool was seen with two or more active pods (pods "
        "that got past admission), per pool.",
        {"namespace", "pool"}));
    expiries_ = take(deps_.metrics->AddCounter(
        "zen_lead_guard_reservation_expiries_total",
        "Admission reservations expired because their pod never came, per "
        "pool.",
        {"namespace", "pool"}));
  }
}

StateGuard::~StateGuard() { Stop(); }

absl::Status StateGuard::Start() {
  if (!informers_.empty()) return absl::OkStatus();
  if (deps_.writer == nullptr || deps_.cache == nullptr) {
    return absl::InvalidArgumentError(
        "StateGuard needs a writer client and the shared cache");
  }
  pool::Cache& cache = *deps_.cache;
  std::vector<runtime::Informer*> informers;
  absl::Status s;
  auto use = [&](pool::CacheKind kind) -> runtime::Informer* {
    absl::StatusOr<runtime::Informer*> i = cache.Use(kind);
    s.Update(i.status());
    if (i.ok()) informers.push_back(*i);
    return i.ok() ? *i : nullptr;
  };
  runtime::Informer* policies = use(pool::CacheKind::kPolicies);
  runtime::Informer* jobs = use(pool::CacheKind::kJobs);
  runtime::Informer* cronjobs = use(pool::CacheKind::kCronJobs);
  runtime::Informer* pods = use(pool::CacheKind::kPods);
  runtime::Informer* leases = use(pool::CacheKind::kLeases);
  if (!s.ok()) return s;

  // Every event only says which pools to look at.
  auto handler =
      [this](const std::function<std::vector<std::string>(const json&)>& keys) {
        runtime::EventHandler h;
        h.on_add = [this, keys](const ObjectPtr& o) {
          for (const std::string& k : keys(*o)) Enqueue(k);
        };
        h.on_update = [this, keys](const ObjectPtr& a, const ObjectPtr& b) {
          std::set<std::string> all;
          for (std::string& k : keys(*a)) all.insert(std::move(k));
          for (std::string& k : keys(*b)) all.insert(std::move(k));
          for (const std::string& k : all) Enqueue(k);
        };
        h.on_delete = [this, keys](const ObjectPtr& o, bool) {
          for (const std::string& k : keys(*o)) Enqueue(k);
        };
        return h;
      };
  s.Update(policies->AddEventHandler(handler([](const json& o) {
    return pool::PoolsIndexedFor(pool::CacheKind::kPolicies, o);
  })));
  s.Update(cronjobs->AddEventHandler(handler([](const json& o) {
    return pool::PoolsIndexedFor(pool::CacheKind::kCronJobs, o);
  })));
  s.Update(jobs->AddEventHandler(
      handler([this](const json& o) { return PoolsOf(o, "Job"); })));
  s.Update(pods->AddEventHandler(
      handler([this](const json& o) { return PoolsOf(o, "Pod"); })));
  runtime::EventHandler lease_events = handler([](const json& o) {
    return pool::PoolsIndexedFor(pool::CacheKind::kLeases, o);
  });
  // A renewal says nothing new.
  auto on_lease_update = lease_events.on_update;
  lease_events.on_update = [on_lease_update](const ObjectPtr& a,
                                             const ObjectPtr& b) {
    if (!pool::LeaseOnlyRenewed(*a, *b)) on_lease_update(a, b);
  };
  s.Update(leases->AddEventHandler(lease_events));
  if (!s.ok()) return s;
  informers_ = std::move(informers);
  return absl::OkStatus();
}

bool StateGuard::HasSynced() const {
  if (informers_.empty()) return false;
  return std::all_of(informers_.begin(), informers_.end(),
                     [](runtime::Informer* i) { return i->HasSynced(); });
}

std::vector<std::string> StateGuard::PoolsOf(const json& obj,
                                             const std::string& kind) const {
  pool::PodPools found;
  if (kind == "Pod") {
    found = pool::PoolsOfPod(obj, "", *deps_.cache, nullptr);
  } else if (std::optional<pool::OwnerNode> node =
                 pool::OwnerNodeOf(kind, obj)) {
    found = pool::PoolsOfOwner(*node, *deps_.cache, nullptr);
  }
  std::vector<std::string> out;
  for (const pool::PoolKey& k : found.KeysVia(
           {pool::Source::Kind::kJob, pool::Source::Kind::kCronJob})) {
    out.push_back(k.String());
  }
  if (kind == "Pod") {
    // A pod the Lease names, also once its Job is gone from the cache (a
    // Job deleted in the background goes before its pods): its deletion
    // must still release the pool.
    const std::string uid = runtime::MetadataString(obj, "uid");
    for (const ObjectPtr& lease : deps_.cache->ByIndex(
             pool::CacheKind::kLeases, pool::kByHolder,
             pool::UidKey(runtime::MetadataString(obj, "namespace"), uid))) {
      for (std::string& k :
           pool::PoolsIndexedFor(pool::CacheKind::kLeases, *lease)) {
        out.push_back(std::move(k));
      }
    }
  }
  return out;
}

void StateGuard::Enqueue(const std::string& pool_key) {
  absl::MutexLock lock(&mu_);
  if (queue_ != nullptr) queue_->Add(pool_key);
}

void StateGuard::EnqueueAfter(const std::string& pool_key,
                              absl::Duration after) {
  absl::MutexLock lock(&mu_);
  if (queue_ != nullptr) {
    queue_->AddAfter(pool_key, after, runtime::Priority::kLow);
  }
}

void StateGuard::EnqueueAll() {
  std::set<std::string> keys;
  for (pool::CacheKind kind :
       {pool::CacheKind::kJobs, pool::CacheKind::kCronJobs,
        pool::CacheKind::kLeases}) {
    for (const ObjectPtr& o : deps_.cache->List(kind)) {
      for (std::string& k : pool::PoolsIndexedFor(kind, *o)) {
        keys.insert(std::move(k));
      }
    }
  }
  for (const std::string& k : keys) Enqueue(k);
}

void StateGuard::Emit(const EventInfo& e) const {
  log_.Info("event", {{"reason", e.reason},
                      {"object", absl::StrCat(e.kind, "/", e.ns, "/", e.name)},
                      {"note", e.note}});
  if (deps_.record_event) deps_.record_event(e);
}

absl::Status StateGuard::Reconcile(const pool::PoolKey& key) {
  const std::string pool_key = key.String();
  const absl::Time now = clock_->Now();
  pool::Cache& cache = *deps_.cache;
  std::vector<pool::Source> sources = cache.SourcesOf(key);
  const bool guarded =
      std::any_of(sources.begin(), sources.end(), pool::StateGuarded);
  PoolMemory memory;
  {
    absl::MutexLock lock(&mu_);
    auto it = pools_.find(pool_key);
    if (!guarded && it == pools_.end()) {
      // Not StateGuard's: the TrafficDirector's pools, and its orphan-Lease
      // rule, apply.
      return absl::OkStatus();
    }
    if (it != pools_.end()) memory = it->second;
  }
  // A pool whose last Job or CronJob just went is reconciled once more
  // (its holder released: no pods are left to it), then left to the
  // TrafficDirector.
  const bool leaving = !guarded;
  ObjectPtr policy_obj =
      cache.Object(pool::CacheKind::kPolicies, key.ns, key.name);
  GuardSnapshot snap;
  snap.key = key;
  snap.now = now;
  snap.policy_object = policy_obj.get();
  snap.policy = policy_obj ? pool::PolicyFromObject(*policy_obj)
                           : pool::DefaultPolicySettings();
  std::vector<ObjectPtr> pods;
  for (const pool::Source& s : sources) {
    if (!pool::StateGuarded(s)) continue;
    for (ObjectPtr& p : cache.PodsOf(s)) pods.push_back(std::move(p));
    std::vector<ObjectPtr> jobs;
    if (s.kind == pool::Source::Kind::kJob) {
      if (ObjectPtr j = cache.ByUid(pool::CacheKind::kJobs, s.ns, s.uid)) {
        jobs.push_back(std::move(j));
      }
    } else {
      jobs = cache.ByIndex(pool::CacheKind::kJobs, pool::kByOwner,
                           pool::UidKey(s.ns, s.uid));
    }
    for (const ObjectPtr& j : jobs) {
      if (std::optional<GuardJob> g = GuardJobFromObject(*j)) {
        snap.jobs.push_back(std::move(*g));
      }
    }
  }
  snap.pods = pool::GuardPodsFrom(pods, snap.policy.identity_strategy);
  snap.sources = std::move(sources);

  GuardOutcome outcome;
  outcome.token_high_water =
      std::max(memory.token_high_water,
               policy_obj ? pool::PolicyStatusTransitions(*policy_obj) : 0);
  std::optional<pool::LeaseRead> read;
  if (ObjectPtr lease =
          cache.Object(pool::CacheKind::kLeases, key.ns, key.name)) {
    read = pool::LeaseReadFromObject(*lease);
  } else {
    // Not cached (only zen-lead's Leases are): just created, foreign, or
    // none. The API server says.
    absl::StatusOr<std::optional<pool::LeaseRead>> fresh =
        pool::ReadLease(*deps_.writer, key.ns, key.name);
    if (!fresh.ok()) return fresh.status();
    read = std::move(*fresh);
  }
  const absl::Duration renew_every = RenewInterval(snap.policy);
  bool expired = false;
  if (read && read->foreign) {
    outcome.lease_conflict = true;
  } else {
    std::optional<pool::PoolLease> current = pool::PoolLeaseOf(read);
    auto decide = [&](const std::optional<pool::PoolLease>& have) {
      pool::GuardDecision d =
          pool::DecideGuardLease(have, snap.pods, snap.policy,
                                 outcome.token_high_water, renew_every, now);
      outcome.active = std::move(d.active);
      outcome.violation = d.violation;
      expired = d.write && have &&
                pool::PhaseOf(*have) == pool::LeasePhase::kReserved &&
                pool::PhaseOf(*d.write) == pool::LeasePhase::kFree;
      return d.write;
    };
    std::optional<pool::PoolLease> want = decide(current);
    outcome.lease = current;
    if (want) {
      absl::StatusOr<pool::PoolLease> written = pool::WritePoolLease(
          *deps_.writer, key.ns, key.name, snap.policy, std::move(read), decide,
          now + kWriteBudget, *clock_);
      if (written.ok()) {
        outcome.lease = *written;
        if (expired && expiries_ != nullptr) {
          expiries_->WithLabels({key.ns, key.name})->Inc();
        }
      } else if (pool::IsLeaseConflict(written.status())) {
        outcome.lease_conflict = true;
      } else {
        outcome.result = written.status();
      }
    }
  }
  if (outcome.lease) {
    memory.token_high_water =
        std::max(memory.token_high_water, outcome.lease->state.transitions);
    outcome.token_high_water = memory.token_high_water;
  }

  const GuardReport report = PlanGuardReport(snap, outcome);
  std::set<std::string> current;
  auto once = [&](const EventInfo& e) {
    const std::string k = absl::StrCat(e.uid, "/", e.reason);
    current.insert(k);
    auto it = memory.reported.find(k);
    if (it != memory.reported.end() && it->second == e.note) return false;
    memory.reported[k] = e.note;
    Emit(e);
    return true;
  };
  for (const EventInfo& e : report.warnings) {
    if (once(e) && e.reason == "TwoActivePods" && violations_ != nullptr) {
      violations_->WithLabels({key.ns, key.name})->Inc();
    }
  }
  for (const EventInfo& e : report.notices) once(e);
  for (auto it = memory.reported.begin(); it != memory.reported.end();) {
    it = current.count(it->first) ? std::next(it) : memory.reported.erase(it);
  }
  if (deps_.registry != nullptr) deps_.registry->Set(report.registry);
  absl::Status result = outcome.result;
  if (report.status && policy_obj != nullptr) {
    json desired = pool::PolicyStatusApply(key.ns, key.name, *report.status,
                                           *policy_obj, now);
    json have = policy_obj->contains("status") ? (*policy_obj)["status"]
                                               : json::object();
    json patch = pool::MergePatchFor(have, desired["status"]);
    if (!patch.empty()) {
      absl::StatusOr<json> patched = deps_.writer->Patch(
          api::v1alpha1::LeaderPolicyClient::Resource(), key.ns, key.name,
          client::PatchType::kMerge, json{{"status", patch}}, "status");
      if (!patched.ok() && !client::IsNotFound(patched.status())) {
        result.Update(patched.status());
      }
    }
  }

  {
    absl::MutexLock lock(&mu_);
    if (leaving) {
      pools_.erase(pool_key);
      return result;
    }
    pools_[pool_key] = std::move(memory);
  }
  // Look again when the Lease needs the operator: a running holder's
  // renewal, a reservation's expiry.
  if (outcome.lease) {
    const pool::LeasePhase phase = pool::PhaseOf(*outcome.lease);
    if (phase == pool::LeasePhase::kHeld) {
      EnqueueAfter(pool_key, renew_every);
    } else if (phase == pool::LeasePhase::kReserved) {
      const absl::Time until = pool::ReservationUntil(outcome.lease->state);
      EnqueueAfter(pool_key, std::max(until - now, absl::ZeroDuration()) +
                                 absl::Milliseconds(10));
    }
  }
  return result;
}

void StateGuard::RunWorker(runtime::WorkQueue* queue) {
  while (std::optional<std::string> key = queue->Get()) {
    if (queue->ShuttingDown()) {
      queue->Done(*key);
      continue;
    }
    absl::StatusOr<pool::PoolKey> pool_key = pool::PoolKey::Parse(*key);
    absl::Status s = pool_key.status();
    if (pool_key.ok()) {
      try {
        s = Reconcile(*pool_key);
      } catch (const std::exception& e) {
        s = absl::InternalError(absl::StrCat("exception: ", e.what()));
      }
    }
    if (s.ok() || !pool_key.ok()) {
      if (!s.ok()) log_.Error("malformed key; dropped", {{"key", *key}});
      queue->Forget(*key);
    } else {
      log_.Warning("reconcile failed",
                   {{"pool", *key}, {"error", s.ToString()}});
      queue->AddRateLimited(*key);
    }
    queue->Done(*key);
  }
}

void StateGuard::StartWorkers() {
  {
    absl::MutexLock lock(&mu_);
    if (queue_ != nullptr) return;
    runtime::WorkQueueOptions o;
    o.name = "stateguard";
    o.clock = deps_.clock;
    o.rate_limiter = std::make_unique<runtime::ExponentialFailureRateLimiter>(
        absl::Milliseconds(5), absl::Seconds(30));
    if (deps_.queue_metrics != nullptr && queue_metrics_ == nullptr) {
      queue_metrics_ = deps_.queue_metrics->ForQueue("stateguard");
    }
    o.metrics = queue_metrics_.get();
    queue_ = std::make_shared<runtime::WorkQueue>(std::move(o));
    pools_.clear();  // a new term: recovered from the cluster
    for (int i = 0; i < std::max(1, options_.workers); ++i) {
      workers_.emplace_back([this, q = queue_.get()] { RunWorker(q); });
    }
  }
  EnqueueAll();
}

void StateGuard::StopWorkers() {
  std::shared_ptr<runtime::WorkQueue> q;
  std::vector<std::thread> workers;
  {
    absl::MutexLock lock(&mu_);
    q = std::move(queue_);
    queue_ = nullptr;
    workers = std::move(workers_);
    workers_.clear();
  }
  if (q == nullptr) return;
  q->ShutDown();
  for (std::thread& t : workers) t.join();
}

void StateGuard::Stop() { StopWorkers(); }

}  // namespace zenlead::op
