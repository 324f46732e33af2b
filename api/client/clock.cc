#include "api/client/clock.h"

#include <algorithm>

namespace zenlead::client {
namespace {

class WallClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                         absl::Time deadline) override {
    return mu->AwaitWithDeadline(cond, deadline);
  }
};

}  // namespace

void Clock::SleepFor(absl::Duration d) {
  static const bool kNever = false;
  absl::Mutex mu;
  absl::MutexLock lock(&mu);
  AwaitWithTimeout(&mu, absl::Condition(&kNever), d);
}

Clock* RealClock() {
  static Clock* const clock = new WallClock();
  return clock;
}

FakeClock::FakeClock()
    : FakeClock(absl::FromUnixSeconds(1'700'000'000)) {}  // November 2023

FakeClock::FakeClock(absl::Time start) : now_ns_(absl::ToUnixNanos(start)) {}

absl::Time FakeClock::Now() const {
  return absl::FromUnixNanos(now_ns_.load(std::memory_order_acquire));
}

bool FakeClock::AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                                  absl::Time deadline) {
  if (cond.Eval()) return true;
  const int64_t deadline_ns = absl::ToUnixNanos(deadline);
  auto done = [&]() {
    return cond.Eval() ||
           now_ns_.load(std::memory_order_acquire) >= deadline_ns;
  };
  if (done()) return false;
  if (deadline == absl::InfiniteFuture()) {
    // No time can end this wait: only the condition can.
    mu->Await(cond);
    return true;
  }
  {
    // Lock order: the caller's mutex, then waiters_mu_ (Advance never holds
    // waiters_mu_ while locking a waiter's mutex).
    absl::MutexLock lock(&waiters_mu_);
    waiters_.push_back(mu);
  }
  // Time set by an Advance that ran before the registration above is seen by
  // the first evaluation of `done`; later ones wake us through WakeWaiters.
  mu->Await(absl::Condition(&done));
  {
    absl::MutexLock lock(&waiters_mu_);
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), mu));
  }
  return cond.Eval();
}

void FakeClock::Advance(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return;
  now_ns_.fetch_add(absl::ToInt64Nanoseconds(d), std::memory_order_acq_rel);
  WakeWaiters();
}

void FakeClock::SetTime(absl::Time t) {
  const int64_t ns = absl::ToUnixNanos(t);
  int64_t current = now_ns_.load(std::memory_order_acquire);
  while (current < ns && !now_ns_.compare_exchange_weak(
                             current, ns, std::memory_order_acq_rel)) {
  }
  WakeWaiters();
}

void FakeClock::WakeWaiters() {
  std::vector<absl::Mutex*> mus;
  {
    absl::MutexLock lock(&waiters_mu_);
    mus = waiters_;
  }
  std::sort(mus.begin(), mus.end());
  mus.erase(std::unique(mus.begin(), mus.end()), mus.end());
  for (absl::Mutex* mu : mus) {
    // Releasing a mutex makes absl re-evaluate the conditions of its waiters.
    mu->Lock();
    mu->Unlock();
  }
}

int FakeClock::NumWaiters() const {
  absl::MutexLock lock(&waiters_mu_);
  return static_cast<int>(waiters_.size());
}

bool FakeClock::AwaitWaiters(int n, absl::Duration real_timeout) const {
  absl::MutexLock lock(&waiters_mu_);
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(waiters_mu_) {
    return static_cast<int>(waiters_.size()) >= n;
  };
  return waiters_mu_.AwaitWithTimeout(absl::Condition(&enough), real_timeout);
}

}  // namespace zenlead::client
