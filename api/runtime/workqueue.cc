#include "api/runtime/workqueue.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "api/client/exceptions.h"

namespace zenlead::runtime {

ExponentialFailureRateLimiter::ExponentialFailureRateLimiter(
    absl::Duration base, absl::Duration max_delay)
    : base_(base), max_delay_(max_delay) {}

absl::Duration ExponentialFailureRateLimiter::When(const std::string& key) {
  int exponent;
  {
    absl::MutexLock lock(&mu_);
    exponent = failures_[key]++;
  }
  // In floating point: 2^exponent overflows integers long before the cap
  // would stop it.
  const double seconds =
      absl::ToDoubleSeconds(base_) * std::pow(2.0, std::min(exponent, 1023));
  if (!std::isfinite(seconds) || seconds >= absl::ToDoubleSeconds(max_delay_)) {
    return max_delay_;
  }
  return absl::Seconds(seconds);
}

void ExponentialFailureRateLimiter::Forget(const std::string& key) {
  absl::MutexLock lock(&mu_);
  failures_.erase(key);
}

int ExponentialFailureRateLimiter::NumRequeues(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

MaxOfRateLimiter::MaxOfRateLimiter(
    std::vector<std::unique_ptr<RateLimiter>> limiters)
    : limiters_(std::move(limiters)) {}

absl::Duration MaxOfRateLimiter::When(const std::string& key) {
  absl::Duration longest = absl::ZeroDuration();
  // Every limiter sees every failure, so their state stays consistent.
  for (auto& limiter : limiters_)
    longest = std::max(longest, limiter->When(key));
  return longest;
}

void MaxOfRateLimiter::Forget(const std::string& key) {
  for (auto& limiter : limiters_) limiter->Forget(key);
}

int MaxOfRateLimiter::NumRequeues(const std::string& key) {
  int most = 0;
  for (auto& limiter : limiters_)
    most = std::max(most, limiter->NumRequeues(key));
  return most;
}

std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(
    client::Clock* clock) {
  std::vector<std::unique_ptr<RateLimiter>> limiters;
  limiters.push_back(std::make_unique<ExponentialFailureRateLimiter>(
      absl::Milliseconds(5), absl::Seconds(1000)));
  limiters.push_back(std::make_unique<TokenBucketRateLimiter>(10, 100, clock));
  return std::make_unique<MaxOfRateLimiter>(std::move(limiters));
}

WorkQueue::WorkQueue(WorkQueueOptions options)
    : name_(std::move(options.name)),
      clock_(options.clock != nullptr ? options.clock : client::RealClock()),
      log_((options.logger != nullptr ? *options.logger : DefaultLogger())
               .With({{"workqueue", name_}})),
      rate_limiter_(options.rate_limiter != nullptr
                        ? std::move(options.rate_limiter)
                        : DefaultControllerRateLimiter(clock_)),
      metrics_(options.metrics),
      low_max_wait_(options.low_max_wait) {
  delay_thread_ = std::thread([this] { DelayLoop(); });
}

WorkQueue::~WorkQueue() {
  ShutDown();
  delay_thread_.join();
}

template <typename F>
void WorkQueue::Metric(F&& f) {
  if (metrics_ == nullptr) return;
  absl::Status thrown = client::CallCatchingExceptions("work queue metrics",
                                                       [&] { f(*metrics_); });
  if (!thrown.ok()) {
    log_.Error("work queue metrics threw; the sample is lost",
               {{"error", thrown.ToString()}});
  }
}

void WorkQueue::Add(const std::string& key, Priority priority) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return;
  AddLocked(key, priority);
}

void WorkQueue::AddLocked(const std::string& key, Priority priority) {
  auto [dirty, inserted] = dirty_.try_emplace(key, priority);
  if (!inserted) {
    // Already waiting for a worker (or to be requeued by Done): at most
    // move it to the faster lane.
    if (priority <= dirty->second) return;
    dirty->second = priority;
    auto queued = queued_.find(key);
    if (queued == queued_.end()) return;  // being processed: Done requeues
    lanes_[static_cast<int>(queued->second.priority)].erase(queued->second.it);
    queued_.erase(queued);
    PushLocked(key, priority);
    return;
  }
  Metric([](WorkQueueMetrics& m) { m.IncAdds(); });
  added_at_.emplace(key, clock_->Now());
  // A key being processed is queued again by Done, so that one key never
  // has two workers.
  if (processing_.contains(key)) return;
  PushLocked(key, priority);
  UpdateDepthLocked();
}

void WorkQueue::PushLocked(const std::string& key, Priority priority) {
  std::list<std::string>& lane = lanes_[static_cast<int>(priority)];
  queued_[key] = Position{priority, lane.insert(lane.end(), key)};
}

int WorkQueue::SizeLocked() const { return static_cast<int>(queued_.size()); }

void WorkQueue::UpdateDepthLocked() {
  const int size = SizeLocked();
  Metric([size](WorkQueueMetrics& m) { m.SetDepth(size); });
}

void WorkQueue::AddAfter(const std::string& key, absl::Duration delay,
                         Priority priority) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return;
  if (delay <= absl::ZeroDuration()) {
    AddLocked(key, priority);
    return;
  }
  const absl::Time ready = clock_->Now() + delay;
  auto [p, new_priority] = waiting_priority_.try_emplace(key, priority);
  if (!new_priority && p->second < priority) p->second = priority;
  auto [it, inserted] = waiting_ready_.try_emplace(key, ready);
  if (!inserted) {
    if (it->second <= ready) return;
    it->second = ready;
  }
  waiting_.push(Waiting{ready, next_seq_++, key});
  ++waiting_generation_;
}

void WorkQueue::AddRateLimited(const std::string& key) {
  const absl::Duration delay = rate_limiter_->When(key);
  Priority priority = Priority::kNormal;
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) return;
    Metric([](WorkQueueMetrics& m) { m.IncRetries(); });
    // A retry keeps the lane the failed attempt was handed out from: a
    // failover that failed is retried ahead of routine work.
    if (auto it = handed_out_.find(key); it != handed_out_.end()) {
      priority = it->second;
    }
  }
  AddAfter(key, delay, priority);
}

void WorkQueue::Forget(const std::string& key) { rate_limiter_->Forget(key); }

int WorkQueue::NumRequeues(const std::string& key) {
  return rate_limiter_->NumRequeues(key);
}

std::optional<std::string> WorkQueue::Get() {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return SizeLocked() > 0 || shutting_down_;
  };
  mu_.Await(absl::Condition(&ready));
  if (SizeLocked() == 0) return std::nullopt;
  const absl::Time now = clock_->Now();
  Priority priority = Priority::kHigh;
  if (lanes_[static_cast<int>(priority)].empty()) {
    priority = Priority::kNormal;
    const std::list<std::string>& low =
        lanes_[static_cast<int>(Priority::kLow)];
    if (!low.empty()) {
      // Upkeep that waited too long goes before changes.
      auto added = added_at_.find(low.front());
      if (lanes_[static_cast<int>(priority)].empty() ||
          (added != added_at_.end() && now - added->second >= low_max_wait_)) {
        priority = Priority::kLow;
      }
    }
  }
  std::list<std::string>* lane = &lanes_[static_cast<int>(priority)];
  std::string key = std::move(lane->front());
  lane->pop_front();
  queued_.erase(key);
  UpdateDepthLocked();
  processing_.insert(key);
  handed_out_[key] = priority;
  dirty_.erase(key);
  if (auto it = added_at_.find(key); it != added_at_.end()) {
    const absl::Duration waited = now - it->second;
    Metric([waited](WorkQueueMetrics& m) { m.ObserveQueueLatency(waited); });
    added_at_.erase(it);
  }
  started_at_[key] = now;
  return key;
}

void WorkQueue::Done(const std::string& key) {
  absl::MutexLock lock(&mu_);
  if (processing_.erase(key) == 0) return;  // not handed out by Get
  handed_out_.erase(key);
  if (auto it = started_at_.find(key); it != started_at_.end()) {
    const absl::Duration worked = clock_->Now() - it->second;
    Metric([worked](WorkQueueMetrics& m) { m.ObserveWorkDuration(worked); });
    started_at_.erase(it);
  }
  if (auto dirty = dirty_.find(key); dirty != dirty_.end()) {
    PushLocked(key, dirty->second);
    UpdateDepthLocked();
  }
}

void WorkQueue::ShutDown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
  waiting_ = {};
  waiting_ready_.clear();
  waiting_priority_.clear();
}

bool WorkQueue::ShutDownWithDrain(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
  waiting_ = {};
  waiting_ready_.clear();
  waiting_priority_.clear();
  auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return SizeLocked() == 0 && processing_.empty();
  };
  return clock_->AwaitWithDeadline(&mu_, absl::Condition(&drained), deadline);
}

bool WorkQueue::ShuttingDown() const {
  absl::MutexLock lock(&mu_);
  return shutting_down_;
}

int WorkQueue::Len() const {
  absl::MutexLock lock(&mu_);
  return SizeLocked();
}

void WorkQueue::DelayLoop() {
  // Nothing in the body should throw (metrics are guarded), but if anything
  // does (std::bad_alloc), delayed keys must still come due: log, pause
  // briefly so a persistent failure cannot spin, and carry on.
  for (;;) {
    bool returned = false;
    absl::Status thrown =
        client::CallCatchingExceptions("work queue delay thread", [&] {
          DelayLoopBody();
          returned = true;
        });
    if (returned) return;
    log_.Error("work queue delay thread caught an exception; continuing",
               {{"error", thrown.ToString()}});
    absl::SleepFor(absl::Milliseconds(100));
  }
}

void WorkQueue::DelayLoopBody() {
  absl::MutexLock lock(&mu_);
  while (!shutting_down_) {
    const absl::Time now = clock_->Now();
    while (!waiting_.empty()) {
      const Waiting& top = waiting_.top();
      auto it = waiting_ready_.find(top.key);
      if (it == waiting_ready_.end() || it->second != top.ready) {
        waiting_.pop();  // superseded by an earlier AddAfter, or added
        continue;
      }
      if (top.ready > now) break;
      std::string key = top.key;
      waiting_.pop();
      waiting_ready_.erase(it);
      Priority priority = Priority::kNormal;
      if (auto p = waiting_priority_.find(key); p != waiting_priority_.end()) {
        priority = p->second;
        waiting_priority_.erase(p);
      }
      AddLocked(key, priority);
    }
    const absl::Time next =
        waiting_.empty() ? absl::InfiniteFuture() : waiting_.top().ready;
    const uint64_t generation = waiting_generation_;
    auto changed = [this, generation]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return shutting_down_ || waiting_generation_ != generation;
    };
    clock_->AwaitWithDeadline(&mu_, absl::Condition(&changed), next);
  }
}

}  // namespace zenlead::runtime
