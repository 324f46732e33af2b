// Time for zen-lead's client runtime comes from an injected Clock, so tests
// drive timing with a FakeClock instead of sleeping. A component that waits
// ("retry in 2 s, unless told to stop") waits through its clock on its own
// mutex and condition:
//
//   absl::MutexLock lock(&mu_);
//   // Returns true when stopping_, false when 2 s passed on the clock.
//   bool stopped = clock_->AwaitWithTimeout(
//       &mu_, absl::Condition(&stopping_), absl::Seconds(2));
//
// In production pass RealClock(); in tests a FakeClock, advanced by hand:
//
//   FakeClock clock;
//   Elector elector(&clock);              // waits 2 s on `clock`
//   ASSERT_TRUE(clock.AwaitWaiters(1, absl::Seconds(10)));
//   clock.Advance(absl::Seconds(2));      // the wait above ends now
//
// Compiled in header_examples_test.cc.
#ifndef ZEN_LEAD_API_CLIENT_CLOCK_H_
#define ZEN_LEAD_API_CLIENT_CLOCK_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace zenlead::client {

class Clock {
 public:
  virtual ~Clock() = default;

  virtual absl::Time Now() const = 0;

  // Called with *mu held. Blocks (releasing *mu meanwhile) until `cond` holds
  // or the clock reaches `deadline`; returns whether `cond` holds. *mu is held
  // again on return. `cond` is evaluated with *mu held.
  virtual bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                                 absl::Time deadline) = 0;

  bool AwaitWithTimeout(absl::Mutex* mu, const absl::Condition& cond,
                        absl::Duration timeout) {
    return AwaitWithDeadline(mu, cond, Now() + timeout);
  }

  // Blocks the calling thread until the clock has advanced by `d`.
  void SleepFor(absl::Duration d);
};

// The process-wide wall clock (absl::Now). Never deleted.
Clock* RealClock();

// A clock that moves only when told to. Threads waiting on it wake when
// Advance/SetTime reaches their deadline (or when their condition becomes
// true through their own mutex, as with a real clock).
//
// Advance must not run concurrently with the destruction of an object that
// is waiting on this clock (tests advance and destroy from one thread).
class FakeClock : public Clock {
 public:
  // Starts at an arbitrary fixed instant, not at the epoch, so that code
  // treating absl::UnixEpoch() as "unset" is not fooled.
  FakeClock();
  explicit FakeClock(absl::Time start);

  absl::Time Now() const override;
  bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                         absl::Time deadline) override;

  void Advance(absl::Duration d);
  // Moves the clock to `t` (never backwards: an earlier `t` is ignored).
  void SetTime(absl::Time t);

  // Number of threads currently blocked in AwaitWithDeadline with a finite
  // deadline (waits that only a condition can end are not counted).
  int NumWaiters() const;
  // Blocks until at least `n` threads wait on this clock or `real_timeout`
  // passes (in real time); returns whether `n` was reached. Lets a test
  // advance time only once the code under test is waiting for it.
  bool AwaitWaiters(int n, absl::Duration real_timeout) const;

 private:
  // Locks and unlocks every waiter's mutex so that absl re-evaluates the
  // waiters' conditions against the new time.
  void WakeWaiters();

  // Nanoseconds since the epoch; atomic so that waiters' conditions can read
  // it while holding only their own mutex.
  std::atomic<int64_t> now_ns_;
  mutable absl::Mutex waiters_mu_;
  // One entry per waiting thread (a mutex may appear more than once).
  std::vector<absl::Mutex*> waiters_ ABSL_GUARDED_BY(waiters_mu_);
};

}  // namespace zenlead::client

#endif  // ZEN_LEAD_API_CLIENT_CLOCK_H_
