#include "api/runtime/leader_election.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "api/client/errors.h"
#include "api/client/exceptions.h"
#include "api/runtime/meta.h"
#include "api/types/lease.h"

namespace zenlead::runtime {
namespace {

std::string SpecString(const nlohmann::json& spec, const char* field) {
  auto it = spec.find(field);
  return it != spec.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t SpecInt(const nlohmann::json& spec, const char* field) {
  auto it = spec.find(field);
  return it != spec.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

absl::Status Positive(absl::string_view field, absl::Duration d) {
  if (d > absl::ZeroDuration()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      field, " must be greater than zero, got ", absl::FormatDuration(d)));
}

}  // namespace

absl::Status ValidateLeaderElectionConfig(const LeaderElectionConfig& c) {
  if (c.lease_namespace.empty()) {
    return absl::InvalidArgumentError("lease_namespace must not be empty");
  }
  if (c.lease_name.empty()) {
    return absl::InvalidArgumentError("lease_name must not be empty");
  }
  if (c.identity.empty()) {
    return absl::InvalidArgumentError(
        "identity must not be empty: use the pod name");
  }
  for (auto [field, d] : {std::pair{"lease_duration", c.lease_duration},
                          std::pair{"renew_deadline", c.renew_deadline},
                          std::pair{"retry_period", c.retry_period}}) {
    if (absl::Status s = Positive(field, d); !s.ok()) return s;
  }
  if (c.lease_duration <= c.renew_deadline) {
    return absl::InvalidArgumentError(
        absl::StrCat("lease_duration (", absl::FormatDuration(c.lease_duration),
                     ") must be greater than renew_deadline (",
                     absl::FormatDuration(c.renew_deadline), ")"));
  }
  if (c.renew_deadline <= c.retry_period * kLeaderElectionJitterFactor) {
    return absl::InvalidArgumentError(
        absl::StrCat("renew_deadline (", absl::FormatDuration(c.renew_deadline),
                     ") must be greater than retry_period (",
                     absl::FormatDuration(c.retry_period), ") x ",
                     kLeaderElectionJitterFactor));
  }
  if (absl::ToInt64Seconds(c.lease_duration) < 1 ||
      c.lease_duration !=
          absl::Seconds(absl::ToInt64Seconds(c.lease_duration))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "lease_duration (", absl::FormatDuration(c.lease_duration),
        ") must be a whole number of seconds (the Lease stores seconds)"));
  }
  if (!c.callbacks.on_started_leading) {
    return absl::InvalidArgumentError(
        "callbacks.on_started_leading must be set");
  }
  if (!c.callbacks.on_stopped_leading) {
    return absl::InvalidArgumentError(
        "callbacks.on_stopped_leading must be set");
  }
  return absl::OkStatus();
}

void ConfigureLeaderElectionClient(absl::Duration renew_deadline,
                                   client::Config* config,
                                   client::RestClientOptions* options) {
  const absl::Duration timeout =
      std::max(renew_deadline / 4, absl::Milliseconds(500));
  config->request_timeout = std::min(config->request_timeout, timeout);
  config->connect_timeout = std::min(config->connect_timeout, timeout);
  options->retry.max_retries = 0;
}

absl::StatusOr<std::unique_ptr<LeaderElector>> LeaderElector::Create(
    client::Client* client, LeaderElectionConfig config) {
  if (absl::Status s = ValidateLeaderElectionConfig(config); !s.ok()) return s;
  return std::unique_ptr<LeaderElector>(
      new LeaderElector(client, std::move(config)));
}

LeaderElector::LeaderElector(client::Client* client,
                             LeaderElectionConfig config)
    : client_(client),
      config_(std::move(config)),
      clock_(config_.clock != nullptr ? config_.clock : client::RealClock()),
      log_((config_.logger != nullptr ? *config_.logger : DefaultLogger())
               .With({{"lease", absl::StrCat(config_.lease_namespace, "/",
                                             config_.lease_name)},
                      {"identity", config_.identity}})) {}

LeaderElector::~LeaderElector() { Stop(); }

void LeaderElector::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  attempt_thread_ = std::thread([this] { RunAttempts(); });
  thread_ = std::thread([this] { Run(); });
}

void LeaderElector::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  {
    absl::MutexLock lock(&mu_);
    attempts_done_ = true;
  }
  // Waits for a request still in flight (bounded by the client's timeout).
  if (attempt_thread_.joinable()) attempt_thread_.join();
}

LeaderElector::Stats LeaderElector::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void LeaderElector::RunAttempts() {
  for (;;) {
    absl::Time deadline;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return attempt_requested_ || attempts_done_;
      };
      mu_.Await(absl::Condition(&ready));
      if (!attempt_requested_) return;
      attempt_requested_ = false;
      attempt_running_ = true;
      deadline = attempt_deadline_;
    }
    Attempt attempt = Attempt::kFailed;
    absl::Status thrown = client::CallCatchingExceptions(
        "leader election attempt",
        [&] { attempt = TryAcquireOrRenew(deadline); });
    if (!thrown.ok()) {
      log_.Error("a lease attempt threw; counted as failed",
                 {{"error", thrown.ToString()}});
    }
    absl::MutexLock lock(&mu_);
    attempt_running_ = false;
    attempt_result_ = attempt;
  }
}

void LeaderElector::AwaitNoAttempt() {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !attempt_requested_ && !attempt_running_;
  };
  mu_.Await(absl::Condition(&idle));
}

std::optional<LeaderElector::Attempt> LeaderElector::RunAttempt(
    absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  // An attempt abandoned at an earlier deadline may still be in a request:
  // one at a time, so that an old write never lands after a newer one.
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || (!attempt_requested_ && !attempt_running_);
  };
  mu_.Await(absl::Condition(&idle));
  if (stopping_) return std::nullopt;
  attempt_result_.reset();
  attempt_requested_ = true;
  attempt_deadline_ = deadline;
  ++stats_.attempts;
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || attempt_result_.has_value();
  };
  clock_->AwaitWithDeadline(&mu_, absl::Condition(&done), deadline);
  ++stats_.finished;
  if (attempt_result_.has_value()) {
    const Attempt attempt = *attempt_result_;
    attempt_result_.reset();
    return attempt;
  }
  ++stats_.abandoned;
  return std::nullopt;
}

bool LeaderElector::IsLeader() const {
  absl::MutexLock lock(&mu_);
  // Time-bounded, so that a renewal stuck in a slow request cannot keep a
  // stale leader past its deadline.
  return leading_ && clock_->Now() < last_renew_ + config_.renew_deadline;
}

std::string LeaderElector::LeaderIdentity() const {
  absl::MutexLock lock(&mu_);
  return observed_holder_;
}

bool LeaderElector::WaitUntil(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  return !clock_->AwaitWithDeadline(&mu_, absl::Condition(&stopping_),
                                    deadline);
}

void LeaderElector::Observe(const nlohmann::json& spec, absl::Time seen) {
  absl::MutexLock lock(&mu_);
  if (spec != observed_spec_) {
    observed_spec_ = spec;
    observed_time_ = seen;
  }
  observed_holder_ = SpecString(spec, "holderIdentity");
}

void LeaderElector::ReportLeader() {
  const std::string holder = LeaderIdentity();
  if (holder.empty() || holder == reported_leader_) return;
  reported_leader_ = holder;
  log_.Info("new leader observed", {{"leader", holder}});
  if (config_.callbacks.on_new_leader) config_.callbacks.on_new_leader(holder);
}

LeaderElector::Attempt LeaderElector::TryAcquireOrRenew(absl::Time deadline) {
  const int64_t duration_seconds = absl::ToInt64Seconds(config_.lease_duration);

  absl::StatusOr<nlohmann::json> lease =
      client_->Get(k8s::LeaseClient::Resource(), config_.lease_namespace,
                   config_.lease_name);
  // Time counts from when the read came back: the Lease may have been
  // renewed at any moment while the request was on its way, so a time taken
  // before a slow read would make a live holder look expired.
  const absl::Time now = clock_->Now();
  const std::string now_text = FormatMicroTime(now);
  if (now >= deadline) {
    // The elector stopped waiting (and leading): a write now would renew
    // a Lease nobody here acts on.
    log_.Warning(
        "reading the lease took past the renew deadline; not "
        "writing it",
        {{"error", lease.status().ToString()}});
    return Attempt::kFailed;
  }
  if (client::IsNotFound(lease.status())) {
    nlohmann::json spec = {{"holderIdentity", config_.identity},
                           {"leaseDurationSeconds", duration_seconds},
                           {"acquireTime", now_text},
                           {"renewTime", now_text},
                           {"leaseTransitions", 0}};
    nlohmann::json object = {{"apiVersion", "coordination.k8s.io/v1"},
                             {"kind", "Lease"},
                             {"metadata",
                              {{"name", config_.lease_name},
                               {"namespace", config_.lease_namespace}}},
                             {"spec", spec}};
    absl::StatusOr<nlohmann::json> created = client_->Create(
        k8s::LeaseClient::Resource(), config_.lease_namespace, object);
    if (!created.ok()) {
      // AlreadyExists: another candidate created it first.
      log_.Debug("creating the lease failed",
                 {{"error", created.status().ToString()}});
      return Attempt::kFailed;
    }
    Observe(spec, clock_->Now());
    return Attempt::kHolding;
  }
  if (!lease.ok()) {
    log_.Warning("reading the lease failed",
                 {{"error", lease.status().ToString()}});
    return Attempt::kFailed;
  }
  if (!lease->is_object()) return Attempt::kFailed;
  nlohmann::json old_spec = lease->value("spec", nlohmann::json::object());
  if (!old_spec.is_object()) old_spec = nlohmann::json::object();
  Observe(old_spec, now);

  const std::string holder = SpecString(old_spec, "holderIdentity");
  const bool ours = holder == config_.identity;
  if (!holder.empty() && !ours) {
    absl::MutexLock lock(&mu_);
    holder_expiry_ = observed_time_ +
                     absl::Seconds(SpecInt(old_spec, "leaseDurationSeconds"));
    // Held, and alive as far as we know.
    if (now < holder_expiry_) return Attempt::kHeldByOther;
  }

  nlohmann::json spec = old_spec;
  spec["holderIdentity"] = config_.identity;
  spec["leaseDurationSeconds"] = duration_seconds;
  spec["renewTime"] = now_text;
  if (!ours) {
    spec["acquireTime"] = now_text;
    spec["leaseTransitions"] = SpecInt(old_spec, "leaseTransitions") + 1;
  }
  nlohmann::json object = *lease;
  object["spec"] = spec;  // metadata.resourceVersion as read: a precondition
  absl::StatusOr<nlohmann::json> updated = client_->Update(
      k8s::LeaseClient::Resource(), config_.lease_namespace, object);
  if (!updated.ok()) {
    if (client::IsConflict(updated.status())) {
      log_.Debug("lease changed since read (conflict)", {});
    } else {
      log_.Warning("updating the lease failed",
                   {{"error", updated.status().ToString()}});
    }
    return Attempt::kFailed;
  }
  Observe(spec, clock_->Now());
  return Attempt::kHolding;
}

void LeaderElector::Release() {
  absl::StatusOr<nlohmann::json> lease =
      client_->Get(k8s::LeaseClient::Resource(), config_.lease_namespace,
                   config_.lease_name);
  if (!lease.ok() || !lease->is_object()) return;
  nlohmann::json spec = lease->value("spec", nlohmann::json::object());
  if (!spec.is_object() ||
      SpecString(spec, "holderIdentity") != config_.identity) {
    return;  // not ours any more: nothing to release
  }
  const std::string now_text = FormatMicroTime(clock_->Now());
  spec["holderIdentity"] = "";
  spec["leaseDurationSeconds"] = 1;
  spec["renewTime"] = now_text;
  nlohmann::json object = *lease;
  object["spec"] = spec;
  absl::StatusOr<nlohmann::json> updated = client_->Update(
      k8s::LeaseClient::Resource(), config_.lease_namespace, object);
  if (updated.ok()) {
    log_.Info("released the lease", {});
  } else {
    log_.Warning("releasing the lease failed",
                 {{"error", updated.status().ToString()}});
  }
}

void LeaderElector::Run() {
  absl::BitGen bitgen;
  auto stopping = [this] {
    absl::MutexLock lock(&mu_);
    return stopping_;
  };
  while (!stopping()) {
    // Standby: try every retry_period, less up to 1/6 of it, so that
    // candidates spread out and a released Lease is taken within one period;
    // and try again right when a held Lease expires, so that a dead leader
    // is replaced within lease_duration + retry_period of its last renewal.
    bool acquired = false;
    // Deadlines count from the start of the successful attempt: others see
    // the write only after it lands, so they never count from earlier.
    absl::Time attempt_start;
    while (!stopping()) {
      attempt_start = clock_->Now();
      // Nothing to lose while standing by: wait for the attempt however long
      // it takes (the client's timeout bounds it).
      const std::optional<Attempt> attempt = RunAttempt(absl::InfiniteFuture());
      if (!attempt.has_value()) break;  // stopping
      ReportLeader();
      acquired = *attempt == Attempt::kHolding;
      if (acquired) break;
      const double jitter =
          absl::Uniform(bitgen, 1.0 / kLeaderElectionJitterFactor, 1.0);
      absl::Time next = clock_->Now() + config_.retry_period * jitter;
      if (*attempt == Attempt::kHeldByOther) {
        absl::MutexLock lock(&mu_);
        next = std::min(next, holder_expiry_);
      }
      if (!WaitUntil(next)) break;
    }
    if (!acquired) break;

    {
      absl::MutexLock lock(&mu_);
      leading_ = true;
      last_renew_ = attempt_start;
    }
    log_.Info("started leading", {});
    config_.callbacks.on_started_leading();

    // Leader: renew every retry_period; give up at renew_deadline after the
    // last success, waking at that instant if it comes before the next try,
    // and not waiting for an attempt past it either.
    bool stopped = false;
    bool hung = false;
    for (;;) {
      absl::Time deadline;
      {
        absl::MutexLock lock(&mu_);
        deadline = last_renew_ + config_.renew_deadline;
      }
      if (!WaitUntil(
              std::min(clock_->Now() + config_.retry_period, deadline))) {
        stopped = true;
        break;
      }
      if (clock_->Now() >= deadline) break;
      attempt_start = clock_->Now();
      const std::optional<Attempt> attempt = RunAttempt(deadline);
      if (!attempt.has_value()) {
        // Still in a request at the deadline (or asked to stop meanwhile).
        stopped = stopping();
        hung = !stopped;
        break;
      }
      ReportLeader();
      // Someone else holds it (our Lease expired in their eyes): step down
      // at once rather than at the deadline.
      if (*attempt == Attempt::kHeldByOther) break;
      absl::MutexLock lock(&mu_);
      if (*attempt == Attempt::kHolding) {
        last_renew_ = attempt_start;
      } else if (clock_->Now() >= last_renew_ + config_.renew_deadline) {
        break;
      }
    }
    {
      // Not leading any more before the Lease is released, so that no one
      // sees two leaders.
      absl::MutexLock lock(&mu_);
      leading_ = false;
    }
    if (stopped) {
      // The callback first: the work stops before the Lease is given up,
      // even if a request still in flight delays the release.
      log_.Info("stopped leading (shutting down)", {});
      config_.callbacks.on_stopped_leading();
      if (config_.release_on_cancel) {
        AwaitNoAttempt();
        Release();
      }
      break;
    }
    log_.Warning(
        hung ? "stopped leading: a renewal request was still running at the "
               "renew deadline"
             : "stopped leading: could not renew the lease within the renew "
               "deadline",
        {{"renew_deadline_ms",
          absl::ToInt64Milliseconds(config_.renew_deadline)}});
    config_.callbacks.on_stopped_leading();
  }
}

}  // namespace zenlead::runtime
